"""Execution benchmark: canonical solutions of HumanEval+ and MBPP+, this harness vs evalplus 0.3.1.

Same machine, one run each, both from a cold cache (this harness computes its reference outputs
and times, evalplus its ground truth): prints both wall times, the ratio, and the number of
canonical solutions each judged as failing (false failures).

    python bench/bench_execute.py [--datasets humaneval+ mbpp+] [--jobs N] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import gzip
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
SOURCES = {"humaneval+": ("HumanEvalPlus-v0.1.10.jsonl.gz", "HUMANEVAL_OVERRIDE_PATH", "humaneval"),
           "mbpp+": ("MbppPlus-v0.1.0.jsonl.gz", "MBPP_OVERRIDE_PATH", "mbpp")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["humaneval+", "mbpp+"], choices=list(SOURCES))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--skip-evalplus", action="store_true")
    parser.add_argument("--floor", action="store_true",
                        help="also time the bare computation (every canonical solution on every input, in this "
                             "process, nothing else): a cold run must compute it twice (reference + candidates), "
                             "so 2 x that / jobs bounds any harness's cold wall time from below")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from harness.datasets import load_dataset

    data_dir = Path(args.data_dir)
    print(f"jobs={args.jobs} cores={os.cpu_count()}")
    for name in args.datasets:
        ds = load_dataset(name, data_dir)
        tmp = Path(tempfile.mkdtemp(prefix="bench-exec-"))
        samples = tmp / "canonical.jsonl"
        with samples.open("w") as fh:
            for t in ds.tasks.values():
                fh.write(json.dumps({"task_id": t.task_id, "solution": t.canonical_program}) + "\n")
        env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp / "harness-cache"), "CI": "1"}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "harness", "execute", "--dataset", name, "--samples", str(samples),
                        "--out", str(tmp / "ours"), "--data-dir", str(data_dir), "--jobs", str(args.jobs),
                        "--no-progress"], env=env, check=True, stdout=subprocess.DEVNULL)
        ours = time.perf_counter() - t0
        rows = [json.loads(x) for x in (tmp / "ours" / "results.jsonl").read_text().splitlines()]
        ours_fail = sum(not r["passed"] for r in rows)
        line = f"{name}: harness {ours:.1f} s ({ours_fail} canonical failing)"
        if not args.skip_evalplus:
            fname, env_key, ep_name = SOURCES[name]
            plain = tmp / fname.removesuffix(".gz")
            with gzip.open(data_dir / fname, "rb") as src, plain.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            ep_samples = tmp / "evalplus.jsonl"
            shutil.copy(samples, ep_samples)
            ep_env = {**os.environ, env_key: str(plain), "XDG_CACHE_HOME": str(tmp / "xdg")}
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "evalplus.evaluate", "--dataset", ep_name, "--samples",
                            str(ep_samples), "--parallel", str(args.jobs), "--i-just-wanna-run"], env=ep_env,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            theirs = time.perf_counter() - t0
            res = json.loads((tmp / "evalplus_eval_results.json").read_text())["eval"]
            ep_fail = sum(1 for v in res.values() for r in v
                          if not (r["base_status"] == "pass" and r["plus_status"] == "pass"))
            line += f"; evalplus {theirs:.1f} s ({ep_fail} canonical failing); speed-up x{theirs / ours:.2f}"
        if args.floor:
            bare = _bare_compute(ds)
            bound = 2 * bare / args.jobs
            line += f"; bare computation {bare:.1f} s -> cold floor {bound:.1f} s"
            if not args.skip_evalplus:
                line += f" (evalplus / floor = x{theirs / bound:.2f})"
        print(line, flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _bare_compute(ds: Any) -> float:
    """CPU seconds of the canonical solutions alone on all inputs (no isolation, no encoding)."""
    import copy

    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
    total = 0.0
    for task in ds.tasks.values():
        g: dict[str, Any] = {}
        exec(compile(task.canonical_program, task.task_id, "exec"), g)  # trusted: the dataset's own code
        exec(task.setup_code or "", g)
        fn = g[task.entry_point]
        for test in [*task.base_tests, *(task.plus_tests or ())]:
            args = copy.deepcopy(test.args)
            t0 = time.process_time()
            try:
                fn(*args)
            except Exception:
                pass
            total += time.process_time() - t0
    return total


if __name__ == "__main__":
    raise SystemExit(main())
