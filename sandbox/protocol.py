"""The host's side of the sandbox protocol, typed: jobs, events, outcomes and the Backend base.

Standard library only, like the rest of ``sandbox/``. The wire format itself (frames, the
value codec) lives in :mod:`sandbox.runner`, which must stay a single file the sandbox image
can carry; this module is the one place where jobs are built and where the runner's frames
are decoded into typed records, so no other package reads event fields by hand.
"""

from __future__ import annotations

import abc
import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sandbox import runner as _runner

GiB = 1024**3
MiB = 1024**2

#: CPU seconds per test for runs whose outputs are recorded rather than judged (the canonical
#: solutions; generous: a reference run must not time out).
REFERENCE_TEST_LIMIT = 60.0
REFERENCE_TOTAL = 600.0
#: The same for transformed programs whose outputs are only compared with each other
#: (metamorphic validity): slow enough to be suspicious, fast enough not to stall a run.
UNJUDGED_TEST_LIMIT = 20.0
#: A test may run to (1 + TIME_GRACE) x its CPU limit before the runner kills it. One that
#: finishes over its limit is a time-out only once confirmed (see ``harness.execution.execute.Judge``);
#: one killed at the grace is a time-out at once: CPU-time inflation under load was seen up to
#: 25 %, so only a test that needs more than its limit alone gets that far.
TIME_GRACE = 0.5
#: A run (the base inputs, or the plus inputs) may spend ``min(Limits.max_total, sum of its inputs'
#: limits) + RUN_SLACK`` CPU seconds on its tests: evalplus 0.3.1 gives each run's process
#: ``min(60, sum(limits)) + 1`` seconds and joins it one second later (``untrusted_check``), then
#: calls the run a time-out. The runner stops the run there (no grace: it costs no more than
#: evalplus's cap); see the README's time-out section.
RUN_SLACK = 2.0
#: Bytes of an ``R`` event whose output the server lost (never produced by an honest runner).
MISSING_OUTPUT = b'{"$u":"missing output"}'


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sample (applied in the child that runs candidate code)."""

    memory_bytes: int = 4 * GiB  # address space, like evalplus's default
    file_bytes: int = 64 * MiB  # largest file a sample may write
    tmpfs_bytes: int = 256 * MiB  # size of the sample's /tmp (bubblewrap / Docker tmpfs)
    open_files: int = 64
    nproc: int = 64  # processes per runner (needs a non-root uid to be enforced)
    output_bytes: int = 8192  # stdout+stderr kept per sample
    exec_limit: float = 10.0  # CPU seconds to compile and import the program
    assert_limit: float = 10.0  # CPU seconds for residual assert code
    wall_factor: float = 3.0  # wall-clock backstop = wall_factor x CPU limit + 1 s
    min_time_limit: float = 1.0  # per-test CPU limit = max(min_time_limit, factor x t_ref)
    time_limit_factor: float = 4.0
    max_total: float = 60.0  # evalplus's per-run cap (base and plus each): CPU seconds here (see RUN_SLACK)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def per_test(self, ref_times: list[float]) -> list[float]:
        """CPU limit of each test from the reference solution's CPU time on it."""
        return [max(self.min_time_limit, self.time_limit_factor * t) for t in ref_times]

    def process_fields(self) -> dict[str, int]:
        """The limits the child process applies to itself (rlimits, captured output)."""
        return {"memory_bytes": self.memory_bytes, "file_bytes": self.file_bytes, "open_files": self.open_files,
                "nproc": self.nproc, "output_bytes": self.output_bytes}


# ----------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """One program run on a task's inputs (optionally a slice ``first:last`` of them).

    ``fast`` jobs stop at the first exception (candidates); others run every input and record
    each output (reference runs). ``cpu_budget`` pauses a run after that much CPU (``Paused``).
    """

    id: Any
    code: str
    entry_point: str
    inputs_json: bytes
    n_inputs: int
    limits: list[float]
    setup: str = ""
    asserts: str = ""
    fast: bool = True
    not_none: bool = False
    default_limit: float = 1.0
    exec_limit: float = 10.0
    assert_limit: float = 10.0
    wall_factor: float = 3.0
    wall_total: float = 120.0
    cpu_total: float = 60.0
    first: int = 0
    last: int | None = None
    cpu_budget: float | None = None
    grace: float = 0.0
    runs: list[tuple[int, int, float]] = field(default_factory=list)  # (first, last, CPU budget) per run
    process: dict[str, int] = field(default_factory=dict)

    @classmethod
    def candidate(cls, id: Any, code: str, entry_point: str, inputs_json: bytes, ref_times: list[float],
                  n_base: int, limits: Limits, setup: str = "", asserts: str = "", not_none: bool = False) -> Job:
        """A sample to judge: per-test limits from the reference times, evalplus's per-run caps."""
        per_test = limits.per_test(ref_times)
        grace = 1.0 + TIME_GRACE
        base_cap = min(limits.max_total + RUN_SLACK, grace * sum(per_test[:n_base]) + 1.0)
        plus_cap = min(limits.max_total + RUN_SLACK, grace * sum(per_test[n_base:]) + 1.0) if len(per_test) > n_base else 0.0
        total = limits.exec_limit + base_cap + plus_cap + (limits.assert_limit if asserts else 0.0)
        runs = [(a, b, min(limits.max_total, sum(per_test[a:b])) + RUN_SLACK)
                for a, b in ((0, n_base), (n_base, len(per_test))) if b > a]
        return cls(id=id, code=code, entry_point=entry_point, inputs_json=inputs_json, n_inputs=len(per_test),
                   limits=per_test, setup=setup, asserts=asserts, fast=True, not_none=not_none,
                   default_limit=limits.min_time_limit, exec_limit=limits.exec_limit,
                   assert_limit=limits.assert_limit, wall_factor=limits.wall_factor,
                   wall_total=total * limits.wall_factor, cpu_total=total, grace=TIME_GRACE, runs=runs,
                   process=limits.process_fields())

    def only(self, i: int) -> Job:
        """The same program on input ``i`` alone (to confirm a time-out)."""
        return dataclasses.replace(self, first=i, last=i + 1, asserts="")

    def slice(self, first: int, last: int, id: Any) -> Job:
        """The same program on inputs ``first:last`` (a stateless sample's inputs run side by
        side); the residual asserts go with the last slice."""
        return dataclasses.replace(self, id=id, first=first, last=last,
                                   asserts=self.asserts if last >= self.n_inputs else "")

    @classmethod
    def recording(cls, id: Any, code: str, entry_point: str, inputs_json: bytes, n_inputs: int, limits: Limits,
                  setup: str = "", asserts: str = "", not_none: bool = False,
                  per_test: float = REFERENCE_TEST_LIMIT, first: int = 0, last: int | None = None,
                  cpu_budget: float | None = None) -> Job:
        """A run whose outputs are recorded, not judged: every input, generous limits."""
        last = n_inputs if last is None else last
        return cls(id=id, code=code, entry_point=entry_point, inputs_json=inputs_json, n_inputs=n_inputs,
                   limits=[per_test] * n_inputs, setup=setup, asserts=asserts if last == n_inputs else "",
                   fast=False, not_none=not_none, default_limit=per_test, wall_total=REFERENCE_TOTAL,
                   cpu_total=REFERENCE_TOTAL, first=first, last=last, cpu_budget=cpu_budget,
                   process=limits.process_fields())

    def frame(self) -> tuple[dict[str, Any], list[bytes]]:
        """The ``run`` frame the server reads: the inputs travel as one opaque blob."""
        meta: dict[str, Any] = {"op": "run", "id": self.id, "code": self.code, "setup": self.setup,
                                "entry_point": self.entry_point, "n_inputs": self.n_inputs,
                                "limits": self.limits, "default_limit": self.default_limit,
                                "exec_limit": self.exec_limit, "assert_limit": self.assert_limit,
                                "wall_factor": self.wall_factor, "wall_total": self.wall_total,
                                "cpu_total": self.cpu_total, "fast": self.fast, "not_none": self.not_none,
                                "asserts": self.asserts, "first": self.first, **self.process}
        if self.last is not None:
            meta["last"] = self.last
        if self.cpu_budget is not None:
            meta["cpu_budget"] = self.cpu_budget
        if self.grace:
            meta["grace"] = self.grace
        if self.runs:
            meta["runs"] = [list(r) for r in self.runs]
        return meta, [self.inputs_json]


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Output:
    """Input ``i`` returned; ``raw`` is the output's encoding, compared byte for byte first."""

    i: int
    cpu: float
    floats: bool  # evalplus's is_floats(output): meaningful for reference runs only
    raw: bytes

    def value(self) -> Any:
        return _runner.decode(json.loads(self.raw))


@dataclass(frozen=True)
class Raised:
    """An exception in ``phase`` (compile, exec, setup, entry, call, assert); ``i`` for calls."""

    phase: str
    i: int | None
    type: str
    msg: Any = None
    chain: Any = None
    deepest: Any = None


@dataclass(frozen=True)
class Paused:
    """A run with a CPU budget stopped before input ``i``."""

    i: int


@dataclass(frozen=True)
class AssertsPassed:
    """The residual assert code ran without an exception."""


Event = Output | Raised | Paused | AssertsPassed


def decode_event(ev: Any, blobs: list[bytes]) -> Event | None:
    """One wire event as a typed record; None for what no honest runner sends."""
    if isinstance(ev, list) and len(ev) == 4:  # compact R: [i, cpu, fl, blob index]
        i, cpu, fl, k = ev
        raw = blobs[k] if type(k) is int and 0 <= k < len(blobs) else MISSING_OUTPUT
        return Output(i, float(cpu), bool(fl), raw) if type(i) is int else None
    if not isinstance(ev, dict):
        return None
    kind, i = ev.get("t"), ev.get("i")
    index = i if type(i) is int else None
    if kind == "X":
        return Raised(str(ev.get("phase")), index, str(ev.get("type")), ev.get("msg"), ev.get("chain"),
                      ev.get("deepest"))
    if kind == "P" and index is not None:
        return Paused(index)
    if kind == "AOK":
        return AssertsPassed()
    return None


def decode_events(events: Any, blobs: list[bytes]) -> list[Event]:
    if not isinstance(events, list):
        return []
    return [e for e in (decode_event(ev, blobs) for ev in events) if e is not None]


# ----------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Timeout:
    phase: str
    i: int | None
    cpu: float
    wall: float
    limit: float = 0.0  # the CPU limit of the phase or test (the kill came at limit x (1 + grace))
    run_cpu: float = 0.0  # with run_budget: the run's CPU seconds when its budget ran out
    run_budget: float = 0.0  # set when the run's CPU budget (not the test's limit) stopped the sample


@dataclass(frozen=True)
class Exit:
    """How the sample's process ended when it did not finish its protocol."""

    signal: int | None = None
    name: str | None = None
    code: int | None = None


@dataclass
class Outcome:
    """What came back for one job: its events and how the run ended."""

    events: list[Event] = field(default_factory=list)
    finished: bool = False
    timeout: Timeout | None = None
    protocol_error: str | None = None
    crashed: str | None = None  # the pool's reason when the sample kept killing its runner
    exit: Exit | None = None
    output: str = ""
    wall: float = 0.0
    attempts: int = 1
    stopped: bool = False  # the host stopped the sample early (its watch saw a failure)
    watched: bool = False  # a watch was fed every event of this outcome as it arrived

    @classmethod
    def from_frame(cls, msg: dict[str, Any]) -> Outcome:
        """A runner's result frame (``parse_frame`` output, blobs attached)."""
        blobs = msg.get("_blobs") or []
        t = msg.get("timeout")
        e = msg.get("exit")
        return cls(
            events=decode_events(msg.get("events"), blobs),
            finished=bool(msg.get("finished")),
            timeout=Timeout(str(t.get("phase")), t.get("i"), float(t.get("cpu") or 0.0), float(t.get("wall") or 0.0),
                            float(t.get("limit") or 0.0), float(t.get("run_cpu") or 0.0),
                            float(t.get("run_budget") or 0.0))
            if isinstance(t, dict) else None,
            protocol_error=msg.get("protocol_error"),
            exit=Exit(e.get("signal"), e.get("name"), e.get("code")) if isinstance(e, dict) else None,
            output=str(msg.get("output") or ""),
            wall=float(msg.get("wall") or 0.0),
            stopped=bool(msg.get("stopped")),
        )

    @classmethod
    def runner_crashed(cls, reason: str, attempts: int) -> Outcome:
        return cls(crashed=reason, attempts=attempts)

    def outputs(self) -> Iterator[Output]:
        return (e for e in self.events if isinstance(e, Output))

    def raised(self) -> Iterator[Raised]:
        return (e for e in self.events if isinstance(e, Raised))

    def paused_at(self) -> int | None:
        return next((e.i for e in self.events if isinstance(e, Paused)), None)


# ----------------------------------------------------------------------------- files


def pack_record(obj: dict[str, Any], blobs: list[bytes]) -> list[bytes]:
    """A JSON object and byte blobs as one frame (a file's content: the parts, in order)."""
    return _runner.pack_frame(obj, blobs)


def unpack_record(data: bytes) -> dict[str, Any]:
    """Inverse of :func:`pack_record`: the object, with its blobs under ``_blobs``; ValueError
    if the bytes are not one whole frame."""
    header = _runner._HEADER
    if len(data) < header.size:
        raise ValueError("truncated frame")
    meta_len, blob_len = header.unpack_from(data)
    if header.size + meta_len + blob_len != len(data):
        raise ValueError("frame size does not match")
    return _runner.parse_frame(memoryview(data)[header.size:], meta_len)


# ----------------------------------------------------------------------------- backends


class Watch(Protocol):
    """Sees a job's events as they stream in; ``feed`` returns True to stop the job now."""

    def feed(self, events: list[Event]) -> bool: ...


WatchFactory = Callable[[Job], "Watch | None"]


class Backend(abc.ABC):
    """A place to run jobs. One lifecycle: ``start`` (optional: ``run`` starts what it needs),
    ``run`` (any number of times), ``close``. Local, Docker and Ray backends implement it.

    ``run`` yields ``(job, outcome)`` as jobs finish, in any order. With ``watch``, a backend
    that can stream calls ``watch(job)`` once per job and feeds the returned object the job's
    events as they arrive, stopping the job when it says so; a backend that cannot stream may
    ignore it (verdicts are the same, only time is lost).
    """

    name: str = "backend"
    jobs: int = 1
    limits: Limits = Limits()

    def start(self) -> None:  # noqa: B027 - optional hook: run() starts what it needs
        """Acquire what ``run`` needs ahead of time (idempotent)."""

    @abc.abstractmethod
    def run(self, jobs: Iterable[Job], watch: WatchFactory | None = None) -> Iterator[tuple[Job, Outcome]]:
        raise NotImplementedError

    @abc.abstractmethod
    def close(self) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "jobs": self.jobs, "limits": self.limits.to_dict()}

    def __enter__(self) -> Backend:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
