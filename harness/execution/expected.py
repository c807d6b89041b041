"""Expected outputs and reference times, computed once from the canonical solutions.

The canonical solutions run through the same sandbox as candidates (so reference times are
measured under the same conditions, in CPU seconds), and the result is cached on disk by the
dataset's content hash, the runner's protocol and the Python version.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS

from harness.core.errors import InfraError
from harness.data.datasets import Dataset, Task
from harness.execution.oracle import decode_raw
from sandbox import Backend, Job, Limits, Outcome, Output, Raised
from sandbox import runner as _runner

CACHE_ENV = "HARNESS_CACHE_DIR"


def cache_root() -> Path:
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distill-harness"


@dataclass
class TaskOracle:
    """Per task, base then plus: each expected output as the runner's encoded JSON bytes, and
    reference CPU times. Candidates' outputs are compared byte for byte first; values are
    decoded only when the bytes differ (see :meth:`value`)."""

    expected: Sequence[bytes]  # a list, or :class:`Blobs` read from the cache file
    ref_times: list[float]
    canonical_ok: bool
    note: str = ""
    floats: list[bool] = field(default_factory=list)  # evalplus's is_floats(expected), per test
    _values: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)
    _exact: dict[int, bool] = field(default_factory=dict, repr=False, compare=False)

    def value(self, i: int) -> Any:
        if i not in self._values:
            self._values[i] = decode_raw(self.expected[i])
        return self._values[i]

    def exact(self, i: int) -> bool:
        """Identical bytes mean equal values, except for NaN (never equal) and opaque markers."""
        if i not in self._exact:
            raw = self.expected[i]
            self._exact[i] = b'"$f"' not in raw and b'"$u"' not in raw
        return self._exact[i]


def runner_fingerprint() -> str:
    return hashlib.sha256(Path(_runner.__file__).read_bytes()).hexdigest()[:12]


def not_none_task(task: Task) -> bool:
    return task.extra.get("family") == "mbpp" and task.entry_point in MBPP_OUTPUT_NOT_NONE_TASKS


def all_inputs(task: Task) -> list[list[Any]]:
    return [t.args for t in task.base_tests] + [t.args for t in task.plus_tests or ()]


_ENCODED: dict[tuple[str, str], bytes] = {}


def encoded_inputs(dataset: Dataset, task: Task) -> bytes:
    """A task's inputs as the JSON blob jobs carry, built once per task and process."""
    key = (dataset.content_hash, task.task_id)
    if key not in _ENCODED and key in _STORED_INPUTS:  # as cached with the task's expected outputs
        _ENCODED[key] = _STORED_INPUTS.pop(key)[0]
    if key not in _ENCODED:
        encoded = [_runner.encode(list(args)) for args in all_inputs(task)]
        _ENCODED[key] = json.dumps(encoded, separators=(",", ":")).encode("utf-8")
    return _ENCODED[key]


def canonical_job(dataset: Dataset, task: Task, limits: Limits, first: int = 0, last: int | None = None,
                  cpu_budget: float | None = None) -> Job:
    return Job.recording(task.task_id, task.canonical_program, task.entry_point, encoded_inputs(dataset, task),
                         len(all_inputs(task)), limits, setup=task.setup_code, asserts=task.residual_asserts,
                         not_none=not_none_task(task), first=first, last=last, cpu_budget=cpu_budget)


#: Reference runs first get this much CPU per task; a task that needs more is then split into
#: slices run in parallel, so one long task (Mbpp/599: ~30 s) cannot leave the other runners idle
#: at the end of a cold run whose order could not know it was long.
FIRST_SLICE_CPU = 0.5
SLICE_CPU = (0.25, 2.0)  # bounds of the CPU estimate per slice


def _slices(dataset: Dataset, task: Task, result: Outcome, paused_at: int, jobs: int,
            limits: Limits) -> list[tuple[float, Job]]:
    """The rest of a paused reference run, cut into slices of similar estimated CPU time."""
    n = len(all_inputs(task))
    done_cpu = [ev.cpu for ev in result.outputs()]
    per_test = max(sum(done_cpu) / max(1, len(done_cpu)), 1e-4)
    rest = n - paused_at
    target = min(max(per_test * rest / (2 * jobs), SLICE_CPU[0]), SLICE_CPU[1])
    size = max(1, int(target / per_test))
    out = []
    for first in range(paused_at, n, size):
        last = min(n, first + size)
        out.append((per_test * (last - first), canonical_job(dataset, task, limits, first, last)))
    return out


def compute_expected(dataset: Dataset, backend: Backend, progress: Any = None,
                     task_ids: list[str] | None = None) -> dict[str, TaskOracle]:
    """Run the canonical solutions of ``task_ids`` (default: all) once; cached on disk per task."""
    key = f"{dataset.name.replace('+', 'plus')}-{dataset.content_hash[:16]}-{runner_fingerprint()}-py{sys.version_info.major}{sys.version_info.minor}"
    path = cache_root() / "expected" / f"{key}.bin"
    wanted = list(task_ids) if task_ids is not None else list(dataset.tasks)
    cached = _load(path, dataset.content_hash)
    missing = [t for t in wanted if t not in cached]
    if missing:
        limit_fields = backend.limits
        # Most inputs first: the heavy reference runs start early and overlap the light ones.
        order = sorted(missing, key=lambda t: -len(all_inputs(dataset.tasks[t])))
        jobs = [canonical_job(dataset, dataset.tasks[t], limit_fields, cpu_budget=FIRST_SLICE_CPU) for t in order]
        parts: dict[str, list[Outcome]] = {t: [] for t in missing}
        rest: list[tuple[float, Job]] = []
        for job, result in backend.run(jobs):
            tid = job.id
            parts[tid].append(result)
            paused = result.paused_at()
            if paused is not None:
                rest += _slices(dataset, dataset.tasks[tid], result, paused, backend.jobs, limit_fields)
            elif progress is not None:
                progress()
        if rest:
            rest.sort(key=lambda est_job: -est_job[0])  # longest first
            remaining: dict[str, int] = {}
            for _, job in rest:
                remaining[job.id] = remaining.get(job.id, 0) + 1
            for job, result in backend.run([j for _, j in rest]):
                parts[job.id].append(result)
                remaining[job.id] -= 1
                if remaining[job.id] == 0 and progress is not None:
                    progress()
        for tid, results in parts.items():
            cached[tid] = _oracle_from(dataset.tasks[tid], results)
        # Merge with what another process may have written meanwhile, then replace atomically.
        for tid, oracle in _load(path, dataset.content_hash).items():
            cached.setdefault(tid, oracle)
        _store(path, cached, {tid: encoded_inputs(dataset, dataset.tasks[tid]) for tid in cached if tid in dataset.tasks})
    return {t: cached[t] for t in wanted}


_MAGIC = b"DHX2"
_FILE_HEADER = struct.Struct(">4sQ")  # magic, index bytes


class Blobs(Sequence[bytes]):
    """Expected outputs read from the cache file only when a comparison needs them: HumanEval+'s
    are 281 MB (HumanEval/15's strings), and a run of a few samples reads a few of them."""

    def __init__(self, buf: mmap.mmap | bytes, offsets: list[int]) -> None:
        self._buf, self._offsets = buf, offsets  # len(offsets) = len(self) + 1

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> list[bytes]: ...
    def __getitem__(self, i: int | slice) -> bytes | list[bytes]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._buf[self._offsets[i] : self._offsets[i + 1]]

    def __eq__(self, other: object) -> bool:  # equal to the list it was stored from
        if not isinstance(other, (Blobs, list, tuple)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:  # shipped (Ray) as plain bytes
        return list, (list(self),)


#: Each task's inputs as jobs carry them, from the cache file (see :func:`encoded_inputs`).
_STORED_INPUTS: dict[tuple[str, str], Blobs] = {}


def _store(path: Path, oracles: dict[str, TaskOracle], inputs: dict[str, bytes]) -> None:
    """One file: a JSON index (times, notes, blob sizes), then per task its encoded inputs and
    every expected output; written to a temporary name, then renamed over the old one."""
    index: dict[str, Any] = {}
    for tid, o in oracles.items():
        blob = inputs.get(tid)
        index[tid] = {"ref_times": o.ref_times, "canonical_ok": o.canonical_ok, "note": o.note,
                      "floats": o.floats, "sizes": [len(e) for e in o.expected],
                      "inputs": len(blob) if blob is not None else -1}
    meta = json.dumps(index, separators=(",", ":")).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(_FILE_HEADER.pack(_MAGIC, len(meta)) + meta)
        for tid, o in oracles.items():
            blob = inputs.get(tid)
            if blob is not None:
                fh.write(blob)
            for e in o.expected:
                fh.write(e)
    os.replace(tmp, path)


def _load(path: Path, content_hash: str) -> dict[str, TaskOracle]:
    """The cached oracles, their outputs mapped from the file, not read (see :class:`Blobs`).
    Each task's stored inputs go to :data:`_STORED_INPUTS`."""
    try:
        with path.open("rb") as fh:
            magic, meta_len = _FILE_HEADER.unpack(fh.read(_FILE_HEADER.size))
            if magic != _MAGIC:
                return {}
            index = json.loads(fh.read(meta_len))
            size = os.fstat(fh.fileno()).st_size
            buf: mmap.mmap | bytes = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        pos = _FILE_HEADER.size + meta_len
        out = {}
        inputs: dict[tuple[str, str], Blobs] = {}
        for tid, v in index.items():
            n_inputs = int(v["inputs"])
            if n_inputs >= 0:
                inputs[(content_hash, tid)] = Blobs(buf, [pos, pos + n_inputs])
                pos += n_inputs
            offsets = [pos]
            for n in v["sizes"]:
                pos += int(n)
                offsets.append(pos)
            out[tid] = TaskOracle(expected=Blobs(buf, offsets), ref_times=[float(t) for t in v["ref_times"]],
                                  canonical_ok=bool(v["canonical_ok"]), note=str(v["note"]),
                                  floats=[bool(f) for f in v["floats"]])
        if pos != size:
            raise ValueError("cache file size does not match its index")
        _STORED_INPUTS.update(inputs)  # only from a whole file
        return out
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return {}  # absent, or written by another version: recomputed


def _oracle_from(task: Task, results: list[Outcome]) -> TaskOracle:
    """One task's reference from the results of its run (or of its slices, in any order)."""
    n = len(all_inputs(task))
    expected: list[bytes] = [b'{"$u":"canonical solution raised"}'] * n
    times = [0.0] * n
    floats = [False] * n
    seen = [False] * n
    notes = []
    for result in results:
        if result.crashed:
            raise InfraError(f"canonical solution of {task.task_id} crashed the sandbox: {result.crashed}")
        for ev in result.events:
            if isinstance(ev, Output) and 0 <= ev.i < n:
                expected[ev.i] = ev.raw
                times[ev.i] = ev.cpu
                floats[ev.i] = ev.floats
                seen[ev.i] = True
            elif isinstance(ev, Raised):
                notes.append(f"{ev.phase}[{ev.i}]: {ev.type}: {ev.msg}")
        if result.timeout:
            notes.append(f"timeout: {result.timeout}")
    ok = all(r.finished for r in results) and all(seen) and not notes
    if not all(seen) and not notes:
        notes.append(f"no output for input {seen.index(False)}")
    return TaskOracle(expected=expected, ref_times=times, canonical_ok=ok, note="; ".join(notes), floats=floats)
