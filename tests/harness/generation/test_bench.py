"""The throughput benchmark's smoke mode runs on the CPU and finds identical greedy outputs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "bench_generate.py"


def test_bench_tiny_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_generate", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--tiny", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["greedy_identical_fp32"] is True
    assert result["backend_tok_s"] > 0 and result["plain_tok_s"] > 0 and result["ratio"] > 0
    assert "tok/s" in out


def test_bench_static_cache_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    """The static-cache path (compiled only on CUDA) gives the same greedy tokens."""
    spec = importlib.util.spec_from_file_location("bench_generate", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (
        module.main(["--tiny", "--device", "cpu", "--static-cache", "on", "--n-prompts", "4"]) == 0
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["static_cache"] is True


@pytest.mark.gpu
def test_bench_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    spec = importlib.util.spec_from_file_location("bench_generate", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--tiny", "--device", "cuda"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["static_cache"] is True


@pytest.mark.slow
def test_bench_engines_smoke(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    """``--engine``: the whole samples path, greedy and n-sample modes, one JSON line."""
    spec = importlib.util.spec_from_file_location("bench_generate", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--engine", "transformers", "--data-dir", str(data_dir), "--limit", "3", "--n", "2",
            "--max-new-tokens", "8"]
    assert module.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    runs = result["engines"]["transformers"]
    assert runs["greedy"]["tokens"] > 0 and runs["n2"]["tokens"] > 0 and runs["n2"]["tok_s"] > 0
