"""``harness generate`` checks the model before it touches the dataset: a model path that does
not exist is one line and exit 2, not a dataset download ending in a network error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_missing_model_fails_before_the_dataset_is_loaded(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DATA_DIR"}
    env.update(PYTHONPATH=str(REPO), HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "generate", "--model", "/nonexistent/model", "--dataset", "humaneval+",
         "--out", str(tmp_path / "s.jsonl")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "harness generate: error: model directory not found: /nonexistent/model"]
    assert not (tmp_path / "cache" / "evalplus").exists()  # no dataset download was attempted


def test_no_carriage_return_bars_in_a_log(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    """Output to a pipe: no 'Loading weights' bars redrawn with carriage returns."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "generate", "--model", str(tiny_models["gpt2"]), "--dataset",
         "humaneval+", "--data-dir", str(data_dir), "--limit", "1", "--max-new-tokens", "4", "--device", "cpu",
         "--out", str(tmp_path / "s.jsonl")],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "Loading weights" not in proc.stderr, proc.stderr
