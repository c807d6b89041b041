"""harness demo end to end with small settings (--fast): reports exist, the teacher solves something."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_demo_fast(data_dir, tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "cache"), "CI": "1"}
    proc = subprocess.run([sys.executable, "-m", "harness", "demo", "--fast", "--out", str(out), "--data-dir",
                           str(data_dir)], capture_output=True, text=True, env=env, cwd=REPO, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for label in ("original", "distilled"):
        eval_dir = out / f"eval-{label}"
        report = (eval_dir / "report.html").read_text()
        assert "Demonstration models" in report
        summary = json.loads((eval_dir / "summary.json").read_text())
        ds = summary["datasets"]["humaneval+"]
        assert ds["teacher"]["pass@1"]["plus"] > 0
        assert "taxonomy" in ds and "gate" in summary
        assert "metamorphic" in ds or "metamorphic" in summary
        assert (eval_dir / "junit.xml").exists()
    log = [json.loads(x) for x in (out / "models" / "student-akd" / "train_log.jsonl").read_text().splitlines()]
    assert log and all(0.0 <= row["beta"] <= 1.0 for row in log if row.get("beta") is not None)
    assert "report:" in proc.stdout
