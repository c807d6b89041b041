"""Canonical solutions pass 100 % on all four datasets, three runs in a row, one with the other
core kept busy: the verdicts must be the same on a loaded machine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.data.datasets import load_dataset
from harness.execution.execute import ExecuteConfig, execute_samples
from tests.conftest import write_jsonl

pytestmark = pytest.mark.slow

VERDICT_KEYS = ("task_id", "sample_index", "passed", "base_passed", "plus_passed", "error_type")


@pytest.mark.parametrize("name", ["humaneval", "humaneval+", "mbpp", "mbpp+"])
def test_canonical_solutions_pass_three_runs(data_dir, tmp_path, name):
    ds = load_dataset(name, data_dir)
    path = write_jsonl(tmp_path / "canonical.jsonl",
                       ({"task_id": t.task_id, "solution": t.canonical_program} for t in ds.tasks.values()))
    runs = []
    for run in range(3):
        busy = None
        if run == 2:  # keep the other core busy
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            result = execute_samples(ExecuteConfig(name, path, tmp_path / f"run{run}", data_dir=str(data_dir),
                                                   progress=False))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        failed = [(r["task_id"], r["error_type"], r.get("error_message")) for r in result.rows if not r["passed"]]
        assert not failed, f"run {run}: canonical solutions failed: {failed}"
        assert result.summary["pass@1"]["base"] == 1.0
        if ds.has_plus:
            assert result.summary["pass@1"]["plus"] == 1.0
        runs.append([tuple(r[k] for k in VERDICT_KEYS) for r in result.rows])
    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0]) == len(ds)
