"""Backend-neutral pieces: limits, the worker protocol client and the worker pool.

A backend only has to say how to start one runner process (local bubblewrap, a Docker
container, ...); the pool keeps ``jobs`` of them busy, replaces one that dies and retries its
sample, and gives a sample that keeps killing runners a failing verdict that names what happened.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from sandbox import runner as _runner

RUNNER_PATH = Path(_runner.__file__).resolve()

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)  # results may hold integers of any size (HumanEval/139)

GiB = 1024**3
MiB = 1024**2


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
    max_total: float = 60.0  # evalplus's per-run cap (base and plus each), wall seconds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class WorkerDied(Exception):
    """The runner process went away (killed by its candidate, out of memory, ...)."""


class Worker:
    """Client side of one runner process speaking the frame protocol over pipes."""

    def __init__(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.env = env
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=self.env,
        )
        assert self.proc.stdout is not None
        _runner.widen_pipe(self.proc.stdout.fileno())
        try:
            hello = self._read()
        except WorkerDied as exc:
            err = self._stderr_tail()
            raise WorkerDied(f"{self.name} failed to start: {err or exc}") from exc
        if hello.get("t") != "hello":
            raise WorkerDied(f"{self.name}: unexpected greeting {hello!r}")
        self.info = hello

    def _stderr_tail(self) -> str:
        if self.proc is None or self.proc.stderr is None:
            return ""
        try:
            if self.proc.poll() is None:
                return ""
            return self.proc.stderr.read().decode("utf-8", "replace").strip().splitlines()[-1:][0]
        except (OSError, IndexError):
            return ""

    def _read(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            msg = _runner.read_frame(self.proc.stdout.fileno())
        except (OSError, ValueError) as exc:
            raise WorkerDied(str(exc)) from exc
        if msg is None:
            raise WorkerDied("runner closed its channel")
        return _runner.attach_outputs(msg)

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            raise WorkerDied("runner is not running")
        assert self.proc.stdin is not None
        try:
            meta, blobs = _runner.job_frame(job)
            _runner.write_frame(self.proc.stdin.fileno(), meta, blobs)
        except OSError as exc:
            raise WorkerDied(str(exc)) from exc
        return self._read()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                try:
                    _runner.write_frame(self.proc.stdin.fileno(), {"op": "exit"})
                except OSError:
                    pass
                try:
                    self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, 9)
                except OSError:
                    self.proc.kill()
                self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self.proc = None


class Backend(Protocol):
    """What the harness needs from a sandbox backend."""

    name: str
    jobs: int
    limits: Limits

    def describe(self) -> dict[str, Any]: ...

    def run(self, jobs: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]: ...

    def close(self) -> None: ...


class PoolBackend:
    """A pool of long-lived runners; subclasses say how to start one (``make_worker``)."""

    name = "pool"
    max_attempts = 3

    def __init__(self, jobs: int | None = None, limits: Limits | None = None) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.limits = limits or Limits()
        self.replaced = 0
        self._workers: list[Worker] = []
        self._lock = threading.Lock()

    # -- to override
    def make_worker(self, index: int) -> Worker:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "jobs": self.jobs, "limits": self.limits.to_dict()}

    # -- machinery
    def _start_worker(self, index: int) -> Worker:
        worker = self.make_worker(index)
        worker.start()
        return worker

    def run(self, jobs: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Run jobs on the pool; yields ``(job, raw_result)`` as they finish (any order)."""
        todo: queue.Queue[dict[str, Any] | None] = queue.Queue()
        done: queue.Queue[tuple[dict[str, Any], dict[str, Any]] | BaseException] = queue.Queue()
        stop = threading.Event()
        jobs_list = list(jobs)
        for job in jobs_list:
            todo.put(job)
        n_threads = min(self.jobs, max(1, len(jobs_list)))
        for _ in range(n_threads):
            todo.put(None)

        threads = []
        holders: list[dict[str, Worker | None]] = [{"w": None} for _ in range(n_threads)]

        def thread_main(index: int) -> None:
            holder = holders[index]
            try:
                while not stop.is_set():
                    job = todo.get()
                    if job is None:
                        return
                    done.put((job, self._run_with_retries(index, job, holder)))
            except BaseException as exc:
                done.put(exc)
            finally:
                w = holder["w"]
                if w is not None:
                    with self._lock:
                        if w in self._workers:
                            self._workers.remove(w)
                    w.close()

        for i in range(n_threads):
            t = threading.Thread(target=thread_main, args=(i,), daemon=True, name=f"sandbox-{i}")
            t.start()
            threads.append(t)
        try:
            for _ in range(len(jobs_list)):
                item = done.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            # unblock threads waiting for work
            for _ in range(n_threads):
                todo.put(None)
            for w in list(self._workers):
                w.close()
            for t in threads:
                t.join(timeout=5)

    def _run_with_retries(self, index: int, job: dict[str, Any], holder: dict[str, Worker | None]) -> dict[str, Any]:
        reasons: list[str] = []
        for attempt in range(self.max_attempts):
            worker = holder["w"]
            if worker is None or not worker.alive():
                if worker is not None:
                    worker.close()
                    with self._lock:
                        if worker in self._workers:
                            self._workers.remove(worker)
                    self.replaced += 1
                worker = self._start_worker(index)
                holder["w"] = worker
                with self._lock:
                    self._workers.append(worker)
            try:
                result = worker.run(job)
                result["attempts"] = attempt + 1
                return result
            except WorkerDied as exc:
                reasons.append(str(exc))
                worker.close()
                holder["w"] = None
                with self._lock:
                    if worker in self._workers:
                        self._workers.remove(worker)
                self.replaced += 1
                time.sleep(0.05 * (attempt + 1))
        return {
            "t": "result",
            "events": [],
            "finished": False,
            "timeout": None,
            "protocol_error": None,
            "crashed": f"the sample killed its sandbox runner {self.max_attempts} times ({reasons[-1] if reasons else 'unknown'})",
            "output": "",
            "attempts": self.max_attempts,
        }

    def close(self) -> None:
        for w in list(self._workers):
            w.close()
        self._workers.clear()

    def __enter__(self) -> PoolBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
