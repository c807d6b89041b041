"""Execution benchmark: canonical solutions of HumanEval+ and MBPP+, this harness vs evalplus 0.3.1.

Same machine, one run each, both from a cold cache (this harness computes its reference outputs
and times, evalplus its ground truth): prints both wall times, the ratio, and the number of
canonical solutions each judged as failing (false failures).

    python bench/bench_execute.py [--datasets humaneval+ mbpp+] [--jobs N] [--data-dir DIR]

Real-workload mode (``--samples FILE``): model generations in evalplus's format, with warm caches
for both tools (each first runs the first sample of every task once, untimed: the harness fills its
reference cache, evalplus its ground truth), then both on the whole file with the same workers:
both wall times, the ratio, verdict agreement (base, and base + extra tests) and pass@k from
each tool's verdicts.

    python bench/bench_execute.py --samples ../shared/data/real/llama-3-8b--evalplus-pr247_mbppplus.jsonl
    python bench/bench_execute.py --samples FILE --per-task 10   # the first 10 samples of each task
    python bench/bench_execute.py --samples FILE --repeat 3 --evalplus-python /venv/bin/python

With ``--evalplus-results FILE`` (an ``*_eval_results.json`` that evalplus wrote for the same samples
file), evalplus is not run: the harness's verdicts and pass@k are compared with the saved ones (no
evalplus timing then).

    python bench/bench_execute.py --samples codegen.jsonl --evalplus-results codegen_eval_results.json
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
EVALPLUS_PYTHON = sys.executable
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
    parser.add_argument("--samples", type=Path, help="a samples file: real-workload mode (see above)")
    parser.add_argument("--dataset", choices=list(SOURCES),
                        help="dataset of --samples (default: mbpp+ when the file name says mbpp, else humaneval+)")
    parser.add_argument("--per-task", type=int, default=None, help="with --samples: the first N samples of each task")
    parser.add_argument("--repeat", type=int, default=1,
                        help="with --samples: time both tools this many times, alternating (this machine's speed "
                             "drifts by tens of percent over minutes): each pair's ratio, their median, and how "
                             "many verdicts changed between one tool's own runs")
    parser.add_argument("--evalplus-python", default=sys.executable,
                        help="the Python that runs evalplus (default: this one); e.g. a fresh venv with only "
                             "`pip install evalplus==0.3.1`, evalplus's own environment")
    parser.add_argument("--evalplus-results", type=Path, default=None,
                        help="with --samples: evalplus's saved *_eval_results.json of the same samples file; "
                             "compare with it instead of running evalplus")
    args = parser.parse_args()
    global EVALPLUS_PYTHON
    EVALPLUS_PYTHON = args.evalplus_python
    sys.path.insert(0, str(REPO))
    from harness.data.datasets import load_dataset

    data_dir = Path(args.data_dir)
    print(f"jobs={args.jobs} cores={os.cpu_count()}")
    if args.evalplus_results is not None and args.samples is None:
        parser.error("--evalplus-results needs --samples")
    if args.samples is not None:
        name = args.dataset or ("mbpp+" if "mbpp" in args.samples.name.lower() else "humaneval+")
        saved = _saved_evalplus(args.evalplus_results, parser) if args.evalplus_results is not None else None
        return _real_workload(args.samples, name, data_dir, args.jobs, args.per_task, saved, max(1, args.repeat))
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
            subprocess.run([EVALPLUS_PYTHON, "-m", "evalplus.evaluate", "--dataset", ep_name, "--samples",
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


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _harness(samples: Path, name: str, data_dir: Path, jobs: int, out: Path, cache: Path) -> tuple[float, list[Any]]:
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache), "CI": "1", "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness", "execute", "--dataset", name, "--samples", str(samples),
                    "--out", str(out), "--data-dir", str(data_dir), "--jobs", str(jobs), "--no-progress"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return wall, _read(out / "results.jsonl")


def _evalplus(samples: Path, name: str, dataset_file: Path, jobs: int, xdg: Path) -> tuple[float, dict[str, Any]]:
    _, env_key, ep_name = SOURCES[name]
    env = {**os.environ, env_key: str(dataset_file), "XDG_CACHE_HOME": str(xdg)}
    t0 = time.perf_counter()
    subprocess.run([EVALPLUS_PYTHON, "-m", "evalplus.evaluate", "--dataset", ep_name, "--samples", str(samples),
                    "--parallel", str(jobs), "--i-just-wanna-run"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return wall, json.loads(samples.with_name(samples.stem + "_eval_results.json").read_text())["eval"]


def _saved_evalplus(path: Path, parser: argparse.ArgumentParser) -> dict[str, list[dict[str, Any]]]:
    """The per-task results of a saved evalplus run (``{"eval": {task_id: [...]}}``)."""
    try:
        saved = json.loads(path.read_text())["eval"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        parser.error(f"--evalplus-results {path}: not an evalplus results file ({exc})")
    if not isinstance(saved, dict):
        parser.error(f"--evalplus-results {path}: 'eval' is not an object")
    return saved


def _real_workload(path: Path, name: str, data_dir: Path, jobs: int, per_task: int | None,
                   saved: dict[str, list[dict[str, Any]]] | None = None, repeat: int = 1) -> int:
    """Both tools on the same samples, warm caches, same workers (see the module docstring);
    with ``saved`` (evalplus's results of the same file), only the harness runs."""
    from harness.analysis.metrics import mean_pass_at_k

    samples = _read(path)
    if per_task is not None:
        seen: dict[str, int] = {}
        kept = []
        for s in samples:
            seen[s["task_id"]] = seen.get(s["task_id"], 0) + 1
            if seen[s["task_id"]] <= per_task:
                kept.append(s)
        samples = kept
    tasks = list(dict.fromkeys(s["task_id"] for s in samples))
    tmp = Path(tempfile.mkdtemp(prefix="bench-real-"))
    # evalplus wants every task of its dataset to have samples: its dataset restricted to these.
    fname = SOURCES[name][0]
    with gzip.open(data_dir / fname, "rt") as src:
        problems = [json.loads(line) for line in src if line.strip()]
    dataset_file = tmp / fname.removesuffix(".gz")
    _write(dataset_file, [p for p in problems if p["task_id"] in set(tasks)])
    first = [next(s for s in samples if s["task_id"] == t) for t in tasks]
    cache, xdg = tmp / "harness-cache", tmp / "xdg"
    _harness(_write(tmp / "warm.jsonl", first), name, data_dir, jobs, tmp / "warm-ours", cache)
    if saved is None:
        _evalplus(_write(tmp / "warm-ep.jsonl", first), name, dataset_file, jobs, xdg)

    ours_walls: list[float] = []
    theirs_walls: list[float] = []
    runs_ours: list[list[Any]] = []
    runs_theirs: list[dict[str, Any]] = []
    for r in range(repeat):
        wall, rows = _harness(_write(tmp / "ours.jsonl", samples), name, data_dir, jobs, tmp / f"ours{r}", cache)
        ours_walls.append(wall)
        runs_ours.append(rows)
        if saved is None:
            wall, ep_run = _evalplus(_write(tmp / f"theirs{r}.jsonl", samples), name, dataset_file, jobs, xdg)
            theirs_walls.append(wall)
            runs_theirs.append(ep_run)
    rows, ours_wall = runs_ours[0], ours_walls[0]
    by_task: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_task.setdefault(row["task_id"], []).append(row)
    if saved is None:
        theirs_wall, ep = theirs_walls[0], runs_theirs[0]
    else:  # the saved results of the same file, cut like the samples (evalplus keeps each task's file order)
        theirs_wall = None
        missing = sorted(set(by_task) - set(saved), key=tasks.index)
        short = [t for t in by_task if t in saved and len(saved[t]) < len(by_task[t])]
        if missing or short:
            print(f"--evalplus-results does not hold these samples: tasks missing {missing[:5]}, "
                  f"with fewer samples {short[:5]}", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)
            return 2
        ep = {t: saved[t][: len(by_task[t])] for t in tasks}
    base_diff, plus_diff = [], []
    for tid, theirs in ep.items():
        for ours, r in zip(by_task[tid], theirs, strict=True):
            if bool(ours["base_passed"]) != (r["base_status"] == "pass"):
                base_diff.append((tid, ours["sample_index"], ours["error_type"], r["base_status"]))
            if bool(ours["plus_passed"]) != (r["base_status"] == r["plus_status"] == "pass"):
                plus_diff.append((tid, ours["sample_index"], ours["error_type"], r["plus_status"]))
    n = len(rows)
    timing = (f"evalplus {theirs_wall:.1f} s, speed-up x{theirs_wall / ours_wall:.2f}" if theirs_wall is not None
              else "evalplus: saved results, not timed")
    print(f"{path.name} ({name}, {n} samples, {len(tasks)} tasks): harness {ours_wall:.1f} s, {timing}; "
          f"verdicts equal: base {n - len(base_diff)}/{n}, plus {n - len(plus_diff)}/{n}")
    for label, diff in (("base", base_diff), ("plus", plus_diff)):
        for d in diff[:20]:
            print(f"  {label} differs: {d}")
    if repeat > 1:
        _print_repeats(ours_walls, theirs_walls, runs_ours, runs_theirs)
    counts = {"harness": ([(len(v), sum(bool(r["base_passed"]) for r in v)) for v in by_task.values()],
                          [(len(v), sum(bool(r["plus_passed"]) for r in v)) for v in by_task.values()]),
              "evalplus": ([(len(v), sum(r["base_status"] == "pass" for r in v)) for v in ep.values()],
                           [(len(v), sum(r["base_status"] == r["plus_status"] == "pass" for r in v)) for v in ep.values()])}
    smallest = min(len(v) for v in by_task.values())
    for k in (1, 10, 100):
        if k <= smallest:
            cells = [f"{tool} base {mean_pass_at_k(b, k):.6f} plus {mean_pass_at_k(p, k):.6f}"
                     for tool, (b, p) in counts.items()]
            print(f"  pass@{k}: " + "; ".join(cells))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if not base_diff and not plus_diff else 1


def _print_repeats(ours: list[float], theirs: list[float], runs_ours: list[list[Any]],
                   runs_theirs: list[dict[str, Any]]) -> None:
    """Each pair's times and ratio, the median ratio, and each tool's verdict changes between its runs."""
    import statistics

    pairs = [f"{o:.1f}/{t:.1f} s x{t / o:.2f}" for o, t in zip(ours, theirs, strict=False)]
    if theirs:
        ratio = statistics.median(t / o for o, t in zip(ours, theirs, strict=False))
        print(f"  runs (harness/evalplus): {'; '.join(pairs)}; median ratio x{ratio:.2f}")
    else:
        print(f"  harness runs: {', '.join(f'{o:.1f} s' for o in ours)}")
    ours_v = [[(r["task_id"], r["sample_index"], bool(r["base_passed"]), bool(r["plus_passed"])) for r in run]
              for run in runs_ours]
    flips = sum(len(set(run) - set(ours_v[0])) for run in ours_v[1:])
    line = f"  verdicts that changed between runs: harness {flips}"
    if runs_theirs:
        theirs_v = [{(t, i, r["base_status"], r["plus_status"]) for t, v in run.items() for i, r in enumerate(v)}
                    for run in runs_theirs]
        line += f", evalplus {sum(len(run - theirs_v[0]) for run in theirs_v[1:])}"
    print(line)


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
