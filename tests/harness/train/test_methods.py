"""The methods registry and the beta controller (no models needed)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from harness.core.errors import UsageError  # noqa: E402
from harness.core.registry import METHODS  # noqa: E402
from harness.train.methods import resolve_method  # noqa: E402
from harness.train.trainer import BetaController  # noqa: E402


def test_registry() -> None:
    assert {"sft", "seqkd", "kd", "rkd", "akd", "m1", "m2", "m3"} <= set(METHODS)
    assert resolve_method("kd").beta == 0.0 and resolve_method("rkd").beta == 1.0
    assert resolve_method("AKD").learned_beta and resolve_method("m3").learned_beta
    assert resolve_method("m1").beta_sign == 1.0 and resolve_method("akd").beta_sign == -1.0
    assert not resolve_method("m2").reset_each_epoch
    assert resolve_method("fixed:0.25").beta == 0.25
    assert not resolve_method("sft").needs_teacher and resolve_method("seqkd").seqkd
    for bad in ("nope", "fixed:2", "fixed:x", "fixed:-0.1"):
        with pytest.raises(UsageError):
            resolve_method(bad)


def test_fixed_beta_never_moves() -> None:
    c = BetaController(resolve_method("fixed:0.3"))
    c.begin_epoch(0)
    assert c.update(5.0) == 0.0
    assert c.value == 0.3


def test_akd_update_direction_clamp_and_epoch_reset() -> None:
    c = BetaController(resolve_method("akd"), seed=3)
    c.begin_epoch(0)
    start = c.value
    assert start in (0.1, 0.6)
    # loss_beta = -loss + reg: a large positive d loss / d beta (RKL > KL) raises beta
    expected = c.gradient(100.0)
    assert c.update(100.0) == pytest.approx(expected)  # returns the gradient it used
    assert expected < 0 and c.value > start
    for _ in range(200):
        c.update(1e6)  # beats reg's pull back from the end (at most lam * 2 / eps)
    assert c.value == 1.0  # clamped
    assert c.optimizer.state  # AdamW has state now
    c.begin_epoch(0)  # same epoch: nothing happens
    assert c.value == 1.0
    c.begin_epoch(1)
    assert c.value == c.draw(1) and not c.optimizer.state  # re-drawn, optimizer reset


def test_m1_moves_the_other_way() -> None:
    a = BetaController(resolve_method("akd"), seed=0)
    m1 = BetaController(resolve_method("m1"), seed=0)
    for c in (a, m1):
        c.begin_epoch(0)
        c.set_value(0.8)
    a.update(50.0)
    m1.update(50.0)
    assert a.value > 0.8 > m1.value


def test_gradient_includes_regulariser() -> None:
    c = BetaController(resolve_method("akd"))
    c.set_value(0.6)
    lam, eps = 0.5, 1e-4
    reg_grad = lam * (-2 / (eps + 0.2) + 2 / (eps + 0.8))
    assert c.gradient(0.7) == pytest.approx(-0.7 + reg_grad, rel=1e-6)


def test_m2_draws_once() -> None:
    c = BetaController(resolve_method("m2"), seed=1)
    c.begin_epoch(0)
    c.update(10.0)
    moved = c.value
    c.begin_epoch(1)
    assert c.value == moved and c.optimizer.state


def test_state_dict_round_trip(tmp_path) -> None:  # noqa: ANN001
    c = BetaController(resolve_method("akd"), seed=5)
    c.begin_epoch(2)
    for g in (0.3, -0.2, 0.5):
        c.update(g)
    c.save(tmp_path)
    d = BetaController(resolve_method("akd"), seed=5)
    assert d.load(tmp_path)
    assert d.value == c.value and d.epoch == 2 and d.updates == 3
    d.begin_epoch(2)  # resumed mid-epoch: no re-draw
    assert d.value == c.value
    c.update(0.1)
    d.update(0.1)
    assert d.value == c.value
    assert not BetaController(resolve_method("akd")).load(tmp_path / "missing")
