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
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path
from typing import Any

from sandbox import runner as _runner
from sandbox.protocol import (
    Backend,
    Event,
    GiB,
    Job,
    Limits,
    MiB,
    Outcome,
    Watch,
    WatchFactory,
    decode_events,
)

RUNNER_PATH = Path(_runner.__file__).resolve()

__all__ = ["RUNNER_PATH", "Backend", "GiB", "Limits", "MiB", "PoolBackend", "Worker", "WorkerDied"]

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)  # results may hold integers of any size (HumanEval/139)

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
        self._polite = True  # close(): ask the runner to exit first (abort() does not)
        self._proc_lock = threading.Lock()

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

    def _read(self, deadline: float | None = None) -> dict[str, Any]:
        """The next frame from the runner (``deadline``: the Docker worker's; pipes need none)."""
        assert self.proc is not None and self.proc.stdout is not None
        try:
            msg = _runner.read_frame(self.proc.stdout.fileno())
        except (OSError, ValueError) as exc:
            raise WorkerDied(str(exc)) from exc
        if msg is None:
            raise WorkerDied("runner closed its channel")
        return msg  # type: ignore[no-any-return]

    def _send(self, meta: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> None:
        if self.proc is None or self.proc.poll() is not None or self.proc.stdin is None:
            raise WorkerDied("runner is not running")
        try:
            _runner.write_frame(self.proc.stdin.fileno(), meta, blobs)
        except OSError as exc:
            raise WorkerDied(str(exc)) from exc

    def run(self, job: Job, watch: Watch | None = None) -> Outcome:
        """Run one job. With ``watch``, its events stream in and are fed to it as they arrive;
        when it says so, the runner is told to stop the sample (the rest cannot matter)."""
        if not self.alive():
            raise WorkerDied("runner is not running")
        meta, blobs = job.frame()
        if watch is not None:
            meta["stream"] = True
        self._send(meta, blobs)
        deadline = time.monotonic() + job.wall_total * 1.25 + 60.0
        events: list[Event] = []
        stopping = False
        while True:
            msg = self._read(deadline)
            new = decode_events(msg.get("events"), msg.get("_blobs") or [])
            events += new
            if watch is not None and new and watch.feed(new) and not stopping:
                self._send({"op": "stop"})
                stopping = True
            if msg.get("t") != "ev":
                outcome = Outcome.from_frame(msg)
                outcome.events = events
                outcome.watched = watch is not None
                return outcome

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def abort(self) -> None:
        """Stop now (Ctrl-C, an error elsewhere): kill the runner without asking it to exit."""
        self._polite = False
        self.close()

    def close(self) -> None:
        with self._proc_lock:  # the pool thread and the pool's cleanup may both close a worker
            proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if self._polite and proc.poll() is None and proc.stdin is not None:
                try:
                    _runner.write_frame(proc.stdin.fileno(), {"op": "exit"})
                except OSError:
                    pass
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 9)
                except OSError:
                    proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


class PoolBackend(Backend):
    """A pool of long-lived runners; subclasses say how to start one (``make_worker``)."""

    name = "pool"
    max_attempts = 3

    def __init__(self, jobs: int | None = None, limits: Limits | None = None) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.limits = limits or Limits()
        self.replaced = 0
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # set when a run is abandoned: start no more runners

    # -- to override
    def make_worker(self, index: int) -> Worker:
        raise NotImplementedError

    # -- machinery
    def _start_worker(self, index: int) -> Worker:
        if self._stopping.is_set():
            raise WorkerDied("the run was stopped")
        worker = self.make_worker(index)
        worker.start()
        if self._stopping.is_set():  # stopped while it started
            worker.abort()
            raise WorkerDied("the run was stopped")
        return worker

    def run(self, jobs: Iterable[Job], watch: WatchFactory | None = None) -> Iterator[tuple[Job, Outcome]]:
        """Run jobs on the pool; yields ``(job, outcome)`` as they finish (any order).

        ``jobs`` is consumed lazily, one job per free runner, so a long-lived feed (a Ray node's
        queue) keeps the same runners for as long as it lasts.
        """
        done: queue.Queue[tuple[Job, Outcome] | BaseException | None] = queue.Queue()
        stop = threading.Event()
        self._stopping.clear()
        finished = False
        source = iter(jobs)
        source_lock = threading.Lock()
        n_threads = min(self.jobs, max(1, len(jobs))) if isinstance(jobs, Sized) else self.jobs
        holders: list[dict[str, Worker | None]] = [{"w": None} for _ in range(n_threads)]

        def next_job() -> Job | None:
            with source_lock:
                return None if stop.is_set() else next(source, None)

        def thread_main(index: int) -> None:
            holder = holders[index]
            try:
                while not stop.is_set():
                    job = next_job()
                    if job is None:
                        return
                    done.put((job, self._run_with_retries(index, job, holder, watch)))
            except BaseException as exc:
                done.put(exc)
            finally:
                w = holder["w"]
                if w is not None:
                    with self._lock:
                        if w in self._workers:
                            self._workers.remove(w)
                    w.close()
                done.put(None)  # this thread is done

        threads = []
        for i in range(n_threads):
            t = threading.Thread(target=thread_main, args=(i,), daemon=True, name=f"sandbox-{i}")
            t.start()
            threads.append(t)
        try:
            running = n_threads
            while running:
                item = done.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
            finished = True
        finally:
            stop.set()
            if not finished:  # Ctrl-C or an error in the consumer: kill the runners, no retries
                self._stopping.set()
                with self._lock:
                    aborted = list(self._workers)
                for w in aborted:
                    w.abort()
            for w in list(self._workers):
                w.close()
            for t in threads:
                t.join(timeout=5)

    def _run_with_retries(self, index: int, job: Job, holder: dict[str, Worker | None],
                          watch: WatchFactory | None = None) -> Outcome:
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
                outcome = worker.run(job, watch(job) if watch is not None else None)  # fresh per attempt
                outcome.attempts = attempt + 1
                return outcome
            except WorkerDied as exc:
                reasons.append(str(exc))
                worker.close()
                holder["w"] = None
                with self._lock:
                    if worker in self._workers:
                        self._workers.remove(worker)
                self.replaced += 1
                time.sleep(0.05 * (attempt + 1))
        return Outcome.runner_crashed(
            f"the sample killed its sandbox runner {self.max_attempts} times ({reasons[-1] if reasons else 'unknown'})",
            self.max_attempts)

    def close(self) -> None:
        for w in list(self._workers):
            w.close()
        self._workers.clear()

