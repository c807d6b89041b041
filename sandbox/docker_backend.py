"""Docker backend: one long-lived, locked-down container per pool slot, each running the runner.

Why containers are shaped the way they are:

* The runner (``/opt/sandbox/runner.py``, baked into the image: no host path is mounted at all,
  least of all the Docker socket) is the container's main process, PID 1 of its own PID
  namespace. Its ``--reap-all`` ``kill(-1)`` then reaches every process a sample left behind but
  never the runner itself, and a sample cannot kill the runner either (PID 1 ignores signals it
  has no handler for), so a sample that attacks its parent only hurts itself.
* Each container runs as its own non-root uid (``--user``), so the per-uid process limit the
  runner sets (``RLIMIT_NPROC``) is per container, as with the local backend's uid per runner.
* No network (``network_mode=none``), a read-only root, a size-limited ``/tmp`` tmpfs, no
  ``/sys`` (an empty read-only tmpfs over it, as under bubblewrap), memory
  (+ tmpfs, no swap), pids and CPU (1 core) limits, ``cap_drop=ALL``, ``no-new-privileges``, the
  engine's default seccomp profile, no logging of the frame stream (``log_config=none``).
* The frame protocol runs over the engine's attach socket (stdin + multiplexed stdout/stderr,
  ``tty=False``; 8-byte stream headers demultiplexed here). This is one hop less than a
  ``docker exec``/CLI subprocess per worker, needs no helper process and no second process in
  the container, and the socket's EOF *is* the container's death: a container that dies or is
  killed from outside surfaces as :class:`~sandbox.pool.WorkerDied` on the pending read, so the
  pool replaces it and retries the sample (never a pass). Attaching before ``start`` means no
  byte of the greeting can be lost. Without a tty the engine does not scan stdin for detach
  keys, so binary frames pass untouched.
* ``stdin_once`` + ``auto_remove``: if the harness dies without cleaning up (SIGKILL), the engine
  closes the runner's stdin, the runner exits and the engine removes the container by itself.
  On top of that, containers carry labels (``distill-harness.sandbox=1``, owner pid, an owner
  lock file) so that a later start removes those whose owner is gone, and SIGINT/SIGTERM/atexit
  handlers remove this run's containers while the backend is open.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import io
import os
import secrets
import select
import signal
import socket
import struct
import tarfile
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from sandbox import packages
from sandbox import runner as _runner
from sandbox.errors import SandboxUnavailable
from sandbox.pool import RUNNER_PATH, Limits, MiB, PoolBackend, Worker, WorkerDied

IMAGE_ENV = "HARNESS_SANDBOX_IMAGE"
DEFAULT_IMAGE = "distill-harness/sandbox:latest"
DEFAULT_BASE_IMAGE = "python:3.11-slim"
OFFLINE_BASE_IMAGE = "distill-harness/base:bookworm"
DOCKERFILE = Path(__file__).resolve().parent / "Dockerfile"
RUNNER_IN_IMAGE = "/opt/sandbox/runner.py"
RUNNER_ARGV = ["python3", "-s", "-S", "-B", RUNNER_IN_IMAGE, "--reap-all", "--tmp", "/tmp",
               "--packages", packages.MOUNT]
#: Same environment as the local backend's runners: a fixed hash seed makes outputs reproducible.
RUNNER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}

LABEL = "distill-harness.sandbox"
LABEL_PID = "distill-harness.owner-pid"
LABEL_OWNER = "distill-harness.owner"
LABEL_HOST = "distill-harness.owner-host"
LABEL_PIDNS = "distill-harness.owner-pidns"
LABEL_LOCK = "distill-harness.owner-lock"
LABEL_CONTENT = "distill-harness.content"
LABEL_RUNNER = "distill-harness.runner-sha256"

#: Per-container uids: far from ordinary users and from the local backend's 61000+ range.
UID_BASE = 200_000
PIDS_LIMIT = 256
MEMORY_HEADROOM = 512 * MiB  # the runner, the interpreter and page cache on top of a sample's RLIMIT_AS
START_TIMEOUT = 60.0
MAX_START_FAILURES = 6  # consecutive failed container starts before the backend gives up
_STREAM_HEADER = struct.Struct(">BxxxI")
_FRAME_HEADER = _runner.FRAME_HEADER  # the runner's frame header: JSON length, blob bytes
_STDERR_KEEP = 8192


# ----------------------------------------------------------------------------- content hashes


def content_hash() -> str:
    """Hash of what goes into the sandbox image (Dockerfile, runner.py, then the candidate
    packages' names and versions): 16 hex digits. ``sandbox/ci-docker.sh`` asks for this value
    to reuse an image built from identical inputs."""
    h = hashlib.sha256(DOCKERFILE.read_bytes())
    h.update(RUNNER_PATH.read_bytes())
    h.update(packages.manifest().encode())
    return h.hexdigest()[:16]


def runner_sha256() -> str:
    return hashlib.sha256(RUNNER_PATH.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- engine access


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line (the engine's own explanation where it gives one)."""
    text = " ".join(str(getattr(exc, "explanation", None) or exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def connect(timeout: float = 60.0) -> Any:
    """A docker SDK client for the engine (DOCKER_HOST or the default socket), or SandboxUnavailable."""
    try:
        import docker
    except ImportError:
        raise SandboxUnavailable("the docker Python package is not installed: pip install 'docker>=7'") from None
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except Exception as exc:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise SandboxUnavailable(f"Docker engine not reachable at {where}: {_one_line(exc)}") from None
    return client


# ----------------------------------------------------------------------------- image build


def _context_tar() -> io.BytesIO:
    """Build context with exactly the Dockerfile, the runner and the candidate packages
    (``packages/``, copied from this installation): nothing else of the host."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, path in (("Dockerfile", DOCKERFILE), ("runner.py", RUNNER_PATH)):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
        folder = tarfile.TarInfo("packages")
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, 0
        tar.addfile(folder)
        for top, path in packages.roots().items():
            tar.add(str(path), arcname=f"packages/{top}", filter=_packaged)
    buf.seek(0)
    return buf


def _packaged(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Package files as read-only, root-owned, without caches of this host's bytecode."""
    if "__pycache__" in info.name.split("/"):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
    return info


def build_image(base_image: str = DEFAULT_BASE_IMAGE, tag: str = DEFAULT_IMAGE, extra_pip: str = "",
                log: Callable[[str], None] | None = None, client: Any = None) -> str:
    """Build the sandbox image through the SDK; returns its id. Raises SandboxUnavailable.

    The build runs without network unless ``extra_pip`` needs a package registry.
    """
    client = client or connect(timeout=600)
    from docker.errors import APIError, BuildError, ImageNotFound

    try:
        client.images.get(base_image)
    except ImageNotFound:
        if log:
            log(f"pulling base image {base_image}")
        try:
            client.images.pull(base_image)
        except APIError as exc:
            hint = (f"build an offline base with `bash sandbox/build_base.sh` and pass "
                    f"--base-image {OFFLINE_BASE_IMAGE}") if base_image != OFFLINE_BASE_IMAGE else \
                "build it with `bash sandbox/build_base.sh`"
            raise SandboxUnavailable(f"base image {base_image} not available ({_one_line(exc, 120)}): {hint}") from None
    labels = {LABEL_CONTENT: content_hash(), LABEL_RUNNER: runner_sha256(),
              "distill-harness.base-image": base_image, "distill-harness.extra-pip": extra_pip}
    image_id = None
    last = ""
    try:
        for chunk in client.api.build(
            fileobj=_context_tar(), custom_context=True, tag=tag, rm=True, forcerm=True, pull=False,
            buildargs={"BASE_IMAGE": base_image, "EXTRA_PIP": extra_pip}, labels=labels, decode=True,
            network_mode=None if extra_pip.strip() else "none",
        ):
            if "error" in chunk:
                raise BuildError(chunk["error"], [])
            text = str(chunk.get("stream") or chunk.get("status") or "").rstrip()
            if text:
                last = text.splitlines()[-1]
                if log:
                    log(text)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = aux["ID"]
    except (APIError, BuildError) as exc:
        raise SandboxUnavailable(f"building {tag} failed: {_one_line(exc)} (last step: {last})") from None
    return str(image_id or client.images.get(tag).id)


# ----------------------------------------------------------------------------- owner identity


def _host_id() -> str:
    mid = ""
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError):
            mid = Path(p).read_text().strip()
            break
    return f"{socket.gethostname()}/{mid[:12]}"


def _pidns() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """Process start time in clock ticks since boot: tells a live owner from a reused pid."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
        return data[data.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return None


def _lock_dir() -> Path:
    d = Path(tempfile.gettempdir()) / "distill-harness-docker"
    d.mkdir(exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(d, 0o1777)
    return d


def _lock_is_free(path: str) -> bool:
    """True when nobody holds the owner lock any more (its harness process has exited)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return True
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- worker


class DockerWorker(Worker):
    """One container, spoken to over the engine's attach socket (see the module docstring)."""

    def __init__(self, backend: DockerBackend, index: int) -> None:
        super().__init__(list(RUNNER_ARGV), name=f"docker-{index}", env=dict(RUNNER_ENV))
        self.backend = backend
        self.index = index
        self.container_id: str | None = None
        self._sockio: Any = None
        self._sock: socket.socket | None = None
        self._raw = bytearray()  # multiplexed bytes not yet parsed
        self._out = bytearray()  # demultiplexed stdout: the frame stream
        self._err = bytearray()  # tail of stderr, for error messages
        self._eof = False
        self._close_lock = threading.Lock()

    # -- lifecycle
    def start(self) -> None:
        """Create, attach (before start: no output can be missed), start, read the greeting.

        A container that vanishes meanwhile is a :class:`WorkerDied` (the pool retries); an
        engine that stops answering, or containers that never come up, are SandboxUnavailable.
        """
        from docker.errors import APIError, DockerException

        if self._sock is not None and not self._eof:
            return  # the backend's probe started it already
        api = self.backend.client.api
        try:
            self.container_id = self.backend._create_container(self.index)
            self._sockio = api.attach_socket(self.container_id, params={
                "stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            self._sock = self._sockio._sock
            api.start(self.container_id)
            hello = self._read()
        except WorkerDied as exc:
            err = self._stderr_tail()
            self.close()
            self.backend._start_failed(f"{self.name} failed to start: {err or exc}")
            raise WorkerDied(f"{self.name} failed to start: {err or exc}") from exc
        except APIError as exc:
            self.close()
            self.backend._start_failed(f"{self.name} failed to start: {_one_line(exc)}")
            raise WorkerDied(f"{self.name} failed to start: {_one_line(exc)}") from exc
        except (DockerException, OSError) as exc:  # the engine itself is gone
            self.close()
            raise SandboxUnavailable(f"Docker engine stopped answering: {_one_line(exc)}") from exc
        except BaseException:
            self.close()
            raise
        if hello.get("t") != "hello" or hello.get("protocol") != _runner.PROTOCOL_VERSION:
            self.close()
            raise SandboxUnavailable(f"{self.backend.image}: unexpected runner greeting {hello!r}: "
                                     "rebuild the image with `harness sandbox build`")
        self.backend._start_failures = 0
        self.info = hello

    def alive(self) -> bool:
        """Cheap liveness: the attach stream has not hit EOF (no API round trip per sample)."""
        if self._sock is None or self._eof:
            return False
        try:
            ready, _, _ = select.select([self._sock], [], [], 0)
            if ready:
                data = self._sock.recv(1 << 16, socket.MSG_DONTWAIT)
                if not data:
                    self._eof = True
                    return False
                self._raw += data
                self._demux()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._eof = True
            return False
        return True

    def close(self) -> None:
        with self._close_lock:
            sockio, sock, cid = self._sockio, self._sock, self.container_id
            self._sockio = self._sock = self.container_id = None
            self._eof = True
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for s in (sockio, sock):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        if cid is not None:
            self.backend._remove_container(cid)

    # -- protocol
    def _send(self, meta: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> None:
        if not self.alive():
            raise WorkerDied("container is not running")
        assert self._sock is not None
        try:
            self._sock.settimeout(None)
            for part in _runner.pack_frame(meta, blobs):
                self._sock.sendall(part)
        except OSError as exc:
            self._eof = True
            raise WorkerDied(f"{self.name}: {exc}") from exc

    def _read(self, deadline: float | None = None) -> dict[str, Any]:
        """The next frame. A hung engine or a paused container must not hang the run: the pool
        allows a job the runner's own wall-clock cap plus a margin before declaring it dead."""
        if deadline is None:
            deadline = time.monotonic() + START_TIMEOUT
        while True:
            if len(self._out) >= _FRAME_HEADER.size:
                meta_len, blob_len = _FRAME_HEADER.unpack_from(self._out)
                size = meta_len + blob_len
                if size > _runner.MAX_FRAME:
                    self._eof = True
                    raise WorkerDied(f"{self.name}: frame too large ({size} bytes)")
                end = _FRAME_HEADER.size + size
                if len(self._out) >= end:
                    try:
                        with memoryview(self._out) as view:
                            body = view[_FRAME_HEADER.size: end]
                            try:
                                msg = _runner.parse_frame(body, meta_len)
                            finally:
                                body.release()
                    except ValueError as exc:
                        raise WorkerDied(f"{self.name}: malformed frame") from exc
                    finally:
                        del self._out[:end]
                    return msg
            self._fill(deadline)

    def _fill(self, deadline: float) -> None:
        sock = self._sock
        if sock is None or self._eof:
            raise WorkerDied(f"{self.name}: container is gone")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self._eof = True
            raise WorkerDied(f"{self.name}: no answer from the container in time")
        try:
            sock.settimeout(remaining)
            data = sock.recv(1 << 20)
        except TimeoutError as exc:
            self._eof = True
            raise WorkerDied(f"{self.name}: no answer from the container in time") from exc
        except OSError as exc:
            self._eof = True
            raise WorkerDied(f"{self.name}: {exc}") from exc
        if not data:
            self._eof = True
            raise WorkerDied(f"{self.name}: the container exited or was removed")
        self._raw += data
        self._demux()

    def _demux(self) -> None:
        """Split the engine's multiplexed stream: 8-byte header (stream id, size), then payload."""
        raw = self._raw
        pos = 0
        with memoryview(raw) as view:  # no intermediate copies of large result frames
            while len(raw) - pos >= 8:
                stream, size = _STREAM_HEADER.unpack_from(raw, pos)
                if len(raw) - pos - 8 < size:
                    break
                if stream == 1:
                    self._out += view[pos + 8: pos + 8 + size]
                elif stream == 2:
                    self._err += view[pos + 8: pos + 8 + size]
                    del self._err[:-_STDERR_KEEP]
                pos += 8 + size
        del raw[:pos]

    def _stderr_tail(self) -> str:
        lines = self._err.decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else ""


# ----------------------------------------------------------------------------- backend


class DockerBackend(PoolBackend):
    """Pool of sandbox containers (see the module docstring for the isolation it gives)."""

    name = "docker"

    def __init__(self, jobs: int | None = None, limits: Limits | None = None, image: str | None = None,
                 runtime: str | None = None) -> None:
        super().__init__(jobs, limits)
        self.image = image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE
        self.runtime = runtime or os.environ.get("HARNESS_DOCKER_RUNTIME") or None
        self.closing = False
        self._spare: DockerWorker | None = None
        self._start_failures = 0
        self._containers: set[str] = set()
        self._state_lock = threading.RLock()  # re-entered from signal handlers
        self._prev_handlers: dict[int, Any] = {}
        self._lock_fd: int | None = None
        self.client = connect()
        try:
            self._check_image()
            self._host, self._pidns, self._pid = _host_id(), _pidns(), os.getpid()
            self._owner = f"{self._pid}:{_start_time(self._pid)}:{secrets.token_hex(4)}"
            self._lock_path = self._take_owner_lock()
            self.removed_stale = self.cleanup_stale()
            self._install_handlers()
            self._spare = self._probe()
        except BaseException:
            self.abort()
            self._restore_handlers()
            atexit.unregister(self._at_exit)
            self._release_owner_lock()
            self.client.close()
            raise

    # -- setup
    def _check_image(self) -> None:
        from docker.errors import APIError, ImageNotFound

        try:
            image = self.client.images.get(self.image)
        except ImageNotFound:
            raise SandboxUnavailable(f"Docker image {self.image} not found: run `harness sandbox build`") from None
        except APIError as exc:
            raise SandboxUnavailable(f"Docker image {self.image}: {_one_line(exc)}") from None
        labels = (image.attrs.get("Config") or {}).get("Labels") or {}
        built_with = labels.get(LABEL_RUNNER)
        if built_with and built_with != runner_sha256():
            raise SandboxUnavailable(f"Docker image {self.image} holds another version of the sandbox runner: "
                                     "run `harness sandbox build`")
        if not built_with:
            warnings.warn(f"Docker image {self.image} has no {LABEL_RUNNER} label: cannot check that its "
                          "runner matches this harness", stacklevel=3)

    def _take_owner_lock(self) -> str:
        """An flock held for the backend's lifetime: proves to other runs that we are alive,
        across PID namespaces (a pid label alone cannot)."""
        path = _lock_dir() / f"{hashlib.sha256(self._owner.encode()).hexdigest()[:16]}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd
        return str(path)

    def _release_owner_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._lock_path)
            os.close(fd)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update({"isolation": "docker", "image": self.image, "runtime": self.runtime or "default"})
        return info

    # -- stale containers
    def _owner_gone(self, labels: dict[str, str]) -> bool:
        if labels.get(LABEL_HOST) != self._host:
            return False  # another machine sharing the engine: not ours to judge
        lock = labels.get(LABEL_LOCK)
        if lock and os.path.exists(lock):
            return _lock_is_free(lock)
        if labels.get(LABEL_PIDNS) != self._pidns:
            return False  # owner in another PID namespace and no lock to ask: leave it
        try:
            pid = int(labels.get(LABEL_PID, ""))
        except ValueError:
            return False
        owner_start = (labels.get(LABEL_OWNER) or "").split(":")[1:2]
        now = _start_time(pid)
        return now is None or (bool(owner_start) and owner_start[0] not in ("None", now))

    def cleanup_stale(self) -> int:
        """Remove labelled containers whose owning harness process is gone; returns how many."""
        try:
            found = self.client.api.containers(all=True, filters={"label": f"{LABEL}=1"})
        except Exception:
            return 0
        n = 0
        verdicts: dict[tuple[str, str], bool] = {}  # per owner: its lock file is checked once
        for c in found:
            labels = c.get("Labels") or {}
            key = (labels.get(LABEL_OWNER, ""), labels.get(LABEL_LOCK, ""))
            if key not in verdicts:
                verdicts[key] = self._owner_gone(labels)
            gone = verdicts[key]
            if not gone and c.get("State") in ("exited", "dead", "created") and labels.get(LABEL_HOST) == self._host:
                gone = time.time() - float(c.get("Created") or 0) > 300
            if gone:
                self._remove_container(c["Id"])
                n += 1
        return n

    # -- containers
    def _uid(self, index: int) -> int:
        """A uid per slot, from the random owner token: runs in different PID namespaces
        (where pids repeat) still get different uids."""
        block = int(hashlib.sha256(self._owner.encode()).hexdigest()[:8], 16) % 4096
        return UID_BASE + block * 64 + index % 64

    def _start_failed(self, reason: str) -> None:
        """Containers that die while starting are retried, but not forever: after a streak
        of failed starts the sandbox itself is broken (bad image, engine errors)."""
        if self.closing:
            raise SandboxUnavailable("the Docker backend is closing")
        with self._state_lock:
            self._start_failures += 1
            streak = self._start_failures
        if streak >= MAX_START_FAILURES:
            raise SandboxUnavailable(f"cannot start sandbox containers from {self.image}: {reason}")

    def _probe(self) -> DockerWorker:
        """Start slot 0's container now: an image that cannot run the runner fails here, as
        SandboxUnavailable (exit 3) before any sample runs, not as per-sample errors later.
        The started container is then handed to the pool (no time lost)."""
        worker = DockerWorker(self, 0)
        try:
            worker.start()
        except WorkerDied as exc:
            raise SandboxUnavailable(f"Docker image {self.image} does not run the sandbox runner: {exc}") from None
        return worker

    def make_worker(self, index: int) -> Worker:
        if self.closing:
            raise SandboxUnavailable("the Docker backend is closing")
        with self._state_lock:
            spare = self._spare if self._spare is not None and self._spare.index == index else None
            if spare is not None:
                self._spare = None
        if spare is not None and spare.alive():
            return spare
        if spare is not None:
            spare.close()
        return DockerWorker(self, index)

    def _create_container(self, index: int) -> str:
        lim = self.limits
        uid = self._uid(index)
        memory = lim.memory_bytes + lim.tmpfs_bytes + MEMORY_HEADROOM
        host_config = self.client.api.create_host_config(
            network_mode="none",
            read_only=True,
            # /sys hidden under an empty tmpfs: nothing in it is needed, it describes the host
            # (and, as under bubblewrap, a sample walking / sees no sysfs symlink loops).
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={lim.tmpfs_bytes},mode=1777",
                   "/sys": "ro,nosuid,nodev,noexec,size=4k"},
            mem_limit=memory,
            memswap_limit=memory,
            pids_limit=PIDS_LIMIT,
            nano_cpus=1_000_000_000,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            shm_size=min(64 * MiB, lim.tmpfs_bytes),
            log_config={"Type": "none", "Config": {}},
            auto_remove=True,
            privileged=False,
            runtime=self.runtime,
        )
        labels = {LABEL: "1", LABEL_PID: str(self._pid), LABEL_OWNER: self._owner, LABEL_HOST: self._host,
                  LABEL_PIDNS: self._pidns, LABEL_LOCK: self._lock_path}
        with self._state_lock:
            if self.closing:
                raise WorkerDied("the Docker backend is closing")
        created = self.client.api.create_container(
            self.image, command=list(RUNNER_ARGV), user=f"{uid}:{uid}", environment=dict(RUNNER_ENV),
            working_dir="/tmp", hostname="sandbox", labels=labels, stdin_open=True,
            tty=False, network_disabled=True, host_config=host_config,
            name=f"distill-harness-{self._pid}-{index}-{secrets.token_hex(3)}",
        )
        cid = str(created["Id"])
        with self._state_lock:
            self._containers.add(cid)
            closing = self.closing
        if closing:
            self._remove_container(cid)
            raise WorkerDied("the Docker backend is closing")
        return cid

    def _remove_container(self, cid: str) -> None:
        """Kill and remove now; waits while the engine finishes an auto-removal in progress."""
        from docker.errors import APIError, NotFound

        try:
            self.client.api.remove_container(cid, force=True)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code == 409:  # removal already in progress (auto_remove)
                with contextlib.suppress(Exception):
                    self.client.api.wait(cid, timeout=30, condition="removed")
        except Exception:
            pass
        with self._state_lock:
            self._containers.discard(cid)

    def _remove_all(self) -> None:
        with self._state_lock:
            ids = list(self._containers)
        for cid in ids:
            self._remove_container(cid)

    # -- signals and exit
    def _install_handlers(self) -> None:
        atexit.register(self._at_exit)
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                self._prev_handlers[sig] = signal.signal(sig, self._on_signal)
            except (ValueError, OSError):
                pass

    def _restore_handlers(self) -> None:
        handlers, self._prev_handlers = self._prev_handlers, {}
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, prev in handlers.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, prev if prev is not None else signal.SIG_DFL)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Remove this run's containers first, then behave as the previous handler would."""
        prev = self._prev_handlers.get(signum, signal.SIG_DFL)
        self.abort()
        self._restore_handlers()
        if callable(prev):
            prev(signum, frame)
        elif prev == signal.SIG_IGN:
            return
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise SystemExit(128 + signum)

    def abort(self) -> None:
        """Stop starting containers and remove every container of this backend."""
        with self._state_lock:
            self.closing = True
        self._remove_all()

    def _at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.abort()
        self._release_owner_lock()

    def close(self) -> None:
        super().close()
        with self._state_lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()
        self.abort()
        self._restore_handlers()
        atexit.unregister(self._at_exit)
        self._release_owner_lock()
        with contextlib.suppress(Exception):
            self.client.close()


def list_containers(client: Any = None) -> list[dict[str, Any]]:
    """All containers with the sandbox label (any owner), as the engine lists them."""
    client = client or connect()
    return list(client.api.containers(all=True, filters={"label": f"{LABEL}=1"}))


__all__ = ["DEFAULT_IMAGE", "DockerBackend", "DockerWorker", "LABEL", "build_image", "connect", "content_hash",
           "list_containers"]
