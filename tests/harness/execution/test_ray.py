"""``--backend ray`` on a real two-node Ray cluster (tests/harness/execution/ray_cluster.py: one per module).

Verdicts equal the local backend's on canonical solutions and mutants; a node killed mid-run and
a driver killed mid-run change nothing in the results; the samples of the dead node are run
elsewhere, none lost or duplicated.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.data.datasets import load_dataset
from harness.execution.execute import ExecuteConfig, execute_samples
from tests.conftest import REPO, judged, read_jsonl, write_jsonl
from tests.mutants import mutants

pytestmark = pytest.mark.ray

#: Cheap tasks with mutants that pass, fail, raise, loop and time out.
TASKS = {"humaneval+": ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/7", "HumanEval/13", "HumanEval/23"],
         "mbpp+": ["Mbpp/2", "Mbpp/3", "Mbpp/4", "Mbpp/6", "Mbpp/7", "Mbpp/8"]}


def _samples(name: str, data_dir: Path, path: Path) -> Path:
    ds = load_dataset(name, data_dir)
    rows = []
    for tid in TASKS[name]:
        task = ds.tasks[tid]
        rows.append({"task_id": tid, "solution": task.canonical_program})
        rows += [{"task_id": tid, "solution": m} for _, m in mutants(task.canonical_program, task.entry_point, seed=0)]
    return write_jsonl(path, rows)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    pytest.importorskip("ray")
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (CI installs it)")
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        pytest.skip("unshare/nsenter (util-linux) are needed for the cluster's own network namespace")
    from tests.harness.execution.ray_cluster import LoopbackCluster

    with LoopbackCluster(nodes=2, cpus=1) as c:
        yield c


def _argv(name: str, samples: Path, out: Path, data_dir: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "harness", "execute", "--dataset", name, "--samples", str(samples),
            "--out", str(out), "--data-dir", str(data_dir), "--backend", "ray", "--ray-address", address,
            "--no-progress"]


def _env(cluster: Any, cache: Path) -> dict[str, str]:
    return {**cluster.env, "PYTHONPATH": str(REPO), "HARNESS_CACHE_DIR": str(cache), "CI": "1"}


@pytest.fixture(scope="module")
def undisturbed(cluster, data_dir, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Each dataset's samples through the ray backend (reference runs on the cluster, cold
    cache): name -> (samples file, output directory)."""
    runs = {}
    for name in TASKS:
        tmp = tmp_path_factory.mktemp(name.replace("+", "plus"))
        samples = _samples(name, data_dir, tmp / "samples.jsonl")
        proc = cluster.run(_argv(name, samples, tmp / "ray", data_dir, cluster.address),
                           env=_env(cluster, tmp / "cache"), timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[name] = (samples, tmp / "ray")
    return runs


def _partial_rows(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]
    except (OSError, ValueError):
        return []


def _wait_for_rows(proc: subprocess.Popen[str], partial: Path, n: int, timeout: float = 600) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _partial_rows(partial)
        if len(rows) >= n:
            return rows
        assert proc.poll() is None, f"the run ended before {n} rows: {proc.communicate()[1][-3000:]}"
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} rows after {timeout} s")


# ----------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("name", list(TASKS))
def test_verdicts_equal_local_backend(undisturbed, data_dir, tmp_path, name):
    samples, ray_out = undisturbed[name]
    local = execute_samples(ExecuteConfig(name, samples, tmp_path / "local", backend="local", jobs=2,
                                          data_dir=str(data_dir), progress=False))
    ray_rows = read_jsonl(ray_out / "results.jsonl")
    assert len(ray_rows) == len(local.rows) == len(read_jsonl(samples)) > 30
    diffs = [(a, b) for a, b in zip(judged(local.rows), judged(ray_rows), strict=True) if a != b]
    assert not diffs, diffs[:3]
    kinds = {r["error_type"] for r in ray_rows}
    assert None in kinds and "AssertionError" in kinds and "TimeoutError" in kinds, kinds
    summary = json.loads((ray_out / "summary.json").read_text())
    sandbox = summary["sandbox"]
    assert sandbox["backend"] == "ray" and sandbox["isolation"] == "bwrap"
    assert len(sandbox["nodes"]) == 2 and sandbox["jobs"] == 2 and not sandbox["lost_actors"]
    assert summary["pass@1"] == local.summary["pass@1"]


@pytest.mark.parametrize("args, code, message", [
    (["--ray-address", "127.0.0.1:1"], 2, "--ray-address needs --backend ray"),
    (["--backend", "ray", "--ray-address", "nowhere"], 2, "expected HOST:PORT"),
    (["--backend", "ray", "--ray-address", "127.0.0.1:1"], 3, "cannot reach the Ray cluster at 127.0.0.1:1"),
])
def test_ray_address_errors(data_dir, tmp_path, args, code, message):
    """Bad options: exit 2; a cluster nobody listens for: exit 3 at once (Ray alone retries for minutes)."""
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "solution": "x = 1"}])
    proc = subprocess.run([sys.executable, "-m", "harness", "execute", "--dataset", "humaneval+", "--samples",
                           str(samples), "--out", str(tmp_path / "o"), "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == code and message in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- faults


def test_driver_killed_mid_run_resumes(cluster, undisturbed, data_dir, tmp_path):
    """SIGKILL the driver after some rows: the rerun keeps them (same timings) and runs the rest."""
    name = "humaneval+"
    samples, ray_out = undisturbed[name]
    out = tmp_path / "out"
    env = _env(cluster, tmp_path / "cache")
    proc = cluster.popen(_argv(name, samples, out, data_dir, cluster.address), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        kept = _wait_for_rows(proc, out / "results.partial.jsonl", 5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    kept = _partial_rows(out / "results.partial.jsonl")
    assert 5 <= len(kept) < len(read_jsonl(samples)), "the driver should die mid-run"
    rerun = cluster.run(_argv(name, samples, out, data_dir, cluster.address), env=env, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    rows = read_jsonl(out / "results.jsonl")
    assert judged(rows) == judged(read_jsonl(ray_out / "results.jsonl"))
    for row in kept:  # not run again: the very row written before the kill
        pos = row.pop("_pos")
        assert rows[pos] == row


def test_node_killed_mid_run_changes_nothing(cluster, undisturbed, data_dir, tmp_path):
    """SIGKILL every process of the worker node mid-run: the run completes on the head node with
    the undisturbed run's results (runs last: the module's cluster keeps one node)."""
    name = "mbpp+"
    samples, ray_out = undisturbed[name]
    out = tmp_path / "out"
    proc = cluster.popen(_argv(name, samples, out, data_dir, cluster.address), env=_env(cluster, tmp_path / "cache"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        before = _wait_for_rows(proc, out / "results.partial.jsonl", 3)
        killed = cluster.kill_node(1)
        _, stderr = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert len(before) < len(read_jsonl(samples)), "the node should die mid-run"
    rows = read_jsonl(out / "results.jsonl")
    assert len(rows) == len(read_jsonl(samples))
    assert judged(rows) == judged(read_jsonl(ray_out / "results.jsonl"))
    sandbox = json.loads((out / "summary.json").read_text())["sandbox"]
    assert sandbox["lost_actors"], "the worker node's actor should be reported lost"
    assert all(not Path(f"/proc/{pid}").exists() for pid in killed)
    # nothing the dead node's sandbox ran survives it (its runners' uids derive from the actor's pid)
    from sandbox.local import UID_BASE

    uids = {UID_BASE + (pid % 500) * 8 + i for pid in killed for i in range(8)}
    strays: list[str] = []
    for _ in range(100):
        ps = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
        strays = [ln for ln in ps.splitlines() if ln.split() and int(ln.split()[0]) in uids]
        if not strays:
            break
        time.sleep(0.1)
    assert not strays, strays
