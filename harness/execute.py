"""``harness execute``: run samples in the sandbox and decide verdicts outside it.

Results are appended to ``results.partial.jsonl`` as they finish and written in input order to
``results.jsonl`` at the end, so an interrupted run resumes where it stopped, without losing or
duplicating a sample.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.datasets import ORACLE_ASSERT, Dataset, Task, load_dataset
from harness.errors import InfraError, UsageError
from harness.expected import TaskOracle, compute_expected, encoded_inputs, not_none_task
from harness.metrics import mean_pass_at_k, supported_ks
from harness.oracle import EvalplusComparator, compare_assert, decode_raw
from harness.registry import make_backend
from harness.samples import Sample, file_sha256, read_samples
from sandbox import Backend, Limits, SandboxUnavailable

RESULT_KEYS = (
    "task_id", "sample_index", "passed", "base_passed", "plus_passed", "error_type", "category",
    "complete", "failed_input_index",
)


@dataclass
class ExecuteConfig:
    dataset: str
    samples: Path
    out: Path
    backend: str = "local"
    jobs: int | None = None
    data_dir: str | None = None
    limits: Limits = field(default_factory=Limits)
    progress: bool | None = None  # None: on a terminal and not in CI


@dataclass
class ExecuteResult:
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    out: Path


# ----------------------------------------------------------------------------- jobs


def time_limits(oracle: TaskOracle, limits: Limits) -> list[float]:
    return [max(limits.min_time_limit, limits.time_limit_factor * t) for t in oracle.ref_times]


def build_job(dataset: Dataset, task: Task, oracle: TaskOracle, sample: Sample, limits: Limits) -> dict[str, Any]:
    per_test = time_limits(oracle, limits)
    n_base = len(task.base_tests)
    base_cap = min(limits.max_total, sum(per_test[:n_base])) + 1.0
    plus_cap = min(limits.max_total, sum(per_test[n_base:])) + 1.0 if task.plus_tests else 0.0
    total = limits.exec_limit + base_cap + plus_cap + (limits.assert_limit if task.residual_asserts else 0.0)
    return {
        "op": "run",
        "id": sample.position,
        "code": sample.program,
        "setup": task.setup_code,
        "entry_point": task.entry_point,
        "inputs_json": encoded_inputs(dataset, task),
        "n_inputs": len(per_test),
        "limits": per_test,
        "default_limit": limits.min_time_limit,
        "exec_limit": limits.exec_limit,
        "assert_limit": limits.assert_limit,
        "wall_factor": limits.wall_factor,
        "wall_total": total * limits.wall_factor,
        "cpu_total": total,
        "fast": True,
        "not_none": not_none_task(task),
        "asserts": task.residual_asserts,
        "memory_bytes": limits.memory_bytes,
        "file_bytes": limits.file_bytes,
        "open_files": limits.open_files,
        "nproc": limits.nproc,
        "output_bytes": limits.output_bytes,
    }


# ----------------------------------------------------------------------------- verdicts

_PRE_PHASES = ("compile", "exec", "setup", "entry")


def _failure(error_type: str, message: str | None, where: str, chain: list[str] | None = None,
             index: int | None = None) -> dict[str, Any]:
    return {"error_type": error_type, "error_message": message, "error_in": where,
            "exception_chain": chain, "index": index}


def _missing_reason(result: dict[str, Any], index: int | None) -> dict[str, Any]:
    """Why no result came back for a test: time-out, crash, early exit or a forged channel."""
    if result.get("crashed"):
        return _failure("SandboxError", result["crashed"], "harness", index=index)
    if result.get("timeout"):
        t = result["timeout"]
        return _failure("TimeoutError", f"time limit exceeded in {t.get('phase')} (cpu {t.get('cpu', 0):.2f}s, wall {t.get('wall', 0):.2f}s)", "candidate", ["TimeoutError", "OSError", "Exception", "BaseException", "object"], index)
    if result.get("protocol_error"):
        return _failure("ProtocolError", f"the sample corrupted the result channel: {result['protocol_error']}", "candidate", index=index)
    exit_info = result.get("exit") or {}
    if "signal" in exit_info:
        return _failure(exit_info.get("name", "Killed"), f"the process was killed by signal {exit_info['signal']}", "candidate", index=index)
    code = exit_info.get("code")
    return _failure("SystemExit", f"the process exited early (code {code}) before the tests finished", "candidate", ["SystemExit", "BaseException", "object"], index)


def judge(task: Task, oracle: TaskOracle | None, result: dict[str, Any], has_plus: bool) -> dict[str, Any]:
    """Turn a raw sandbox result into base/plus verdicts and the first failure."""
    events = result.get("events", [])
    outputs: dict[int, Any] = {}
    call_exc: dict[int, dict[str, Any]] = {}
    pre_exc = None
    assert_exc = None
    assert_ok = False
    for ev in events:
        kind = ev.get("t")
        i = ev.get("i")
        if kind == "R" and isinstance(i, int) and i not in outputs:
            outputs[i] = ev.get("raw", b"")
        elif kind == "X":
            phase = ev.get("phase")
            if phase == "call" and isinstance(i, int):
                call_exc.setdefault(i, ev)
            elif phase in _PRE_PHASES and pre_exc is None:
                pre_exc = ev
            elif phase == "assert" and assert_exc is None:
                assert_exc = ev
        elif kind == "AOK":
            assert_ok = True

    n_base = len(task.base_tests)
    tests = list(task.base_tests) + list(task.plus_tests or ())
    failure: dict[str, Any] | None = None
    if pre_exc is not None:
        where = "compile" if pre_exc.get("phase") == "compile" else ("harness" if pre_exc.get("phase") == "entry" else "candidate")
        failure = _failure(str(pre_exc.get("type")), pre_exc.get("msg"), where, pre_exc.get("chain"))
    else:
        family = task.extra.get("family", "")
        comparator = EvalplusComparator(family, task.entry_point, task.atol)
        for i, test in enumerate(tests):
            if i == n_base:
                comparator = EvalplusComparator(family, task.entry_point, task.atol)  # evalplus: a new run
            if i in outputs:
                raw = outputs[i]
                if test.op == "canonical":
                    assert oracle is not None
                    if not comparator.special and raw == oracle.expected[i] and oracle.exact(i):
                        ok = comparator.identical(oracle.floats[i])
                    else:
                        ok = comparator(decode_raw(raw), oracle.value(i), test.args, oracle.floats[i])
                else:
                    ok = compare_assert(test.op, decode_raw(raw), test.expected)
                if not ok:
                    failure = _failure("AssertionError", f"wrong output for input {i if i < n_base else i - n_base} ({'base' if i < n_base else 'plus'})", "test", ["AssertionError", "Exception", "BaseException", "object"], i)
                    break
            elif i in call_exc:
                ev = call_exc[i]
                failure = _failure(str(ev.get("type")), ev.get("msg"), "candidate", ev.get("chain"), i)
                break
            else:
                failure = _missing_reason(result, i)
                break
        if failure is None and task.residual_asserts and not assert_ok:
            if assert_exc is not None:
                in_tests = assert_exc.get("deepest") == "<tests>" and assert_exc.get("type") == "AssertionError"
                failure = _failure(str(assert_exc.get("type")), assert_exc.get("msg"), "test" if in_tests else "candidate", assert_exc.get("chain"))
            else:
                failure = _missing_reason(result, None)
            failure["residual"] = True  # the residual asserts are base tests
        if failure is None and not tests and not task.residual_asserts:
            failure = _failure("SandboxError", "task has no tests", "harness")

    index = failure.get("index") if failure else None
    base_passed = failure is None or (index is not None and index >= n_base and not failure.get("residual"))
    plus_passed: bool | None = (failure is None) if has_plus else None
    passed = bool(plus_passed) if has_plus else base_passed
    row: dict[str, Any] = {
        "passed": passed,
        "base_passed": base_passed,
        "plus_passed": plus_passed,
        "error_type": None,
        "error_message": None,
        "error_in": None,
        "exception_chain": None,
        "failed_input_index": None,
        "failed_in": None,
    }
    if failure is not None:
        row.update({k: failure[k] for k in ("error_type", "error_message", "error_in", "exception_chain")})
        if index is not None and index < len(tests):
            row["failed_input_index"] = index if index < n_base else index - n_base
            row["failed_in"] = "base" if index < n_base else "plus"
    return row


# ----------------------------------------------------------------------------- taxonomy seam


def label(row: dict[str, Any], sample: Sample, task: Task) -> None:
    """Fill the taxonomy fields: ``complete`` always, ``category`` for failures."""
    from harness.taxonomy import classify, is_complete

    row["complete"] = is_complete(sample.program, task.entry_point)
    row["category"] = classify(row, sample.program, task.entry_point)


# ----------------------------------------------------------------------------- summary


def summarize(dataset: Dataset, rows: list[dict[str, Any]]) -> dict[str, Any]:
    per_task: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        per_task.setdefault(row["task_id"], []).append(row)
    base_counts = [(len(r), sum(bool(x["base_passed"]) for x in r)) for r in per_task.values()]
    plus_counts = [(len(r), sum(bool(x["plus_passed"]) for x in r)) for r in per_task.values()]
    summary: dict[str, Any] = {
        "dataset": dataset.name,
        "dataset_version": dataset.version,
        "dataset_hash": dataset.content_hash,
        "n_tasks": len(per_task),
        "n_samples": len(rows),
        "n_passed": sum(bool(r["passed"]) for r in rows),
    }
    for k in supported_ks(base_counts) or [1]:
        summary[f"pass@{k}"] = {
            "base": mean_pass_at_k(base_counts, k) if base_counts else 0.0,
            "plus": (mean_pass_at_k(plus_counts, k) if plus_counts else 0.0) if dataset.has_plus else None,
        }
    errors: dict[str, int] = {}
    for r in rows:
        if r.get("error_type"):
            errors[r["error_type"]] = errors.get(r["error_type"], 0) + 1
    summary["error_types"] = dict(sorted(errors.items(), key=lambda kv: (-kv[1], kv[0])))
    from harness.taxonomy import table13

    summary["taxonomy"] = table13(rows)
    return summary


# ----------------------------------------------------------------------------- driver


def _progress_enabled(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    return sys.stderr.isatty() and not os.environ.get("CI")


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, description: str) -> Iterator[Callable[[], None]]:
    if not enabled:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as prog:
        tid = prog.add_task(description, total=total)
        yield lambda: prog.advance(tid)


def _state(config: ExecuteConfig, dataset: Dataset, samples_hash: str) -> dict[str, Any]:
    return {"dataset": dataset.name, "dataset_hash": dataset.content_hash, "samples_sha256": samples_hash,
            "limits": config.limits.to_dict()}


def _load_partial(path: Path, n: int) -> dict[int, dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return done
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill: its sample runs again
            pos = row.pop("_pos", None)
            if isinstance(pos, int) and 0 <= pos < n:
                done[pos] = row
    return done


def execute_samples(config: ExecuteConfig, backend: Backend | None = None,
                    dataset: Dataset | None = None) -> ExecuteResult:
    """Execute a samples file against a dataset; writes results.jsonl and summary.json.

    ``dataset`` overrides ``config.dataset`` (metamorphic runs pass tasks with transformed
    prompts and entry points; they share the original's content hash, hence its reference outputs).
    """
    if dataset is None:
        dataset = load_dataset(config.dataset, config.data_dir)
    samples = read_samples(config.samples, dataset)
    out = Path(config.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory {out}: {exc.strerror}") from None
    state = _state(config, dataset, file_sha256(Path(config.samples)))
    state_path = out / "execute_state.json"
    partial_path = out / "results.partial.jsonl"
    results_path = out / "results.jsonl"
    done: dict[int, dict[str, Any]] = {}
    if state_path.exists():
        try:
            previous = json.loads(state_path.read_text())
        except ValueError:
            previous = None
        if previous == state:
            if results_path.exists() and not partial_path.exists():
                rows = [json.loads(line) for line in results_path.read_text().splitlines() if line.strip()]
                if len(rows) == len(samples):
                    done = dict(enumerate(rows))
            else:
                done = _load_partial(partial_path, len(samples))
        else:
            partial_path.unlink(missing_ok=True)
    state_path.write_text(json.dumps(state, indent=1))

    todo = [s for s in samples if s.position not in done]
    if todo:
        own_backend = backend is None
        try:
            if backend is None:
                backend = make_backend(config.backend, jobs=config.jobs, limits=config.limits)
        except SandboxUnavailable as exc:
            raise InfraError(str(exc)) from exc
        try:
            show = _progress_enabled(config.progress)
            # Reference outputs and times (also for assert-style datasets: their time limits).
            needed = sorted({s.task_id for s in todo}, key=list(dataset.tasks).index)
            with progress_bar(show, len(needed), f"{dataset.name}: reference run") as tick:
                oracles = compute_expected(dataset, backend, tick, task_ids=needed)
            # Longest first (by the canonical solution's time): no straggler at the end of the run.
            ordered = sorted(todo, key=lambda s: -sum(oracles[s.task_id].ref_times))
            with partial_path.open("a", encoding="utf-8") as fh, progress_bar(show, len(ordered), f"{dataset.name}: executing") as tick:
                for sample, row in run_samples(backend, dataset, oracles, ordered):
                    done[sample.position] = row
                    fh.write(json.dumps({"_pos": sample.position, **row}) + "\n")
                    fh.flush()
                    tick()
        except SandboxUnavailable as exc:  # the engine died mid-run: exit 3, one line
            raise InfraError(str(exc)) from exc
        finally:
            if own_backend and backend is not None:
                backend.close()

    rows = [done[s.position] for s in samples]
    tmp = results_path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    os.replace(tmp, results_path)
    partial_path.unlink(missing_ok=True)
    summary = summarize(dataset, rows)
    if backend is not None:
        summary["sandbox"] = backend.describe()
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return ExecuteResult(rows, summary, out)


def run_samples(backend: Backend, dataset: Dataset, oracles: dict[str, TaskOracle],
                samples: list[Sample]) -> Iterator[tuple[Sample, dict[str, Any]]]:
    """Run samples in the sandbox and judge them; yields ``(sample, row)`` as they finish.

    The one place where raw sandbox results become results rows: every backend's runs pass
    through here (a distributed backend calls it on each node, next to the reference outputs).
    """
    jobs = [build_job(dataset, dataset.tasks[s.task_id], oracles[s.task_id], s, backend.limits) for s in samples]
    by_pos = {s.position: s for s in samples}
    for job, result in backend.run(jobs):
        sample = by_pos[job["id"]]
        task = dataset.tasks[sample.task_id]
        yield sample, _make_row(sample, task, oracles.get(task.task_id), result, dataset.has_plus)


def _make_row(sample: Sample, task: Task, oracle: TaskOracle | None, result: dict[str, Any], has_plus: bool) -> dict[str, Any]:
    verdict = judge(task, oracle, result, has_plus)
    row: dict[str, Any] = {"task_id": sample.task_id, "sample_index": sample.sample_index, **verdict,
                           "category": None, "complete": None}
    row["duration_s"] = round(float(result.get("wall", 0.0)), 4)
    row["attempts"] = result.get("attempts", 1)
    if result.get("output"):
        row["output"] = result["output"][:1000]
    row.update(sample.meta)
    label(row, sample, task)
    if row["passed"]:
        row["category"] = None
    return row


__all__ = ["ExecuteConfig", "ExecuteResult", "RESULT_KEYS", "build_job", "execute_samples", "judge", "run_samples", "summarize",
           "ORACLE_ASSERT"]
