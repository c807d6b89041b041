"""``--backend ray``: samples run and are judged on the nodes of a Ray cluster.

Receiving a sample's raw outcome and judging it costs the host about 7 ms of CPU on HumanEval+
(docs/scale.md), so a driver that judged every sample would cap the whole cluster near 140
samples per second. Instead each node hosts one
actor (:class:`NodeExecutor`) that owns the node's own sandbox (the local bubblewrap pool by
default) and calls :func:`harness.execution.execute.run_samples` next to it; the reference outputs reach
every node once through Ray's object store, and only finished rows travel back. The driver
(:class:`RayBackend`) hands out chunks of samples, longest first, in chunks that shrink as the
work runs out, and keeps ordering, writing and resuming exactly as for the local backend
(:func:`harness.execution.execute.execute_samples`).

Faults: the samples of a node or actor that dies mid-run are resubmitted to the others (each
then alone in its chunk, so that blame is exact); rows already received are kept and a late
duplicate is dropped; a sample in flight through ``max_attempts`` deaths gets a failing
``SandboxError`` verdict naming what happened, like a sample that keeps killing its runner on
one machine. The driver's own death is covered by ``execute_samples``' partial results.

A test that finished over its CPU limit is run again alone by ``run_samples`` to confirm the
time-out; on a node that happens once the rest of its chunk has finished, while the node's other
chunks keep running (the limits are CPU seconds, so their load barely moves the measure).

Ray is imported only when this backend is used; ``sandbox/`` never sees it.
"""

from __future__ import annotations

import collections
import math
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox import Backend, Job, Limits, Outcome, SandboxUnavailable, Watch, WatchFactory

#: Rows a node sends back in one message, and how long it may hold a finished row.
BATCH_ROWS = 64
BATCH_WAIT_S = 0.2
#: Chunks: about this many per node over the run (smaller as the work runs out), within bounds.
CHUNKS_PER_NODE = 4
CHUNK_BOUNDS = (4, 256)
#: Concurrent chunk calls one actor accepts (single-sample chunks after a fault need many).
MAX_CALLS = 32
#: How often the driver looks for nodes that joined the cluster mid-run.
NEW_NODE_CHECK_S = 10.0
ACTOR_START_TIMEOUT_S = 300.0


# ----------------------------------------------------------------------------- on each node


class NodeExecutor:
    """One per node: the node's sandbox, fed by one long-lived run, and judging next to it.

    Runners live as long as the run that started them (bubblewrap's ``--die-with-parent``), so
    every chunk joins one run that lasts as long as the actor: no runner start per chunk, and no
    idle runner between chunks while the driver keeps the node's queue filled.
    """

    def __init__(self, backend: str, jobs: int | None, limits: Limits) -> None:
        from harness.core.registry import make_backend

        self.backend = make_backend(backend, jobs=jobs, limits=limits)
        self._feed: queue.Queue[Job | None] = queue.Queue()
        self._routes: dict[int, queue.Queue[Any]] = {}
        self._watches: dict[int, WatchFactory] = {}
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._contexts: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._context_lock = threading.Lock()
        threading.Thread(target=self._dispatch, daemon=True, name="node-sandbox").start()

    # -- the one long-lived run
    def _jobs(self) -> Iterator[Job]:
        while True:
            job = self._feed.get()
            if job is None:
                return
            yield job

    def _dispatch(self) -> None:
        try:
            for job, result in self.backend.run(self._jobs(), self._watch):
                with self._lock:
                    route = self._routes.pop(id(job))
                    self._watches.pop(id(job), None)
                route.put((job, result))
        except BaseException as exc:  # the node's sandbox broke: every waiting chunk fails
            with self._lock:
                self._error = exc
                routes = list(self._routes.values())
                self._routes.clear()
            for route in routes:
                route.put(exc)

    def _watch(self, job: Job) -> Watch | None:
        factory = self._watches.get(id(job))
        return factory(job) if factory is not None else None

    def submit(self, jobs: list[Job], watch: WatchFactory | None = None) -> Iterator[tuple[Job, Outcome]]:
        """Run ``jobs`` on the node's pool (watched as ``run_samples`` asks); yields
        ``(job, outcome)`` as they finish."""
        route: queue.Queue[Any] = queue.Queue()
        with self._lock:
            if self._error is not None:
                raise SandboxUnavailable(f"the sandbox on this node failed: {self._error}")
            for job in jobs:
                self._routes[id(job)] = route
                if watch is not None:
                    self._watches[id(job)] = watch
        for job in jobs:
            self._feed.put(job)
        for _ in jobs:
            item = route.get()
            if isinstance(item, BaseException):
                raise SandboxUnavailable(f"the sandbox on this node failed: {item}") from item
            yield item

    # -- what the driver calls
    def info(self) -> dict[str, Any]:
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
                "pid": os.getpid(), **self.backend.describe()}

    def judge(self, context: list[Any], samples: list[Any]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        """Run and judge ``samples``; yields batches of ``(position, row)``."""
        from harness.execution.execute import run_samples

        dataset, oracles = self._context(context)
        sandbox = _NodeSandbox(self)
        yield from _batched(lambda: ((s.position, row) for s, row in run_samples(sandbox, dataset, oracles, samples)))

    def run_raw(self, jobs: list[tuple[int, Job]]) -> Iterator[list[tuple[int, Outcome]]]:
        """Raw outcomes (reference runs): yields batches of ``(key, outcome)``."""
        keys = {id(job): key for key, job in jobs}
        yield from _batched(lambda: ((keys[id(job)], result) for job, result in self.submit([j for _, j in jobs])))

    def _context(self, refs: list[Any]) -> tuple[Any, Any]:
        """The dataset and reference outputs of a run: fetched from the object store once."""
        import ray

        key = "/".join(ref.hex() for ref in refs)
        with self._context_lock:
            if key not in self._contexts:
                self._contexts[key] = ray.get(refs)
                while len(self._contexts) > 2:
                    self._contexts.popitem(last=False)
            self._contexts.move_to_end(key)
            dataset, oracles = self._contexts[key]
        return dataset, oracles

    def close(self) -> None:
        self._feed.put(None)


class _NodeSandbox(Backend):
    """The node's pool seen as a sandbox backend by ``run_samples``."""

    def __init__(self, node: NodeExecutor) -> None:
        self.node = node
        self.name = node.backend.name
        self.jobs = node.backend.jobs
        self.limits = node.backend.limits

    def describe(self) -> dict[str, Any]:
        return dict(self.node.backend.describe())

    def run(self, jobs: Iterable[Job], watch: WatchFactory | None = None) -> Iterator[tuple[Job, Outcome]]:
        return self.node.submit(list(jobs), watch)

    def close(self) -> None:
        pass


def _batched(produce: Callable[[], Iterator[Any]]) -> Iterator[list[Any]]:
    """Items of ``produce()`` (run in a thread) in batches: at most ``BATCH_ROWS``, and none held
    longer than ``BATCH_WAIT_S`` after the first of its batch is ready."""
    out: queue.Queue[Any] = queue.Queue()
    end = object()

    def work() -> None:
        try:
            for item in produce():
                out.put(item)
            out.put(end)
        except BaseException as exc:
            out.put(exc)

    threading.Thread(target=work, daemon=True, name="node-judge").start()
    finished = False
    while not finished:
        item = out.get()
        batch: list[Any] = []
        deadline = time.monotonic() + BATCH_WAIT_S
        while True:
            if item is end:
                finished = True
                break
            if isinstance(item, BaseException):
                raise item
            batch.append(item)
            if len(batch) >= BATCH_ROWS:
                break
            try:
                item = out.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
        if batch:
            yield batch


# ----------------------------------------------------------------------------- the driver


class _GaveUp(Backend):
    """A sandbox whose every run failed the same way: turns a sample that kept killing its nodes
    into a failing verdict through ``run_samples``, the one place results become rows."""

    name = "ray"

    def __init__(self, limits: Limits, reason: str, attempts: int) -> None:
        self.limits = limits
        self.jobs = 1
        self.reason = reason
        self.attempts = attempts

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name}

    def run(self, jobs: Iterable[Job], watch: WatchFactory | None = None) -> Iterator[tuple[Job, Outcome]]:
        for job in jobs:
            yield job, Outcome.runner_crashed(self.reason, self.attempts)

    def close(self) -> None:
        pass


@dataclass
class _Actor:
    node_id: str
    handle: Any
    ready_ref: Any = None
    info: dict[str, Any] | None = None
    dead: bool = False
    lost: str | None = None  # why it died mid-run
    calls: set[Any] = field(default_factory=set)
    queued: int = 0  # samples sent and not yet returned


def connect(address: str | None) -> bool:
    """Join the cluster at ``address`` (``auto``: a running one, else a local one). Ships this
    checkout's ``harness`` and ``sandbox`` packages to the nodes, so every node judges with the
    driver's code. Returns whether this call initialised Ray (and so should shut it down)."""
    import ray

    import harness
    import sandbox

    if ray.is_initialized():
        return False
    _probe(address if address not in (None, "", "auto") else os.environ.get("RAY_ADDRESS"))
    kwargs: dict[str, Any] = {"runtime_env": {"py_modules": [harness, sandbox]}, "logging_level": "WARNING",
                              "log_to_driver": False, "configure_logging": True}
    try:
        if address in (None, "", "auto"):
            running = _running_cluster()
            if running is not None:
                ray.init(address=running, **kwargs)
            else:  # none running: a local cluster on this machine
                ray.init(address="local", include_dashboard=False, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        raise SandboxUnavailable(f"cannot reach the Ray cluster at {address or 'auto'}: {exc}") from exc
    return True


def _running_cluster() -> str | None:
    """What ``auto`` joins: ``$RAY_ADDRESS``, else the cluster ``ray start`` last recorded on this
    machine if it still answers (a stale record would make Ray retry for minutes)."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    import tempfile
    from pathlib import Path

    try:
        recorded = (Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster").read_text().strip()
    except OSError:
        return None
    try:
        _probe(recorded, timeout=2.0)
    except SandboxUnavailable:
        return None
    return recorded or None


def _probe(address: str | None, timeout: float = 10.0) -> None:
    """Fail fast on a ``host:port`` nobody listens on (Ray itself retries for minutes)."""
    if not address or address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise SandboxUnavailable(f"cannot reach the Ray cluster at {address}: expected HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise SandboxUnavailable(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


@dataclass
class _Spread:
    """One ``_spread`` call's state: what is still to hand out, still to come back, and where."""

    units: dict[int, Any]
    pending: collections.deque[int]
    left: set[int]
    deaths: collections.Counter[int]
    calls: dict[Any, tuple[_Actor, set[int]]]

    def requeue(self, keys: Iterable[int]) -> None:
        self.pending.extendleft(sorted(keys, key=_order(self.units), reverse=True))


class RayBackend(Backend):
    """Samples spread over the nodes of a Ray cluster; ``jobs`` runners per node."""

    name = "ray"
    max_attempts = 3

    def __init__(self, jobs: int | None = None, limits: Limits | None = None, address: str | None = "auto",
                 node_backend: str = "local", node_class: type | None = None) -> None:
        import ray

        if node_backend == "ray":
            raise SandboxUnavailable("a Ray node cannot host the ray backend itself")
        self.limits = limits or Limits()
        self.jobs_per_node = jobs
        self.address = address or "auto"
        self.node_backend = node_backend
        self._owns_ray = connect(address)
        self._node_cls: Any = ray.remote(node_class or NodeExecutor)
        self._actors: list[_Actor] = []
        self._starts: collections.Counter[str] = collections.Counter()
        self.lost: list[str] = []  # what happened to actors that died
        self._last_node_check = 0.0
        try:
            self._start_missing()
            self._wait_started(ACTOR_START_TIMEOUT_S)
        except BaseException:
            self.close()
            raise
        if not self._ready():
            reason = "; ".join(self.lost[-3:]) or "no node with CPUs in the cluster"
            self.close()
            raise SandboxUnavailable(f"no Ray node could start a {node_backend} sandbox: {reason}")

    # -- nodes and actors
    def _count_jobs(self) -> None:
        """``jobs``: runners over the whole cluster (reference runs size their slices by it)."""
        self.jobs = max(1, sum(int((a.info or {}).get("jobs", 1)) for a in self._ready()))

    def _ready(self) -> list[_Actor]:
        return [a for a in self._actors if a.info is not None and not a.dead]

    def _starting(self) -> list[_Actor]:
        return [a for a in self._actors if a.info is None and not a.dead]

    def _start_missing(self) -> None:
        """An actor on every live node with CPUs that has none (new nodes join mid-run)."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._last_node_check = time.monotonic()
        covered = {a.node_id for a in self._actors if not a.dead}
        for node in ray.nodes():
            node_id = node.get("NodeID")
            cpus = float((node.get("Resources") or {}).get("CPU", 0))
            if not node.get("Alive") or cpus <= 0 or node_id in covered:
                continue
            if self._starts[node_id] >= self.max_attempts:
                continue  # this node kept losing its actor
            self._starts[node_id] += 1
            jobs = self.jobs_per_node or max(1, int(cpus))
            handle = self._node_cls.options(  # type: ignore[attr-defined]
                num_cpus=0, max_concurrency=MAX_CALLS + 2, max_restarts=0, max_task_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)).remote(
                    self.node_backend, jobs, self.limits)
            self._actors.append(_Actor(node_id, handle, ready_ref=handle.info.remote()))

    def _started(self, actor: _Actor) -> None:
        import ray

        try:
            actor.info = ray.get(actor.ready_ref)
        except Exception as exc:
            self._retire(actor, f"node {actor.node_id[:12]}: {_reason(exc)}")
        self._count_jobs()

    def _wait_started(self, timeout: float) -> None:
        import ray

        deadline = time.monotonic() + timeout
        while self._starting() and time.monotonic() < deadline:
            refs = {a.ready_ref: a for a in self._starting()}
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=max(0.1, deadline - time.monotonic()))
            for ref in ready:
                self._started(refs[ref])
        for actor in self._starting():
            self._retire(actor, f"node {actor.node_id[:12]}: did not start within {timeout:.0f} s")

    def _retire(self, actor: _Actor, reason: str) -> None:
        import ray

        actor.dead = True
        actor.lost = reason
        self.lost.append(reason)
        self._count_jobs()
        try:
            ray.kill(actor.handle, no_restart=True)
        except Exception:
            pass

    def describe(self) -> dict[str, Any]:
        nodes = [{"host": a.info.get("host"), "node_id": a.node_id, "jobs": a.info.get("jobs"),
                  "isolation": a.info.get("isolation"), "lost": a.lost} for a in self._actors if a.info is not None]
        isolation = sorted({str(n["isolation"]) for n in nodes if n["isolation"]})
        return {"backend": self.name, "address": self.address, "node_backend": self.node_backend,
                "nodes": nodes, "jobs": sum(int(n["jobs"] or 0) for n in nodes if not n["lost"]),
                "jobs_per_node": self.jobs_per_node,
                "isolation": isolation[0] if len(isolation) == 1 else isolation,
                "lost_actors": list(self.lost), "limits": self.limits.to_dict()}

    # -- running
    def run(self, jobs: Iterable[Job], watch: WatchFactory | None = None) -> Iterator[tuple[Job, Outcome]]:
        """Raw outcomes (the reference runs of ``compute_expected``), spread over the nodes.
        Recording runs are not watched; candidates go through :meth:`run_samples`."""
        units = dict(enumerate(jobs))
        if not units:
            return
        for key, result in self._spread(
                units, lambda actor, keys: actor.handle.run_raw.remote([(k, units[k]) for k in keys]),
                lambda key, reason: Outcome.runner_crashed(reason, self.max_attempts)):
            yield units[key], result

    def run_samples(self, dataset: Any, oracles: dict[str, Any], samples: list[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
        """Run and judge samples on the nodes; yields ``(sample, row)`` as rows come back."""
        import ray

        from harness.execution.execute import run_samples

        if not samples:
            return
        needed = list(dict.fromkeys(s.task_id for s in samples))
        context = [ray.put(dataset.select(task_ids=needed)), ray.put({t: oracles[t] for t in needed})]
        units = {s.position: s for s in samples}

        def gave_up(key: int, reason: str) -> dict[str, Any]:
            sample = units[key]
            return next(run_samples(_GaveUp(self.limits, reason, self.max_attempts), dataset, oracles, [sample]))[1]

        for key, row in self._spread(
                units, lambda actor, keys: actor.handle.judge.remote(context, [units[k] for k in keys]), gave_up):
            yield units[key], row

    def _chunk(self, left: int, actor: _Actor) -> int:
        n = max(1, len(self._ready()))
        low, high = CHUNK_BOUNDS
        low = max(low, int((actor.info or {}).get("jobs", 1)))
        return max(1, min(high, max(low, math.ceil(left / (n * CHUNKS_PER_NODE)))))

    def _spread(self, units: dict[int, Any], call: Callable[[_Actor, list[int]], Any],
                gave_up: Callable[[int, str], Any]) -> Iterator[tuple[int, Any]]:
        """Hand ``units`` (key -> payload, in priority order) out in chunks; yields ``(key, out)``
        once per key, whatever the nodes do."""
        import ray

        st = _Spread(units, collections.deque(units), set(units), collections.Counter(), {})
        try:
            while st.left:
                self._feed(st, call)
                if time.monotonic() - self._last_node_check > NEW_NODE_CHECK_S:
                    self._start_missing()
                starting = {a.ready_ref: a for a in self._starting()}
                if not st.calls and not starting:
                    raise SandboxUnavailable("no Ray node left to run samples on: " + "; ".join(self.lost[-3:]))
                ready, _ = ray.wait([*st.calls, *starting], num_returns=1, timeout=NEW_NODE_CHECK_S)
                for ref in ready:
                    if ref in starting:
                        self._started(starting[ref])
                    elif ref in st.calls:  # else its actor was lost while handling an earlier item
                        yield from self._receive(st, ref, gave_up)
        finally:  # chunks still out (a finished run's last empty reads): no longer this run's
            for gen, (actor, keys) in st.calls.items():
                actor.calls.discard(gen)
                actor.queued -= len(keys)

    def _feed(self, st: _Spread, call: Callable[[_Actor, list[int]], Any]) -> None:
        """Keep every ready actor's queue about two chunks deep."""
        for actor in self._ready():
            while st.pending and len(actor.calls) < MAX_CALLS:
                size = self._chunk(len(st.pending), actor)
                if actor.queued >= max(2 * size, 2 * int(actor.info.get("jobs", 1) if actor.info else 1)):
                    break
                chunk: list[int] = []
                if st.deaths[st.pending[0]]:
                    chunk.append(st.pending.popleft())  # after a fault: alone, so blame is exact
                else:
                    while st.pending and len(chunk) < size and not st.deaths[st.pending[0]]:
                        chunk.append(st.pending.popleft())
                gen = call(actor, chunk)
                st.calls[gen] = (actor, set(chunk))
                actor.calls.add(gen)
                actor.queued += len(chunk)

    def _receive(self, st: _Spread, ref: Any, gave_up: Callable[[int, str], Any]) -> Iterator[tuple[int, Any]]:
        """Take one batch of rows from a chunk's stream; an actor that died gives its keys back."""
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError

        actor, keys = st.calls[ref]
        try:
            batch = ray.get(next(ref))
        except StopIteration:
            del st.calls[ref]
            actor.calls.discard(ref)
            if keys:  # the node ended a chunk without some of its rows: run them again
                actor.queued -= len(keys)
                st.requeue(keys)
            return
        except (RayActorError, ActorUnavailableError, RayTaskError) as exc:
            # RayTaskError: the node's sandbox or judging failed; try elsewhere.
            yield from self._lose(st, actor, f"node {actor.node_id[:12]}: {_reason(exc)}", gave_up)
            return
        for key, out in batch:
            if key in keys:  # anything else: a late duplicate of a resubmitted key
                keys.discard(key)
                actor.queued -= 1
                if key in st.left:
                    st.left.discard(key)
                    yield key, out

    def _lose(self, st: _Spread, actor: _Actor, reason: str,
              gave_up: Callable[[int, str], Any]) -> Iterator[tuple[int, Any]]:
        """An actor is gone: its unfinished keys go back to the front, alone from now on."""
        self._retire(actor, reason)
        back = []
        for gen in [g for g, (a, _) in st.calls.items() if a is actor]:
            _, lost_keys = st.calls.pop(gen)
            for key in lost_keys:
                st.deaths[key] += 1
                if st.deaths[key] >= self.max_attempts:
                    st.left.discard(key)
                    yield key, gave_up(key, f"the sample's Ray node or actor died {st.deaths[key]} times while "
                                            f"running it (last: {reason})")
                else:
                    back.append(key)
        actor.calls.clear()
        actor.queued = 0
        st.requeue(back)
        self._start_missing()  # a replacement where the node itself is still there

    def close(self) -> None:
        import ray

        for actor in self._actors:
            if not actor.dead:
                actor.dead = True
                try:
                    ray.kill(actor.handle, no_restart=True)
                except Exception:
                    pass
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _order(units: dict[int, Any]) -> Callable[[int], int]:
    rank = {key: i for i, key in enumerate(units)}
    return rank.__getitem__


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


__all__ = ["NodeExecutor", "RayBackend", "connect"]
