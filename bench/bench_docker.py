"""Docker backend overhead: wall time of ``--backend docker`` / ``--backend local``.

Workload: HumanEval+ canonical solutions plus their mutants (tests/mutants.py, seed 0: swapped
operators, off-by-ones, truncations, empty bodies, renamed entry points, infinite loops), the
same ``--jobs`` for both, one run each, reference cache warmed before either is timed (so both
time only the execution of the samples). Prints both times, the ratio (goal <= 1.3) and whether
the two results.jsonl agree apart from timing fields.

    python bench/bench_docker.py [--jobs N] [--dataset humaneval+] [--limit K] [--data-dir DIR]
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

REPO = Path(__file__).resolve().parent.parent
TIMING_KEYS = {"duration_s", "attempts", "output"}


def _samples(dataset: str, data_dir: Path, limit: int | None, out: Path) -> int:
    sys.path.insert(0, str(REPO))
    from harness.data.datasets import load_dataset
    from tests.mutants import mutants

    ds = load_dataset(dataset, data_dir)
    n = 0
    with out.open("w") as fh:
        for tid in list(ds.tasks)[:limit]:
            task = ds.tasks[tid]
            programs = [task.canonical_program] + [m for _, m in mutants(task.canonical_program, task.entry_point, seed=0)]
            for prog in programs:
                fh.write(json.dumps({"task_id": tid, "solution": prog}) + "\n")
                n += 1
    return n


def _execute(backend: str, dataset: str, samples: Path, out: Path, data_dir: Path, jobs: int,
             env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness", "execute", "--dataset", dataset, "--samples", str(samples),
                    "--out", str(out), "--data-dir", str(data_dir), "--jobs", str(jobs), "--backend", backend,
                    "--no-progress"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=str(REPO))
    return time.perf_counter() - t0


def _rows(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS
             and not (k == "error_message" and r.get("error_type") == "TimeoutError")} for r in rows]


def _ensure_image() -> None:
    """Rebuild the sandbox image (untimed) when its runner differs from this checkout's."""
    sys.path.insert(0, str(REPO))
    from sandbox.docker_backend import (
        DEFAULT_IMAGE,
        IMAGE_ENV,
        LABEL_RUNNER,
        OFFLINE_BASE_IMAGE,
        build_image,
        connect,
        runner_sha256,
    )

    client = connect()
    try:
        name = os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE
        labels = client.images.get(name).labels or {}
        if labels.get(LABEL_RUNNER) != runner_sha256():
            build_image(labels.get("distill-harness.base-image") or OFFLINE_BASE_IMAGE, name, client=client)
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="humaneval+", choices=["humaneval", "humaneval+", "mbpp", "mbpp+"])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--limit", type=int, default=None, help="first K tasks only")
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR", str(REPO.parent / "shared" / "data")))
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    tmp = Path(tempfile.mkdtemp(prefix="bench-docker-"))
    try:
        samples = tmp / "samples.jsonl"
        n = _samples(args.dataset, data_dir, args.limit, samples)
        env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp / "cache"), "CI": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        warm = tmp / "warm.jsonl"
        warm.write_text(samples.read_text().splitlines()[0] + "\n")
        _execute("local", args.dataset, warm, tmp / "warm", data_dir, args.jobs, env)  # reference cache
        local = _execute("local", args.dataset, samples, tmp / "local", data_dir, args.jobs, env)
        _ensure_image()
        docker = _execute("docker", args.dataset, samples, tmp / "docker", data_dir, args.jobs, env)
        same = _rows(tmp / "local" / "results.jsonl") == _rows(tmp / "docker" / "results.jsonl")
        print(f"{args.dataset}: {n} samples (canonical + mutants), jobs={args.jobs}, cores={os.cpu_count()}")
        print(f"local  {local:.1f} s")
        print(f"docker {docker:.1f} s")
        print(f"ratio docker/local {docker / local:.2f} (goal <= 1.3); results equal: {same}")
        return 0 if same else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
