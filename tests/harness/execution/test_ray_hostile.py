"""The hostile samples of tests/sandbox/test_hostile.py through ``--backend ray``.

The whole cluster (two nodes in their own network namespace, tests/harness/execution/ray_cluster.py) and
the driver run inside tests/contain.py's PID namespace and memory/pids cgroups, so that even a
broken sandbox on a node cannot reach the test session or CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, read_jsonl
from tests.contain import run_contained
from tests.sandbox.test_hostile import hostile_verdicts, write_hostile_samples

pytestmark = [pytest.mark.ray, pytest.mark.hostile, pytest.mark.slow]


def test_hostile_samples_fail_and_host_is_intact(data_dir, tmp_path):
    pytest.importorskip("ray")
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (CI installs it)")
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        pytest.skip("unshare/nsenter (util-linux) are needed")
    path, names, canary = write_hostile_samples(data_dir, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HARNESS_CACHE_DIR": str(tmp_path / "cache"), "CI": "1"}
    proc = run_contained(
        [sys.executable, "-m", "tests.harness.execution.ray_cluster", "--nodes", "2", "--check-strays", "--",
         sys.executable, "-m", "harness", "execute", "--dataset", "humaneval+", "--samples", str(path),
         "--out", str(tmp_path / "out"), "--data-dir", str(data_dir), "--jobs", "2", "--backend", "ray",
         "--ray-address", "{address}", "--no-progress"], timeout=1500, env=env, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdicts = hostile_verdicts(read_jsonl(tmp_path / "out" / "results.jsonl"), names)
    assert canary.read_text() == "intact"
    assert verdicts["kill_parent"][1] == "SandboxError"
    assert verdicts["segfault"][1] == "SegmentationFault"
    assert verdicts["memory_bomb"][1] == "MemoryError"
    assert verdicts["ignore_signals_and_spin"][1] == "TimeoutError"
    assert verdicts["import_harness_dataset"][1] == "ModuleNotFoundError"
    assert verdicts["import_evalplus_canonical"][1] == "ModuleNotFoundError"
    # the samples ran on both nodes' sandboxes, isolated, and no node was lost to them
    import json

    sandbox = json.loads((tmp_path / "out" / "summary.json").read_text())["sandbox"]
    assert len(sandbox["nodes"]) == 2 and sandbox["isolation"] == "bwrap" and not sandbox["lost_actors"]
    # no stray process: once the cluster stopped, nothing it or a sample started was left in the
    # PID namespace (--check-strays exits 97 naming them), and nothing of the run outside it
    assert "stray processes" not in proc.stderr
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    outside = [ln for ln in ps.splitlines() if str(tmp_path) in ln or "tests.harness.execution.ray_cluster" in ln]
    assert not outside, outside
