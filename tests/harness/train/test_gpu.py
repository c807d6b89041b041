"""CUDA checks: bf16 logits, autocast and the benchmark's tiny mode on a GPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

BENCH = Path(__file__).resolve().parents[3] / "bench" / "bench_train.py"


def _bench():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("bench_train", BENCH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fused_loss_bf16_on_cuda_matches_float64() -> None:
    from harness.train.losses import distill_loss, naive_distill_loss

    g = torch.Generator(device="cuda").manual_seed(0)
    zs = (torch.randn(300, 4096, device="cuda", generator=g) * 3).bfloat16()
    zt = (torch.randn(300, 4096, device="cuda", generator=g) * 3).bfloat16()
    rows = torch.arange(300, device="cuda") // 100
    a = zs.double().requires_grad_()
    ref = naive_distill_loss(a, zt.double(), rows, 3, 0.4)
    ref.backward()
    b = zs.clone().requires_grad_()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = distill_loss(b, zt, rows, 3, 0.4, chunk_size=64)
    out.loss.backward()
    torch.testing.assert_close(out.loss.double(), ref.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(b.grad.double(), a.grad, rtol=2e-2, atol=1e-6)


def test_loss_computer_under_autocast_matches_naive() -> None:
    from harness.train.methods import resolve_method
    from harness.train.trainer import LossComputer

    mod = _bench()
    args = mod.parse_args(["--device", "cuda", "--tiny", "--student-dtype", "fp32"])
    student, teacher = mod.build_models(args)
    student.eval()
    batch = mod.make_batch(student.config.vocab_size, 4, 64, 8, torch.device("cuda"))
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss, stats = LossComputer(resolve_method("akd"), teacher, 1.0, 32)(student, batch, 0.6)
        ref = mod.naive_loss(student, teacher, batch, 0.6)
    loss.backward()
    assert torch.isfinite(loss) and stats[2].item() == 4
    torch.testing.assert_close(loss.float(), ref.float(), rtol=2e-2, atol=1e-4)
    assert all(torch.isfinite(p.grad).all() for p in student.parameters() if p.grad is not None)


def test_bench_tiny_on_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench().main(["--device", "cuda", "--tiny", "--steps", "2"]) == 0
    assert "trainer  AKD/KD step time" in capsys.readouterr().out
