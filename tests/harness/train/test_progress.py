"""Training shows progress where a terminal is not: periodic lines with step, loss and ETA."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.harness.train.conftest import MAX_LENGTH, TEMPLATE, Tiny


def _train(tiny: Tiny, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": ""}
    return subprocess.run(
        [sys.executable, "-m", "harness", "train", "--method", "sft", "--student", str(tiny.student),
         "--data", str(tiny.train_json), "--out", str(out), "--template", TEMPLATE, "--max-length",
         str(MAX_LENGTH), "--max-steps", "10", "--batch-size", "4", "--cpu", *extra],
        capture_output=True, text=True, env=env, timeout=600)


def test_progress_lines_when_stderr_is_a_pipe(tiny: Tiny, tmp_path: Path) -> None:
    proc = _train(tiny, tmp_path / "a")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [x for x in proc.stderr.splitlines() if x.startswith("train sft step ")]
    steps = [int(m.group(1)) for x in lines if (m := re.match(r"train sft step (\d+)/10 ", x))]
    assert steps == sorted(steps) and steps[-1] == 10 and len(steps) >= 5, proc.stderr
    assert all(re.search(r", loss \d", x) for x in lines), proc.stderr  # each step with its own loss
    assert re.search(r"train sft step 5/10 \(50%\), .* elapsed, ETA .*, loss \d", proc.stderr), proc.stderr
    quiet = _train(tiny, tmp_path / "b", "--no-progress")
    assert quiet.returncode == 0 and "train sft step" not in quiet.stderr
