"""Resuming (beta and its optimizer state restored) and 2-process training (beta identical)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.train.conftest import MAX_LENGTH, TEMPLATE, Tiny

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_resume_restores_beta_and_its_optimizer(tiny: Tiny, teacher: Path, tmp_path: Path) -> None:
    from harness.train import TrainConfig, train

    # 24 records / batch 4 = 6 steps per epoch: N = 4 resumes mid-epoch and the resumed part
    # crosses the epoch boundary (step 6), where beta is re-drawn.
    def cfg(out: Path, steps: int, resume: bool = False) -> TrainConfig:
        return TrainConfig(
            method="akd", student=str(tiny.student), teacher=str(teacher),
            data=str(tiny.train_json), out=str(out), template=TEMPLATE, max_length=MAX_LENGTH,
            max_steps=steps, batch_size=4, lr=3e-3, lr_scheduler="constant", save_steps=4,
            progress=False, device="cpu", resume=resume,
        )

    full = tmp_path / "full"
    train(cfg(full, 8))
    part = tmp_path / "part"
    first = train(cfg(part, 4))
    assert first.global_step == 4
    state4 = torch.load(part / "checkpoint-4" / "beta_state.pt", weights_only=True)
    assert state4["optimizer"]["state"], "beta optimizer state is saved"
    resumed = train(cfg(part, 8, resume=True))
    assert resumed.global_step == 8

    log_full, log_part = _log(full), _log(part)
    assert [r["step"] for r in log_part] == list(range(1, 9))  # nothing lost or duplicated
    for a, b in zip(log_full, log_part, strict=True):
        assert a["beta"] == pytest.approx(b["beta"], abs=1e-9), a["step"]
        assert a["beta_grad"] == pytest.approx(b["beta_grad"], rel=1e-4, abs=1e-6), a["step"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-6), a["step"]
    s_full = torch.load(full / "checkpoint-8" / "beta_state.pt", weights_only=True)
    s_part = torch.load(part / "checkpoint-8" / "beta_state.pt", weights_only=True)
    assert s_full["beta"] == pytest.approx(s_part["beta"], abs=1e-9)
    assert s_full["epoch"] == s_part["epoch"] == 1
    st_full = s_full["optimizer"]["state"][0]
    st_part = s_part["optimizer"]["state"][0]
    for key in ("step", "exp_avg", "exp_avg_sq"):
        torch.testing.assert_close(st_full[key], st_part[key], rtol=1e-4, atol=1e-9)


def test_resume_without_checkpoint_is_a_usage_error(tmp_path: Path) -> None:
    from harness.cli import main

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n")
    rc = main(["train", "--method", "sft", "--student", str(tmp_path), "--data", str(data),
               "--out", str(tmp_path / "o"), "--resume"])
    assert rc == 2


def _free_port() -> int:
    """A port nothing listens on now (a fixed one can still be held by an earlier run)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_keep_beta_identical(tiny: Tiny, teacher: Path, tmp_path: Path) -> None:
    if shutil.which("accelerate") is None:
        pytest.skip("accelerate CLI not installed")
    out = tmp_path / "dist"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    # accelerate 1.x's `--cpu` launcher starts one process unless mpirun is present; its
    # torchrun launcher (--multi_gpu) starts two, and `harness train --cpu` makes them gloo/CPU.
    cmd = [
        "accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        "-m", "harness", "train", "--cpu", "--method", "akd", "--student", str(tiny.student),
        "--teacher", str(teacher), "--data", str(tiny.train_json), "--out", str(out),
        "--template", TEMPLATE, "--max-length", str(MAX_LENGTH), "--max-steps", "3",
        "--batch-size", "2", "--lr", "1e-3", "--no-progress",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    traces = [
        [json.loads(x) for x in (out / f"beta_trace.rank{r}.jsonl").read_text().splitlines()]
        for r in (0, 1)
    ]
    assert len(traces[0]) == 3
    assert traces[0] == traces[1]  # bit-identical beta, gradient and next beta on both ranks
    log = _log(out)
    assert [r["beta"] for r in log] == [t["beta"] for t in traces[0]]
    assert log[-1]["beta_next"] == traces[0][-1]["beta_next"]
    assert (out / "config.json").is_file()
