"""Expected outputs and reference times, computed once from the canonical solutions.

The canonical solutions run through the same sandbox as candidates (so reference times are
measured under the same conditions, in CPU seconds), and the result is cached on disk by the
dataset's content hash, the runner's protocol and the Python version.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS

from harness.datasets import Dataset, Task
from harness.errors import InfraError
from sandbox import runner as _runner
from sandbox.pool import Backend

CACHE_ENV = "HARNESS_CACHE_DIR"


def cache_root() -> Path:
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distill-harness"


@dataclass
class TaskOracle:
    """Per task: encoded expected outputs and reference CPU times, base then plus."""

    expected: list[Any]  # encoded values (sandbox.runner.encode), base then plus
    ref_times: list[float]
    canonical_ok: bool
    note: str = ""


def runner_fingerprint() -> str:
    return hashlib.sha256(Path(_runner.__file__).read_bytes()).hexdigest()[:12]


def not_none_task(task: Task) -> bool:
    return task.extra.get("family") == "mbpp" and task.entry_point in MBPP_OUTPUT_NOT_NONE_TASKS


def all_inputs(task: Task) -> list[list[Any]]:
    return [t.args for t in task.base_tests] + [t.args for t in task.plus_tests or ()]


_ENCODED: dict[tuple[str, str], list[Any]] = {}


def encoded_inputs(dataset: Dataset, task: Task) -> list[Any]:
    key = (dataset.content_hash, task.task_id)
    if key not in _ENCODED:
        _ENCODED[key] = [_runner.encode(list(args)) for args in all_inputs(task)]
    return _ENCODED[key]


def canonical_job(dataset: Dataset, task: Task, limits: dict[str, Any]) -> dict[str, Any]:
    n = len(all_inputs(task))
    return {
        "op": "run",
        "id": task.task_id,
        "code": task.canonical_program,
        "setup": task.setup_code,
        "entry_point": task.entry_point,
        "inputs": encoded_inputs(dataset, task),
        "limits": [60.0] * n,
        "default_limit": 60.0,
        "fast": False,
        "not_none": not_none_task(task),
        "wall_total": 600.0,
        "cpu_total": 600.0,
        "asserts": task.residual_asserts,
        **limits,
    }


def compute_expected(dataset: Dataset, backend: Backend, progress: Any = None,
                     task_ids: list[str] | None = None) -> dict[str, TaskOracle]:
    """Run the canonical solutions of ``task_ids`` (default: all) once; cached on disk per task."""
    key = f"{dataset.name.replace('+', 'plus')}-{dataset.content_hash[:16]}-{runner_fingerprint()}-py{sys.version_info.major}{sys.version_info.minor}"
    path = cache_root() / "expected" / f"{key}.json"
    wanted = list(task_ids) if task_ids is not None else list(dataset.tasks)
    cached: dict[str, TaskOracle] = {}
    if path.exists():
        try:
            cached = {tid: TaskOracle(**v) for tid, v in json.loads(path.read_text()).items()}
        except (ValueError, TypeError):
            cached = {}
    missing = [t for t in wanted if t not in cached]
    if missing:
        limit_fields = {k: v for k, v in backend.limits.to_dict().items()
                        if k in ("memory_bytes", "file_bytes", "open_files", "nproc", "output_bytes")}
        # Most inputs first: the heavy reference runs start early and overlap the light ones.
        order = sorted(missing, key=lambda t: -len(all_inputs(dataset.tasks[t])))
        jobs = [canonical_job(dataset, dataset.tasks[t], limit_fields) for t in order]
        for job, result in backend.run(jobs):
            task = dataset.tasks[job["id"]]
            cached[task.task_id] = _oracle_from(task, result)
            if progress is not None:
                progress()
        # Merge with what another process may have written meanwhile, then replace atomically.
        if path.exists():
            try:
                for tid, v in json.loads(path.read_text()).items():
                    cached.setdefault(tid, TaskOracle(**v))
            except (ValueError, TypeError):
                pass
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({k: vars(v) for k, v in cached.items()}))
        os.replace(tmp, path)
    return {t: cached[t] for t in wanted}


def _oracle_from(task: Task, result: dict[str, Any]) -> TaskOracle:
    n = len(all_inputs(task))
    expected: list[Any] = [{"$u": "canonical solution raised"}] * n
    times = [0.0] * n
    notes = []
    for ev in result.get("events", []):
        i = ev.get("i")
        if ev.get("t") == "R" and isinstance(i, int) and 0 <= i < n:
            expected[i] = ev.get("out")
            times[i] = float(ev.get("cpu") or 0.0)
        elif ev.get("t") == "X":
            notes.append(f"{ev.get('phase')}[{i}]: {ev.get('type')}: {ev.get('msg')}")
    ok = bool(result.get("finished")) and not notes
    if result.get("crashed"):
        raise InfraError(f"canonical solution of {task.task_id} crashed the sandbox: {result['crashed']}")
    if result.get("timeout"):
        notes.append(f"timeout: {result['timeout']}")
        ok = False
    return TaskOracle(expected=expected, ref_times=times, canonical_ok=ok, note="; ".join(notes))
