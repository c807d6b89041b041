"""``harness execute``: run samples in the sandbox and decide verdicts outside it.

Results are appended to ``results.partial.jsonl`` as they finish and written in input order to
``results.jsonl`` at the end, so an interrupted run resumes where it stopped, without losing or
duplicating a sample.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import InfraError, UsageError
from harness.core.registry import make_backend
from harness.data.datasets import ORACLE_ASSERT, Dataset, Task, load_dataset
from harness.data.samples import Sample, read_samples
from harness.execution.expected import TaskOracle, compute_expected, encoded_inputs, not_none_task
from harness.execution.oracle import EvalplusComparator, compare_assert, decode_raw
from harness.reporting.progress import Mode, progress, progress_mode
from harness.results.records import ResultRow, RunSummary
from harness.results.store import read_jsonl, sha256_file, write_json_atomic, write_jsonl_atomic
from sandbox import Backend, Limits, SandboxUnavailable
from sandbox.protocol import AssertsPassed, Event, Exit, Job, Outcome, Output, Raised

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
    backend_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"address": ...} for ray


@dataclass
class ExecuteResult:
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    out: Path


# ----------------------------------------------------------------------------- jobs


def time_limits(oracle: TaskOracle, limits: Limits) -> list[float]:
    return limits.per_test(oracle.ref_times)


def build_job(dataset: Dataset, task: Task, oracle: TaskOracle, sample: Sample, limits: Limits) -> Job:
    return Job.candidate(sample.position, sample.program, task.entry_point, encoded_inputs(dataset, task),
                         oracle.ref_times, len(task.base_tests), limits, setup=task.setup_code,
                         asserts=task.residual_asserts, not_none=not_none_task(task))


# ----------------------------------------------------------------------------- verdicts

_PRE_PHASES = ("compile", "exec", "setup", "entry")
#: Runs alone that a test over its limit gets before it is a time-out (it passes in the first
#: that is within the limit): a busy machine inflates CPU time by up to ~25 %, by chance.
CONFIRM_RUNS = 2
_ASSERTION_CHAIN = ["AssertionError", "Exception", "BaseException", "object"]
_TIMEOUT_CHAIN = ["TimeoutError", "OSError", "Exception", "BaseException", "object"]


def _failure(error_type: str, message: str | None, where: str, chain: list[str] | None = None,
             index: int | None = None) -> dict[str, Any]:
    return {"error_type": error_type, "error_message": message, "error_in": where,
            "exception_chain": chain, "index": index}


def _raised(ev: Raised, where: str, index: int | None = None) -> dict[str, Any]:
    return _failure(ev.type, ev.msg, where, ev.chain, index)


def _missing_reason(result: Outcome, index: int | None) -> dict[str, Any]:
    """Why no result came back for a test: time-out, crash, early exit or a forged channel."""
    if result.crashed:
        return _failure("SandboxError", result.crashed, "harness", index=index)
    if result.timeout:
        t = result.timeout
        return _failure("TimeoutError", f"time limit exceeded in {t.phase} (cpu {t.cpu:.2f}s, wall {t.wall:.2f}s)",
                        "candidate", _TIMEOUT_CHAIN, index)
    if result.protocol_error:
        return _failure("ProtocolError", f"the sample corrupted the result channel: {result.protocol_error}",
                        "candidate", index=index)
    exit_info = result.exit or Exit()
    if exit_info.signal is not None:
        return _failure(exit_info.name or "Killed", f"the process was killed by signal {exit_info.signal}",
                        "candidate", index=index)
    return _failure("SystemExit", f"the process exited early (code {exit_info.code}) before the tests finished",
                    "candidate", ["SystemExit", "BaseException", "object"], index)


class Judge:
    """One sample's verdict from its events, decided as early as they allow.

    Tests are judged in order; :meth:`feed` takes events as they stream in and returns True as
    soon as an output is wrong (the run can be stopped: nothing later changes the verdict);
    :meth:`verdict` gives the row fields once the run has ended. For every event to matter
    as it does in evalplus, the first output or exception recorded for an input counts.

    Time-outs do not depend on the load of the machine: a test may run to (1 + TIME_GRACE) x
    its CPU limit (``limits``); one killed there is a time-out at once, one that finished over
    its limit is ``unconfirmed`` until the caller runs that input again alone and passes the
    outcome to :meth:`confirm`: a time-out only if it is over the limit in each of
    ``CONFIRM_RUNS`` runs alone.
    """

    def __init__(self, task: Task, oracle: TaskOracle | None, has_plus: bool, limits: list[float] | None = None,
                 runs: list[tuple[int, int, float]] | None = None) -> None:
        self.task, self.oracle, self.has_plus = task, oracle, has_plus
        self.tests = list(task.base_tests) + list(task.plus_tests or ())
        self.n_base = len(task.base_tests)
        self.limits = limits or []
        # A sample run in slices: no process saw a whole run, so its CPU budget is counted here.
        self.runs = runs or []
        self.run_used = [0.0] * len(self.runs)
        self.outputs: dict[int, Output] = {}
        self.call_exc: dict[int, Raised] = {}
        self.pre_exc: Raised | None = None
        self.assert_exc: Raised | None = None
        self.assert_ok = False
        self.next = 0  # the first test not judged yet
        self.wrong: dict[str, Any] | None = None
        self.unconfirmed: int | None = None  # a test that finished over its limit, not confirmed yet
        self.cleared: set[int] = set()  # ... and those that were within it when run again
        self.reruns: list[float] = []  # CPU seconds of the unconfirmed test in its runs alone
        self.over: dict[str, Any] | None = None  # how far over its limit the sample went
        self._comparator = self._new_comparator()

    def _new_comparator(self) -> EvalplusComparator:
        return EvalplusComparator(self.task.extra.get("family", ""), self.task.entry_point, self.task.atol)

    def feed(self, events: list[Event]) -> bool:
        for ev in events:
            if isinstance(ev, Output):
                self.outputs.setdefault(ev.i, ev)
            elif isinstance(ev, Raised):
                self._record_raised(ev)
            elif isinstance(ev, AssertsPassed):
                self.assert_ok = True
        self._advance()
        return self.wrong is not None

    def _record_raised(self, ev: Raised) -> None:
        if ev.phase == "call" and ev.i is not None:
            self.call_exc.setdefault(ev.i, ev)
        elif ev.phase in _PRE_PHASES and self.pre_exc is None:
            self.pre_exc = ev
        elif ev.phase == "assert" and self.assert_exc is None:
            self.assert_exc = ev

    def _advance(self) -> None:
        while self.wrong is None and self.unconfirmed is None and self.next in self.outputs:
            i = self.next
            if i >= len(self.tests):
                return
            out = self.outputs[i]
            if i < len(self.limits) and out.cpu > self.limits[i] and i not in self.cleared:
                self.unconfirmed = i
                self._note_over(i, [out.cpu], timed_out=False)
                return
            if i == self.n_base:
                self._comparator = self._new_comparator()  # evalplus: a new run
            if self.runs and self._over_run_budget(i, out.cpu):
                return
            if not self._correct(i, out.raw):
                where = f"{i if i < self.n_base else i - self.n_base} ({'base' if i < self.n_base else 'plus'})"
                self.wrong = _failure("AssertionError", f"wrong output for input {where}", "test", _ASSERTION_CHAIN, i)
                return
            self.next += 1

    def decided(self) -> bool:
        """Nothing a later input does can change the verdict (a slice of the sample may stop)."""
        return self.wrong is not None or self.pre_exc is not None or self.next in self.call_exc

    def _over_run_budget(self, i: int, cpu: float) -> bool:
        """Counts input ``i``'s CPU against its run's budget; True (a time-out at ``i``, where one
        process running the run would have been stopped) once the run has spent it."""
        for k, (a, b, budget) in enumerate(self.runs):
            if a <= i < b:
                self.run_used[k] += cpu
                if self.run_used[k] > budget:
                    self.wrong = self._run_budget_failure(i, self.run_used[k], budget)
                    return True
        return False

    def _run_budget_failure(self, i: int, used: float, budget: float) -> dict[str, Any]:
        run = "base" if i < self.n_base else "plus"
        self._note_over(i, [used], timed_out=True, run_budget=budget)
        return _failure("TimeoutError", f"time budget of the {run} run exceeded in its input "
                        f"{i if i < self.n_base else i - self.n_base} (cpu {used:.2f}s for the run; "
                        f"budget {budget:.2f}s = min(60 s, sum of its inputs' limits) + 2 s, "
                        f"evalplus's cap)", "candidate", _TIMEOUT_CHAIN, i)

    def _note_over(self, i: int, cpu: list[float], timed_out: bool, run_budget: float = 0.0) -> None:
        """``over_limit``: which limit (``budget``: the input's, or the whole run's), by how much."""
        limit = run_budget or (self.limits[i] if i < len(self.limits) else 0.0)
        self.over = {"input": i if i < self.n_base else i - self.n_base, "in": "base" if i < self.n_base else "plus",
                     "budget": "run" if run_budget else "test", "limit_s": round(limit, 4),
                     "cpu_s": [round(c, 4) for c in cpu],
                     "over": round(min(cpu) / limit, 3) if limit > 0 else None, "timed_out": timed_out}

    def confirm(self, rerun: Outcome) -> None:
        """Decide the unconfirmed test from runs of that input alone (``Job.only``): within its
        limit in one of them, it passes; over it in ``CONFIRM_RUNS`` of them (or killed at the
        grace in one), a time-out. The least of a run's CPU times is the best estimate of its
        cost: other work on the machine only ever adds to it."""
        i = self.unconfirmed
        assert i is not None
        first = self.outputs[i].cpu
        again = next((e for e in rerun.outputs() if e.i == i), None)
        cpu = again.cpu if again is not None else rerun.timeout.cpu if rerun.timeout else float("inf")
        self.reruns.append(cpu)
        passed = cpu <= self.limits[i]
        if not passed and again is not None and len(self.reruns) < CONFIRM_RUNS:
            self._note_over(i, [first, *self.reruns], timed_out=False)
            return  # still unconfirmed: run it alone once more
        self._note_over(i, [first, *self.reruns], timed_out=not passed)
        alone = " and ".join(f"{c:.2f}s" for c in self.reruns)
        self.unconfirmed, self.reruns = None, []
        if passed:
            self.cleared.add(i)
            self._advance()
        else:
            self.wrong = _failure("TimeoutError", f"time limit exceeded in tests (cpu {first:.2f}s, then {alone} "
                                  f"alone; limit {self.limits[i]:.2f}s)", "candidate", _TIMEOUT_CHAIN, i)

    def _correct(self, i: int, raw: bytes) -> bool:
        test, oracle, comparator = self.tests[i], self.oracle, self._comparator
        if test.op != "canonical":
            return compare_assert(test.op, decode_raw(raw), test.expected)
        assert oracle is not None
        if not comparator.special and raw == oracle.expected[i] and oracle.exact(i):
            return comparator.identical(oracle.floats[i])
        return comparator(decode_raw(raw), oracle.value(i), test.args, oracle.floats[i])

    def first_failure(self, result: Outcome) -> dict[str, Any] | None:
        if self.pre_exc is not None:
            phase = self.pre_exc.phase
            return _raised(self.pre_exc, "compile" if phase == "compile" else "harness" if phase == "entry" else "candidate")
        self._advance()
        if self.wrong is not None:
            return self.wrong
        i = self.next
        if self.unconfirmed is not None:  # nobody confirmed it: over the limit is a time-out
            self._note_over(i, [self.outputs[i].cpu], timed_out=True)
            return _failure("TimeoutError", f"time limit exceeded in tests (cpu {self.outputs[i].cpu:.2f}s)",
                            "candidate", _TIMEOUT_CHAIN, i)
        if i < len(self.tests):
            if i in self.call_exc:
                return _raised(self.call_exc[i], "candidate", i)
            t = result.timeout
            if t is not None and t.phase == "tests" and t.i == i and t.run_budget:
                return self._run_budget_failure(i, t.run_cpu, t.run_budget)
            if t is not None and t.phase == "tests" and t.i == i and i < len(self.limits):
                self._note_over(i, [t.cpu], timed_out=True)  # killed at the grace: over any doubt
            return _missing_reason(result, i)
        if self.task.residual_asserts and not self.assert_ok:
            failure = self._assert_failure(result)
            failure["residual"] = True  # the residual asserts are base tests
            return failure
        if not self.tests and not self.task.residual_asserts:
            return _failure("SandboxError", "task has no tests", "harness")
        return None

    def _assert_failure(self, result: Outcome) -> dict[str, Any]:
        ev = self.assert_exc
        if ev is None:
            return _missing_reason(result, None)
        in_tests = ev.deepest == "<tests>" and ev.type == "AssertionError"
        return _raised(ev, "test" if in_tests else "candidate")

    def verdict(self, result: Outcome) -> dict[str, Any]:
        """The row's verdict fields: base/plus verdicts and the first failure (and ``over_limit``
        when a test went over its time limit: by how much, in each run, and what it became)."""
        failure = self.first_failure(result)
        n_base = self.n_base
        index = failure.get("index") if failure else None
        base_passed = failure is None or (index is not None and index >= n_base and not failure.get("residual"))
        plus_passed: bool | None = (failure is None) if self.has_plus else None
        row: dict[str, Any] = {"passed": bool(plus_passed) if self.has_plus else base_passed,
                               "base_passed": base_passed, "plus_passed": plus_passed}
        row.update(dict.fromkeys(("error_type", "error_message", "error_in", "exception_chain",
                                  "failed_input_index", "failed_in")))
        if failure is not None:
            row.update({k: failure[k] for k in ("error_type", "error_message", "error_in", "exception_chain")})
            if index is not None and index < len(self.tests):
                row["failed_input_index"] = index if index < n_base else index - n_base
                row["failed_in"] = "base" if index < n_base else "plus"
        if self.over is not None:
            row["over_limit"] = self.over
        return row


def judge(task: Task, oracle: TaskOracle | None, result: Outcome, has_plus: bool) -> dict[str, Any]:
    """Turn a sandbox outcome into base/plus verdicts and the first failure."""
    j = Judge(task, oracle, has_plus)
    j.feed(result.events)
    return j.verdict(result)


# ----------------------------------------------------------------------------- taxonomy seam


def label(row: dict[str, Any], sample: Sample, task: Task) -> None:
    """Fill the taxonomy fields: ``complete`` always, ``category`` for failures."""
    from harness.taxonomy import classify, is_complete

    row["complete"] = is_complete(sample.program, task.entry_point)
    row["category"] = classify(row, sample.program, task.entry_point)


# ----------------------------------------------------------------------------- summary


def summarize(dataset: Dataset, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's summary.json (see :class:`harness.results.records.RunSummary`)."""
    return RunSummary.of(dataset, [ResultRow.from_dict(r) for r in rows]).to_dict()


# ----------------------------------------------------------------------------- driver


_USER_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EISDIR}


def _out_error(out: Path, exc: OSError, doing: str) -> UsageError | InfraError:
    """A read-only or foreign directory is the user's to fix (exit 2); a full disk is not (exit 3)."""
    reason = exc.strerror or str(exc)
    if exc.errno in _USER_ERRNOS:
        return UsageError(f"cannot write to output directory {out}: {reason}")
    return InfraError(f"{reason.lower()} {doing} {out}")


def prepare_out(out: Path) -> None:
    """Create ``out`` and prove it writable before any work: one line instead of a late traceback."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _out_error(out, exc, "creating") from None


def _state(config: ExecuteConfig, dataset: Dataset, samples_hash: str) -> dict[str, Any]:
    return {"dataset": dataset.name, "dataset_hash": dataset.content_hash, "samples_sha256": samples_hash,
            "limits": config.limits.to_dict()}


def _load_partial(path: Path, n: int) -> dict[int, dict[str, Any]]:
    """Rows of the partial file by sample position; a line cut by a kill or a full disk is
    skipped (its sample runs again)."""
    done: dict[int, dict[str, Any]] = {}
    for row in read_jsonl(path):
        pos = row.pop("_pos", None)
        if isinstance(pos, int) and 0 <= pos < n:
            done[pos] = row
    return done


def _what_changed(previous: Any, state: dict[str, Any]) -> str:
    if not isinstance(previous, dict):
        return "of an unknown run"
    if previous.get("samples_sha256") != state["samples_sha256"]:
        return "of a different samples file"
    if previous.get("dataset") != state["dataset"] or previous.get("dataset_hash") != state["dataset_hash"]:
        return f"of another dataset ({previous.get('dataset')})"
    return "run with other limits"


def _say(message: str) -> None:
    print(f"harness execute: {message}", file=sys.stderr, flush=True)


def _resume(out: Path, state: dict[str, Any], n_samples: int) -> dict[int, dict[str, Any]]:
    """What an earlier run in ``out`` already did for these samples; replaces (and says so) the
    results of any other run."""
    state_path = out / "execute_state.json"
    partial_path = out / "results.partial.jsonl"
    results_path = out / "results.jsonl"
    done: dict[int, dict[str, Any]] = {}
    previous: Any = None
    if state_path.exists():
        try:
            previous = json.loads(state_path.read_text())
        except ValueError:
            previous = None
    if previous == state:
        if results_path.exists() and not partial_path.exists():
            rows = read_jsonl(results_path)
            if len(rows) == n_samples:
                done = dict(enumerate(rows))
        else:
            done = _load_partial(partial_path, n_samples)
    elif results_path.exists() or partial_path.exists():
        _say(f"{out} held results {_what_changed(previous, state)}; replacing them")
        partial_path.unlink(missing_ok=True)
        results_path.unlink(missing_ok=True)
        (out / "summary.json").unlink(missing_ok=True)
    state_path.write_text(json.dumps(state, indent=1))
    return done


def execute_samples(config: ExecuteConfig, backend: Backend | None = None,
                    dataset: Dataset | None = None) -> ExecuteResult:
    """Execute a samples file against a dataset; writes results.jsonl and summary.json.

    ``dataset`` overrides ``config.dataset`` (metamorphic runs pass tasks with transformed
    prompts and entry points; they share the original's content hash, hence its reference outputs).
    """
    out = Path(config.out)
    prepare_out(out)
    if dataset is None:
        dataset = load_dataset(config.dataset, config.data_dir)
    samples = read_samples(config.samples, dataset)
    mode = progress_mode(config.progress)
    partial_path = out / "results.partial.jsonl"
    results_path = out / "results.jsonl"
    state = _state(config, dataset, sha256_file(config.samples))
    done: dict[int, dict[str, Any]] = {}
    try:
        done = _resume(out, state, len(samples))
        todo = [s for s in samples if s.position not in done]
        if done and todo and mode != "off":
            _say(f"resuming: {len(done)} of {len(samples)} samples already done")
        described = _run_todo(config, dataset, todo, done, partial_path, mode, backend) if todo else None
        rows = [done[s.position] for s in samples]
        write_jsonl_atomic(results_path, rows)
        partial_path.unlink(missing_ok=True)
        summary = summarize(dataset, rows)
        if backend is not None or described is not None:
            summary["sandbox"] = backend.describe() if backend is not None else described
        write_json_atomic(out / "summary.json", summary, newline=False)
    except KeyboardInterrupt:
        _say(f"interrupted: {len(done)} of {len(samples)} results kept in {out}; rerun to resume")
        raise
    except OSError as exc:
        if exc.errno in _USER_ERRNOS:
            raise _out_error(out, exc, "writing") from None
        raise InfraError(f"{(exc.strerror or str(exc)).lower()} writing {out}/results.jsonl; "
                         f"{len(done)} results kept; rerun to resume") from None
    return ExecuteResult(rows, summary, out)


def _run_todo(config: ExecuteConfig, dataset: Dataset, todo: list[Sample], done: dict[int, dict[str, Any]],
              partial_path: Path, mode: Mode, backend: Backend | None) -> dict[str, Any]:
    """Run the samples not done yet, appending each row to the partial file as it finishes;
    returns the sandbox's description."""
    own_backend = backend is None
    try:
        if backend is None:
            backend = make_backend(config.backend, jobs=config.jobs, limits=config.limits,
                                   **config.backend_options)
    except SandboxUnavailable as exc:
        raise InfraError(str(exc)) from exc
    try:
        # Reference outputs and times (also for assert-style datasets: their time limits).
        needed = sorted({s.task_id for s in todo}, key=list(dataset.tasks).index)
        with progress(mode, len(needed), f"{dataset.name}: reference run") as tick:
            oracles = compute_expected(dataset, backend, tick, task_ids=needed)
        # Longest first (by the canonical solution's time): no straggler at the end of the run.
        ordered = sorted(todo, key=lambda s: -sum(oracles[s.task_id].ref_times))
        results = run_samples(backend, dataset, oracles, ordered)
        try:
            with partial_path.open("a", encoding="utf-8") as fh, \
                    progress(mode, len(ordered), f"{dataset.name}: executing") as tick:
                for sample, row in results:
                    fh.write(json.dumps({"_pos": sample.position, **row}) + "\n")
                    fh.flush()
                    done[sample.position] = row
                    tick()
        finally:  # an error or Ctrl-C here stops the runners now, before the backend is closed
            close = getattr(results, "close", None)
            if close is not None:
                close()
        return backend.describe()
    except SandboxUnavailable as exc:  # the engine died mid-run: exit 3, one line
        raise InfraError(str(exc)) from exc
    finally:
        if own_backend and backend is not None:
            backend.close()


#: A sample is cut into slices of its inputs, run side by side, when it is stateless (see
#: :mod:`harness.execution.purity`) and its task's reference CPU time is at least this share of
#: what each runner has to do in the whole run (and at least ``SLICE_MIN_CPU``): the long samples
#: that would otherwise finish alone while the other runners idle (Mbpp/599: ~45 s in one process).
SLICE_SHARE = 0.25
SLICE_MIN_CPU = 1.0
SLICE_CPU = 0.5  # reference CPU seconds per slice, at least


def plan_slices(dataset: Dataset, oracles: dict[str, TaskOracle], samples: list[Sample],
                jobs: int) -> dict[int, list[tuple[int, int]]]:
    """Which samples run in slices, and each one's ``(first, last)`` input ranges, cut where the
    canonical solution's CPU time is even."""
    if jobs < 2 or not samples:
        return {}
    from harness.execution.purity import stateless

    cost = {s.position: sum(oracles[s.task_id].ref_times) for s in samples if s.task_id in oracles}
    threshold = max(SLICE_MIN_CPU, SLICE_SHARE * sum(cost.values()) / jobs)
    plan: dict[int, list[tuple[int, int]]] = {}
    for s in samples:
        task = dataset.tasks[s.task_id]
        if cost.get(s.position, 0.0) < threshold or task.setup_code or task.residual_asserts:
            continue
        if not stateless(s.program, task.entry_point):
            continue
        times = [max(t, 1e-6) for t in oracles[s.task_id].ref_times]  # a few microseconds read as 0
        total = sum(times)
        k = min(2 * jobs, int(total / SLICE_CPU), len(times))
        if k < 2:
            continue
        bounds: list[tuple[int, int]] = []
        acc, first = 0.0, 0
        for i, t in enumerate(times):
            acc += t
            if acc >= total * (len(bounds) + 1) / k and i + 1 < len(times):
                bounds.append((first, i + 1))
                first = i + 1
        bounds.append((first, len(times)))
        if len(bounds) > 1:
            plan[s.position] = bounds
    return plan


class _Sliced:
    """One sample run as slices: one judge for all of them, fed from every runner's thread."""

    def __init__(self, judge: Judge, job: Job, bounds: list[tuple[int, int]]) -> None:
        self.judge, self.job, self.bounds = judge, job, bounds
        self.lock = threading.Lock()
        self.outcomes: dict[int, Outcome | None] = {}  # by slice's first input; None: not run

    def feed(self, events: list[Event]) -> bool:
        with self.lock:
            self.judge.feed(events)
            return self.judge.decided()

    def done(self) -> bool:
        return len(self.outcomes) == len(self.bounds)

    def frontier(self) -> Outcome:
        """The outcome of the slice that holds the first input not judged correct: the one whose
        time-out, crash or exit explains the verdict."""
        self.judge._advance()
        i = self.judge.next
        ran = [(a, b, o) for (a, b), o in ((ab, self.outcomes.get(ab[0])) for ab in self.bounds) if o is not None]
        return next((o for a, b, o in ran if a <= i < b), ran[-1][2] if i >= self.bounds[-1][1] else ran[0][2])

    def merged(self, sample: Sample) -> dict[str, Any]:
        frontier = self.frontier()
        outcomes = [o for o in (self.outcomes.get(a) for a, _ in self.bounds) if o is not None]
        return _make_row(sample, self.judge.task, self.judge.verdict(frontier), frontier, outcomes)


def _jobs(backend: Backend, dataset: Dataset, oracles: dict[str, TaskOracle],
          samples: list[Sample]) -> tuple[list[Job], dict[int, _Sliced]]:
    """A job per sample, or one per slice (ids ``"position:first"``) for those :func:`plan_slices` cuts."""
    plan = plan_slices(dataset, oracles, samples, backend.jobs)
    jobs: list[Job] = []
    sliced: dict[int, _Sliced] = {}
    for s in samples:
        task = dataset.tasks[s.task_id]
        job = build_job(dataset, task, oracles[s.task_id], s, backend.limits)
        if s.position not in plan:
            jobs.append(job)
            continue
        sliced[s.position] = _Sliced(Judge(task, oracles.get(task.task_id), dataset.has_plus, job.limits, job.runs),
                                     job, plan[s.position])
        jobs += [job.slice(a, b, f"{s.position}:{a}") for a, b in plan[s.position]]
    return jobs, sliced


def run_samples(backend: Backend, dataset: Dataset, oracles: dict[str, TaskOracle],
                samples: list[Sample]) -> Iterator[tuple[Sample, dict[str, Any]]]:
    """Run samples in the sandbox and judge them; yields ``(sample, row)`` as they finish.

    The one place where raw sandbox results become results rows: every backend's runs pass
    through here (a distributed backend calls it on each node, next to the reference outputs).
    A backend with its own ``run_samples`` (``ray``) is such a backend: it is handed the work.
    """
    distributed = getattr(backend, "run_samples", None)
    if distributed is not None:
        yield from distributed(dataset, oracles, samples)
        return
    by_pos = {s.position: s for s in samples}
    jobs, sliced = _jobs(backend, dataset, oracles, samples)
    judges: dict[int, Judge] = {}
    finished: list[_Sliced] = []  # sliced samples whose last slices were skipped

    def slice_of(job: Job) -> _Sliced | None:
        return sliced[int(job.id.split(":")[0])] if isinstance(job.id, str) else None

    def new_judge(job: Job) -> Judge | _Sliced:
        sh = slice_of(job)
        if sh is not None:
            return sh
        task = dataset.tasks[by_pos[job.id].task_id]
        judges[job.id] = judge = Judge(task, oracles.get(task.task_id), dataset.has_plus, job.limits)
        return judge

    def feed() -> Iterator[Job]:
        """Jobs as runners free up; a slice of a sample whose verdict is already known is skipped."""
        for job in jobs:
            sh = slice_of(job)
            if sh is not None:
                with sh.lock:
                    if sh.judge.decided():
                        sh.outcomes[job.first] = None
                        if sh.done():
                            finished.append(sh)
                        continue
            yield job

    # The judges watch the outputs as they stream in: a sample stops at its first wrong output.
    unconfirmed: list[tuple[Job, Outcome | _Sliced, Judge]] = []
    pending: list[_Sliced] = []
    for job, result in backend.run(feed() if sliced else jobs, new_judge):
        sh = slice_of(job)
        if sh is not None:
            with sh.lock:
                if not result.watched:
                    sh.judge.feed(result.events)
                sh.outcomes[job.first] = result
                if sh.done():
                    pending.append(sh)
        else:
            judge = judges.pop(job.id, None)
            if judge is None or not result.watched:  # a backend that does not stream
                new_judge(job)
                judge = judges.pop(job.id)
                judge.feed(result.events)
            if judge.unconfirmed is not None:
                unconfirmed.append((job, result, judge))
            else:
                yield by_pos[job.id], _make_row(by_pos[job.id], judge.task, judge.verdict(result), result)
        yield from _complete(pending, finished, unconfirmed, by_pos)
    yield from _complete(pending, finished, unconfirmed, by_pos)  # slices skipped after the last run
    # Tests that finished over their limit run again, one at a time, once nothing else runs.
    for job, outcome, judge in unconfirmed:
        while judge.unconfirmed is not None:
            [(_, rerun)] = list(backend.run([job.only(judge.unconfirmed)]))
            judge.confirm(rerun)
        sample = by_pos[job.id]
        if isinstance(outcome, _Sliced):
            yield sample, outcome.merged(sample)
        else:
            yield sample, _make_row(sample, judge.task, judge.verdict(outcome), outcome)


def _complete(pending: list[_Sliced], finished: list[_Sliced], unconfirmed: list[tuple[Job, Outcome | _Sliced, Judge]],
              by_pos: dict[int, Sample]) -> Iterator[tuple[Sample, dict[str, Any]]]:
    """Rows of the sliced samples whose slices have all run or been skipped."""
    while finished:
        pending.append(finished.pop())
    while pending:
        sh = pending.pop()
        sample = by_pos[int(sh.job.id)]
        if sh.judge.unconfirmed is not None:
            unconfirmed.append((sh.job, sh, sh.judge))
        else:
            yield sample, sh.merged(sample)


def _make_row(sample: Sample, task: Task, verdict: dict[str, Any], result: Outcome,
              slices: list[Outcome] | None = None) -> dict[str, Any]:
    """The row; a sample run in ``slices``: their time summed, their output in input order."""
    row: dict[str, Any] = {"task_id": sample.task_id, "sample_index": sample.sample_index, **verdict,
                           "category": None, "complete": None}
    runs = slices or [result]
    row["duration_s"] = round(sum(o.wall for o in runs), 4)
    row["attempts"] = max(o.attempts for o in runs)
    if slices:
        row["processes"] = len(slices)
    output = "".join(o.output for o in runs)
    if output:
        row["output"] = output[:1000]
    row.update(sample.meta)
    label(row, sample, task)
    if row["passed"]:
        row["category"] = None
    return row


__all__ = ["ExecuteConfig", "ExecuteResult", "RESULT_KEYS", "build_job", "execute_samples", "judge", "run_samples", "summarize",
           "ORACLE_ASSERT", "Judge"]
