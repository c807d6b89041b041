"""A reference ``run_outputs`` for the dynamic validity check: each program runs in a fresh
Python subprocess on its task's inputs and reports ``repr`` of every output.

This is a seam, not the sandbox: :func:`harness.metamorphic.validate` takes any callable of
the :data:`RunOutputs` shape, and the harness plugs in its sandboxed executor. This runner is
for trusted programs only (the datasets' canonical solutions and their transforms).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

ProgramSpec = tuple[str, str, str]
"""(task_id, full program, entry point)."""

RunOutputs = Callable[[list[ProgramSpec]], list[list[Any] | None]]
"""Runs programs on their task's inputs: per program, its encoded outputs (one per input, in
input order; any encoding, compared with ``==``), or None when it could not run."""

_CHILD = r"""
import contextlib, hashlib, io, json, sys
try:
    sys.set_int_max_str_digits(0)
except AttributeError:
    pass

def encode(value):
    # Huge ints (HumanEval/83 returns 18 * 10 ** (n - 2)): decimal repr is quadratic; hash
    # the bytes instead.
    if type(value) is int and value.bit_length() > 4096:
        raw = value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True)
        return "int:" + hashlib.sha256(raw).hexdigest()
    return repr(value)

job = json.loads(sys.stdin.read())
ns = {"__name__": "__metamorphic__"}
out = []
with contextlib.redirect_stdout(io.StringIO()):
    exec(compile(job["program"], "<program>", "exec"), ns)
    fn = ns[job["entry_point"]]
    for args in job["inputs"]:
        try:
            out.append(encode(fn(*args)))
        except Exception as exc:
            out.append("!" + type(exc).__name__)
sys.__stdout__.write(json.dumps(out))
"""


def dataset_inputs(tasks: Iterable[Any], which: str = "all") -> dict[str, list[list[Any]]]:
    """Inputs per task id: ``base``, ``plus`` or ``all`` (base then plus). Reads the
    ``base_inputs``/``plus_inputs`` of ``harness.data.datasets.Task`` or the raw evalplus
    ``base_input``/``plus_input`` fields."""
    if which not in ("base", "plus", "all"):
        raise ValueError(f"which must be base, plus or all, not {which!r}")
    out: dict[str, list[list[Any]]] = {}
    for task in tasks:
        base = _field(task, "base_inputs", "base_input")
        plus = _field(task, "plus_inputs", "plus_input")
        chosen = {"base": base, "plus": plus, "all": base + plus}[which]
        task_id = task["task_id"] if isinstance(task, Mapping) else task.task_id
        out[task_id] = [list(args) for args in chosen]
    return out


def _field(task: Any, *names: str) -> list[Any]:
    for name in names:
        value = task.get(name) if isinstance(task, Mapping) else getattr(task, name, None)
        if value is not None:
            return list(value)
    return []


def run_program(
    program: str, entry_point: str, inputs: Sequence[Sequence[Any]], timeout: float = 60.0
) -> list[str] | None:
    """Outputs of ``entry_point`` on every input (``repr``, a hash for huge ints, or
    ``!ExceptionName``); None when
    the program does not load, crashes the interpreter or runs past ``timeout`` seconds.
    ``PYTHONHASHSEED`` is fixed so set iteration order is reproducible across runs."""
    job = json.dumps({"program": program, "entry_point": entry_point, "inputs": list(inputs)})
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=job,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        return None
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return None
    return result if isinstance(result, list) else None


def subprocess_runner(
    inputs: Mapping[str, Sequence[Sequence[Any]]],
    *,
    timeout: float = 60.0,
    jobs: int | None = None,
) -> RunOutputs:
    """A :data:`RunOutputs` running each program in its own subprocess, ``jobs`` at a time."""
    workers = jobs or max(1, os.cpu_count() or 1)

    def run(programs: list[ProgramSpec]) -> list[list[Any] | None]:
        def one(spec: ProgramSpec) -> list[Any] | None:
            task_id, program, entry_point = spec
            return run_program(program, entry_point, inputs.get(task_id, []), timeout)

        if workers == 1 or len(programs) <= 1:
            return [one(p) for p in programs]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, programs))

    return run
