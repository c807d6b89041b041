"""The loss math against float64 references and plain autograd."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from harness.train.losses import (  # noqa: E402
    akd_token_loss,
    beta_regulariser,
    distill_loss,
    kl_rkl,
    naive_distill_loss,
    naive_kl_rkl,
)
from harness.train.trainer import response_positions  # noqa: E402


def _logits(n: int = 12, v: int = 50, seed: int = 0, scale: float = 3.0) -> tuple:
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(n, v, generator=g) * scale
    zt = torch.randn(n, v, generator=g) * scale
    return zs, zt


def _direct64(zs: torch.Tensor, zt: torch.Tensor, temperature: float) -> tuple:
    """KL and RKL written out from the definition, in float64."""
    p = torch.softmax(zt.double() / temperature, -1)
    q = torch.softmax(zs.double() / temperature, -1)
    kl = (p * (p.log() - q.log())).sum(-1)
    rkl = (q * (q.log() - p.log())).sum(-1)
    return kl, rkl


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
def test_shared_pass_matches_float64(temperature: float) -> None:
    zs, zt = _logits()
    kl_ref, rkl_ref = _direct64(zs, zt, temperature)
    kl, rkl = kl_rkl(zs, zt, temperature)
    assert kl.dtype == torch.float32
    torch.testing.assert_close(kl.double(), kl_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rkl.double(), rkl_ref, rtol=1e-5, atol=1e-6)
    w = torch.ones(zs.shape[0])
    out = akd_token_loss(zs, zt, w, w, temperature, chunk_size=5)
    torch.testing.assert_close(out.kl.double(), kl_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.rkl.double(), rkl_ref, rtol=1e-5, atol=1e-6)
    kl_n, rkl_n = naive_kl_rkl(zs, zt, temperature)
    torch.testing.assert_close(kl_n.double(), kl_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rkl_n.double(), rkl_ref, rtol=1e-5, atol=1e-6)


def test_bf16_logits_are_computed_in_fp32() -> None:
    zs, zt = _logits()
    zs16, zt16 = zs.bfloat16(), zt.bfloat16()
    kl_ref, rkl_ref = _direct64(zs16.float(), zt16.float(), 1.0)  # same rounded inputs
    w = torch.ones(zs.shape[0])
    out = akd_token_loss(zs16.requires_grad_(), zt16, w, w, 1.0, 4)
    assert out.kl.dtype == torch.float32
    torch.testing.assert_close(out.kl.double(), kl_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.rkl.double(), rkl_ref, rtol=1e-5, atol=1e-5)
    out.loss.backward()
    assert zs16.grad is not None and zs16.grad.dtype == torch.bfloat16


def _batch(n_samples: int = 3, v: int = 40, seed: int = 1) -> tuple:
    rows = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2, 2, 2])  # lengths 5, 2, 3
    zs, zt = _logits(len(rows), v, seed)
    return zs, zt, rows, n_samples


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 1.7])
def test_student_gradient_matches_naive_autograd(beta: float, temperature: float) -> None:
    zs, zt, rows, n = _batch()
    a = zs.clone().double().requires_grad_()
    ref = naive_distill_loss(a, zt.double(), rows, n, beta, temperature)
    ref.backward()
    b = zs.clone().double().requires_grad_()
    out = distill_loss(b, zt.double(), rows, n, beta, temperature, chunk_size=3)
    (out.loss * 2.5).backward()  # an upstream scale (grad accumulation) must pass through
    torch.testing.assert_close(out.loss, ref.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(b.grad, 2.5 * a.grad, rtol=1e-8, atol=1e-12)
    # fp32 inputs agree with the float64 reference to fp32 precision
    c = zs.clone().requires_grad_()
    out32 = distill_loss(c, zt, rows, n, beta, temperature, chunk_size=4)
    out32.loss.backward()
    torch.testing.assert_close(c.grad.double(), a.grad, rtol=1e-4, atol=1e-6)


def test_per_sample_normalisation() -> None:
    zs, zt, rows, n = _batch()
    beta = 0.25
    kl, rkl = _direct64(zs, zt, 1.0)
    per_tok = beta * rkl + (1 - beta) * kl
    expected = torch.stack([per_tok[rows == i].sum() / (rows == i).sum() for i in range(n)]).mean()
    out = distill_loss(zs, zt, rows, n, beta)
    torch.testing.assert_close(out.loss.double(), expected, rtol=1e-5, atol=1e-7)


def test_dloss_dbeta_is_rkl_minus_kl() -> None:
    zs, zt, rows, n = _batch()
    beta = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    loss = naive_distill_loss(zs.double(), zt.double(), rows, n, beta)
    (grad,) = torch.autograd.grad(loss, beta)
    out = distill_loss(zs, zt, rows, n, 0.4)
    torch.testing.assert_close(out.beta_grad.double(), grad, rtol=1e-5, atol=1e-7)
    # and it is the batch mean over samples of (RKL - KL)
    torch.testing.assert_close(out.beta_grad, (out.rkl - out.kl).mean())


def test_chunked_equals_unchunked() -> None:
    zs, zt, rows, n = _batch(v=64, seed=3)
    results = []
    for chunk in (0, 1, 3, 7, 10, 1000):
        x = zs.clone().requires_grad_()
        out = distill_loss(x, zt, rows, n, 0.6, 1.3, chunk_size=chunk)
        out.loss.backward()
        results.append((out.loss.detach(), out.kl, out.rkl, x.grad))
    for r in results[1:]:
        for got, want in zip(r, results[0], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-8)


def test_teacher_gets_no_gradient_and_inf_logits_are_safe() -> None:
    zs, zt = _logits(4, 10)
    zt = zt.clone()
    zt[:, 3] = float("-inf")  # a masked vocabulary entry
    zt.requires_grad_()
    x = zs.clone().requires_grad_()
    w = torch.ones(4)
    out = akd_token_loss(x, zt, w, w)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert torch.isfinite(x.grad).all()
    assert zt.grad is None


def test_prompt_and_padding_are_masked_with_pad_equal_eos() -> None:
    eos = 0  # pad = eos
    # row 0: prompt 5 6, response 7 8 eos, then 2 pads (also eos); row 1: prompt 5 9 9,
    # response 9 9 9 eos, no padding
    attention = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
    labels = torch.tensor(
        [[-100, -100, 7, 8, eos, -100, -100], [-100, -100, -100, 9, 9, 9, eos]]
    )
    pred, targets, rows = response_positions(labels, attention)
    # logits at t predict token t + 1: row 0 uses positions 1, 2, 3; row 1 positions 2..5
    assert pred.tolist() == [
        [False, True, True, True, False, False, False],
        [False, False, True, True, True, True, False],
    ]
    assert targets.tolist() == [7, 8, eos, 9, 9, 9, eos]
    assert rows.tolist() == [0, 0, 0, 1, 1, 1, 1]
    # even a label left on a padded position is ignored: padding is decided by attention mask
    labels_bad = labels.clone()
    labels_bad[0, 5] = eos
    pred2, targets2, _ = response_positions(labels_bad, attention)
    assert torch.equal(pred2, pred) and torch.equal(targets2, targets)


def test_loss_ignores_masked_positions() -> None:
    """Changing logits at prompt/pad positions changes neither the loss nor its gradient."""
    from harness.core.registry import METHODS
    from harness.train.trainer import LossComputer

    torch.manual_seed(0)
    v = 11

    class Toy(torch.nn.Module):
        def __init__(self, table: torch.Tensor) -> None:
            super().__init__()
            self.table = torch.nn.Parameter(table)

        def forward(self, input_ids, attention_mask=None, use_cache=False):  # noqa: ANN001
            from types import SimpleNamespace

            return SimpleNamespace(logits=self.table[: input_ids.shape[0], : input_ids.shape[1]])

    input_ids = torch.tensor([[1, 2, 3, 4, 0, 0], [1, 2, 3, 4, 5, 0]])
    attention = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
    labels = torch.tensor([[-100, -100, 3, 4, 0, -100], [-100, -100, -100, 4, 5, 0]])
    batch = {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
    base_s = torch.randn(2, 6, v)
    base_t = torch.randn(2, 6, v)
    pred, _, _ = response_positions(labels, attention)
    results = []
    for noise in (0.0, 5.0):
        s = base_s.clone()
        t = base_t.clone()
        s[~pred] += noise * torch.randn_like(s[~pred])
        t[~pred] += noise * torch.randn_like(t[~pred])
        student, teacher = Toy(s), Toy(t)
        comp = LossComputer(METHODS["akd"], teacher, 1.0, chunk_size=2)
        loss, _ = comp(student, batch, 0.3)
        loss.backward()
        results.append((loss.detach(), student.table.grad[pred]))
        assert torch.count_nonzero(student.table.grad[~pred]) == 0
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


def test_regulariser_values_and_gradient() -> None:
    lam, eps = 0.5, 1e-4
    for b in (0.1, 0.3, 0.6, 0.9):
        beta = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        reg = beta_regulariser(beta, lam, eps)
        a = 2 * abs(b - 0.5)
        expected = lam * (-torch.log(torch.tensor(eps + a)) - torch.log(torch.tensor(eps + 1 - a)))
        torch.testing.assert_close(reg.detach(), expected.double())
        (g,) = torch.autograd.grad(reg, beta)
        sign = 1.0 if b > 0.5 else -1.0
        expected_g = lam * (-2 * sign / (eps + a) + 2 * sign / (eps + 1 - a))
        assert g.item() == pytest.approx(expected_g, rel=1e-9)


@pytest.mark.parametrize("arch", ["gpt2", "gpt_bigcode"])
def test_response_logits_match_full_logits(arch: str) -> None:
    """logits_to_keep=<bool mask> yields exactly the full logits at the response positions."""
    transformers = pytest.importorskip("transformers")
    from harness.core.registry import METHODS
    from harness.train.trainer import LossComputer

    cfg_cls = transformers.GPT2Config if arch == "gpt2" else transformers.GPTBigCodeConfig
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(
        cfg_cls(vocab_size=97, n_layer=1, n_embd=16, n_head=2, n_positions=32)
    ).eval()
    ids = torch.randint(0, 97, (3, 12))
    attention = torch.ones_like(ids)
    attention[1, 9:] = 0
    labels = ids.clone()
    labels[:, :4] = -100
    labels[attention == 0] = -100
    pred, targets, _ = response_positions(labels, attention)
    comp = LossComputer(METHODS["sft"])
    with torch.no_grad():
        got = comp.response_logits(model, ids, attention, pred, targets.numel())
        full = model(input_ids=ids, attention_mask=attention).logits[pred]
    assert comp._keep_ok[id(model)] is True  # the cheap path was taken
    torch.testing.assert_close(got, full, rtol=1e-5, atol=1e-6)
