"""Data-parallel generation: two processes write the same file as one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        CUDA_VISIBLE_DEVICES="",
    )
    return env


@pytest.mark.slow
def test_two_processes_match_one(
    tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path
) -> None:
    if shutil.which("accelerate") is None:
        pytest.skip("accelerate launcher not installed")
    args = [
        "--model",
        str(tiny_models["gpt_bigcode"]),
        "--dataset",
        "humaneval",
        "--data-dir",
        str(data_dir),
        "--limit",
        "7",
        "--max-new-tokens",
        "10",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--quiet",
    ]
    single = tmp_path / "single.jsonl"
    assert main(["generate", *args, "--out", str(single)]) == 0

    double = tmp_path / "double.jsonl"
    cmd = [
        "accelerate",
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        "-m",
        "harness",
        "generate",
        *args,
        "--out",
        str(double),
    ]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert double.read_text() == single.read_text()
    assert not list(tmp_path.glob("double.jsonl.rank*"))  # shards merged and removed
