"""Ray backend: one node vs the local backend, the driver's ceiling, and per-sample costs.

1. ``--backend ray`` on a one-node cluster (already running, as a user's would be; the driver's
   connection and the node's actor start are timed) vs ``--backend local``, on the same samples
   (HumanEval+ canonical solutions plus their mutants), the same runners, reference cache warmed
   before either: both wall times, the ratio (goal <= 1.2) and whether the results agree.
2. The driver's ceiling: ``execute_samples`` with the ray backend whose node replays finished rows
   of run 1 as fast as the driver takes them (``REPLICAS`` x the samples): samples per second
   (goal >= 1,000). Everything the driver does per sample is in it: reading the samples file,
   handing out chunks, receiving rows, writing results.partial.jsonl, results.jsonl and the summary.
3. Per-sample costs for docs/scale.md: judging one raw result (what a judging driver would pay),
   writing one row, and a node's CPU per sample (wall x runners / samples of the local run).

The cluster is started here in its own network namespace, on loopback only (tests/harness/execution/ray_cluster.py).

    python bench/bench_ray.py [--jobs N] [--limit K] [--replicas R] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _samples(data_dir: Path, limit: int | None, out: Path, replicas: int = 1) -> int:
    from harness.data.datasets import load_dataset
    from tests.mutants import mutants

    ds = load_dataset("humaneval+", data_dir)
    lines = []
    for tid in list(ds.tasks)[:limit]:
        task = ds.tasks[tid]
        programs = [task.canonical_program] + [m for _, m in mutants(task.canonical_program, task.entry_point, seed=0)]
        lines += [json.dumps({"task_id": tid, "solution": p}) + "\n" for p in programs]
    out.write_text("".join(lines) * replicas)
    return len(lines) * replicas


def _rows(path: Path) -> list[dict[str, Any]]:
    from tests.conftest import judged

    return judged([json.loads(x) for x in path.read_text().splitlines() if x.strip()])


def _cli(prefix: list[str], backend: str, samples: Path, out: Path, data_dir: Path, jobs: int, env: dict[str, str],
         extra: list[str] = ()) -> float:  # type: ignore[assignment]
    t0 = time.perf_counter()
    subprocess.run([*prefix, sys.executable, "-m", "harness", "execute", "--dataset", "humaneval+", "--samples",
                    str(samples), "--out", str(out), "--data-dir", str(data_dir), "--jobs", str(jobs), "--backend",
                    backend, "--no-progress", *extra], env=env, check=True, stdout=subprocess.DEVNULL, cwd=str(REPO))
    return time.perf_counter() - t0


# The driver's ceiling: a node that replays finished rows (run in the cluster's namespace).
_CEILING = r'''
import json, sys, time
sys.path.insert(0, {repo!r})
from harness.execution.execute import ExecuteConfig, execute_samples
from harness.execution.ray_backend import BATCH_ROWS, NodeExecutor, RayBackend

ROWS = [json.loads(x) for x in open({rows!r}).read().splitlines() if x.strip()]

class ReplayNode(NodeExecutor):
    """Finished rows of a real run, as fast as the driver takes them."""
    def judge(self, context, samples):
        for i in range(0, len(samples), BATCH_ROWS):
            yield [(s.position, ROWS[s.position % len(ROWS)]) for s in samples[i:i + BATCH_ROWS]]

backend = RayBackend(jobs={jobs}, address={address!r}, node_class=ReplayNode)
try:
    t0 = time.perf_counter()
    res = execute_samples(ExecuteConfig("humaneval+", {samples!r}, {out!r}, backend="ray", data_dir={data_dir!r},
                                        progress=False), backend=backend)
    print(json.dumps({{"n": len(res.rows), "s": time.perf_counter() - t0}}))
finally:
    backend.close()
'''


def _costs(data_dir: Path, samples: Path, jobs: int) -> dict[str, float]:
    """Per-sample driver costs: judging a raw result, writing a row (CPU seconds)."""
    from harness.data.datasets import load_dataset
    from harness.data.samples import read_samples
    from harness.execution.execute import Judge, _make_row, build_job
    from harness.execution.expected import compute_expected
    from sandbox.local import LocalBackend

    ds = load_dataset("humaneval+", data_dir)
    todo = read_samples(samples, ds)
    with LocalBackend(jobs=jobs) as backend:
        oracles = compute_expected(ds, backend, task_ids=sorted({s.task_id for s in todo}))
        by_pos = {s.position: s for s in todo}
        t0 = time.process_time()  # this process only: reading and decoding the runners' frames
        raw = [(by_pos[job.id], result) for job, result in backend.run(
            [build_job(ds, ds.tasks[s.task_id], oracles[s.task_id], s, backend.limits) for s in todo])]
        receive = (time.process_time() - t0) / len(raw)
    t0 = time.process_time()
    rows = []
    for s, r in raw:
        task = ds.tasks[s.task_id]
        judge_ = Judge(task, oracles[s.task_id], ds.has_plus)
        judge_.feed(r.events)
        rows.append(_make_row(s, task, judge_.verdict(r), r))
    judge = (time.process_time() - t0) / len(rows)
    with tempfile.TemporaryFile("w") as fh:
        t0 = time.process_time()
        for _ in range(5):
            for s, row in zip(todo, rows, strict=True):
                fh.write(json.dumps({"_pos": s.position, **row}) + "\n")
                fh.flush()
        write = (time.process_time() - t0) / (5 * len(rows))
    return {"receive_s": receive, "judge_s": judge, "write_s": write}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="runners (the node's CPUs)")
    parser.add_argument("--limit", type=int, default=40, help="first K HumanEval+ tasks")
    parser.add_argument("--replicas", type=int, default=100, help="copies of the samples for the ceiling run")
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR", str(REPO.parent / "shared" / "data")))
    args = parser.parse_args()
    from tests.harness.execution.ray_cluster import LoopbackCluster

    data_dir = Path(args.data_dir)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        samples = tmp / "samples.jsonl"
        n = _samples(data_dir, args.limit, samples)
        env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp / "cache"), "CI": "1", "RAY_USAGE_STATS_ENABLED": "0",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        warm = tmp / "warm.jsonl"
        warm.write_text(samples.read_text())
        _cli([], "local", warm, tmp / "warm", data_dir, args.jobs, env)  # reference cache for every task
        with LoopbackCluster(nodes=1, cpus=args.jobs) as cluster:
            prefix = cluster.prefix()
            local = _cli(prefix, "local", samples, tmp / "local", data_dir, args.jobs, env)
            ray = _cli(prefix, "ray", samples, tmp / "ray", data_dir, args.jobs, env, ["--ray-address", cluster.address])
            a, b = _rows(tmp / "local" / "results.jsonl"), _rows(tmp / "ray" / "results.jsonl")
            same = a == b
            for x, y in [(x, y) for x, y in zip(a, b, strict=True) if x != y][:5]:
                print(f"differs: local {x}\n         ray   {y}", file=sys.stderr)
            big = tmp / "big.jsonl"
            _samples(data_dir, args.limit, big, args.replicas)
            script = _CEILING.format(repo=str(REPO), rows=str(tmp / "ray" / "results.jsonl"), jobs=args.jobs,
                                     address=cluster.address, samples=str(big), out=str(tmp / "ceiling"),
                                     data_dir=str(data_dir))
            proc = cluster.run([sys.executable, "-c", script], env=env, timeout=1800)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            ceiling = json.loads(proc.stdout.strip().splitlines()[-1])
        node_cpu = local * args.jobs / n
        rate = ceiling["n"] / ceiling["s"]
        print(f"humaneval+ first {args.limit} tasks: {n} samples (canonical + mutants), jobs={args.jobs}, "
              f"cores={os.cpu_count()}", flush=True)
        print(f"local          {local:.1f} s")
        print(f"ray (1 node)   {ray:.1f} s")
        print(f"ratio ray/local {ray / local:.2f} (goal <= 1.2); results equal: {same}")
        print(f"driver ceiling {rate:.0f} samples/s ({ceiling['n']} replayed rows in {ceiling['s']:.1f} s; goal >= 1000)")
        print(f"node: {node_cpu * 1e3:.0f} ms runner-seconds per sample (local wall x jobs / samples)", flush=True)
        costs = _costs(data_dir, samples, args.jobs)
        print(f"driver CPU per sample if it judged: receiving {costs['receive_s'] * 1e3:.2f} ms, judging "
              f"{costs['judge_s'] * 1e3:.2f} ms; writing {costs['write_s'] * 1e3:.3f} ms")
        return 0 if same else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
