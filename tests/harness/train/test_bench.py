"""The training benchmark's CPU smoke mode (the real run needs a GPU)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

BENCH = Path(__file__).resolve().parents[3] / "bench" / "bench_train.py"


@pytest.mark.slow
def test_bench_smoke_cpu_tiny(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_train", BENCH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rc = mod.main(["--device", "cpu", "--tiny", "--steps", "1", "--warmup", "1",
                   "--seq-len", "32", "--chunk-size", "16"])
    out = capsys.readouterr().out
    assert rc == 0
    for impl in ("trainer", "naive"):
        for method in ("kd", "akd"):
            assert any(line.startswith(f"{impl:8s} {method:5s} step") for line in out.splitlines())
        assert f"{impl:8s} AKD/KD step time" in out
    assert "trainer/naive akd" in out


def test_bench_losses_agree() -> None:
    """The trainer's loss and the naive one are the same number on the same batch."""
    import torch

    spec = importlib.util.spec_from_file_location("bench_train", BENCH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from harness.train.methods import resolve_method
    from harness.train.trainer import LossComputer

    args = mod.parse_args(["--device", "cpu", "--tiny", "--teacher-dtype", "fp32"])
    student, teacher = mod.build_models(args)
    student.eval()  # no dropout: both losses see the same logits
    batch = mod.make_batch(student.config.vocab_size, 2, 24, 4, torch.device("cpu"))
    loss, _ = LossComputer(resolve_method("fixed:0.4"), teacher, 1.0, 8)(student, batch, 0.4)
    ref = mod.naive_loss(student, teacher, batch, 0.4)
    torch.testing.assert_close(loss.float(), ref.float(), rtol=1e-4, atol=1e-6)
