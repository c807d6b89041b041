"""A real Ray cluster for tests: a head and worker nodes on this machine, loopback only.

Ray replaces ``--node-ip-address 127.0.0.1`` by the machine's network address and its servers
listen on every interface, so the nodes (and every driver that talks to them) run in a network
namespace of their own whose only interface is ``lo``: nothing of the cluster is reachable from,
or reaches, anything but 127.0.0.1 inside it. Every process is stopped by its id.

As a script it wraps one command (``{address}`` in it is replaced), e.g. inside tests/contain.py::

    python -m tests.harness.execution.ray_cluster --nodes 2 -- python -m harness execute ... --ray-address {address}
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PORT = 6390  # outside Ray's worker ports (10002-19999); the namespace is private, so never taken

#: Brings ``lo`` up in the new namespace (no iproute2 needed), says its pid, then waits.
_HOLDER = r"""
import fcntl, os, signal, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", 0x1 | 0x8 | 0x40))  # SIOCSIFFLAGS: UP|LOOPBACK|RUNNING
print(os.getpid(), flush=True)
signal.pause()
"""


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree = _children()
    out, todo = [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


class LoopbackCluster:
    """``nodes`` Ray nodes of ``cpus`` CPUs each (the first is the head) in a private netns."""

    def __init__(self, nodes: int = 2, cpus: int = 1, object_store_bytes: int = 150 * 1024**2,
                 env: dict[str, str] | None = None) -> None:
        self.n_nodes = nodes
        self.cpus = cpus
        self.object_store_bytes = object_store_bytes
        self.temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths
        # HOME of its own: a token that another (local) cluster left in ~/.ray/auth_token would
        # make this head demand it from nodes that do not send it.
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HOME": self.temp_dir, **(env or {})}
        self.address = f"127.0.0.1:{PORT}"
        self.holder: subprocess.Popen[str] | None = None
        self.ns_pid = 0
        self.nodes: list[subprocess.Popen[str]] = []

    # -- namespace
    def prefix(self) -> list[str]:
        """Run a command inside the cluster's network namespace."""
        return ["nsenter", "-t", str(self.ns_pid), "--net", "--"]

    def run(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("env", self.env)
        return subprocess.run(self.prefix() + argv, capture_output=True, text=True, **kwargs)

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        kwargs.setdefault("env", self.env)
        return subprocess.Popen(self.prefix() + argv, text=True, **kwargs)

    # -- nodes
    def start(self) -> LoopbackCluster:
        self.holder = subprocess.Popen(["unshare", "--net", "--fork", "--kill-child", "--", sys.executable, "-c", _HOLDER],
                                       stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        self.ns_pid = int(self.holder.stdout.readline())
        try:
            self._start_node(head=True)
            for _ in range(self.n_nodes - 1):
                self.add_node()
        except BaseException:
            self.stop()
            raise
        return self

    def add_node(self) -> subprocess.Popen[str]:
        return self._start_node(head=False)

    def _start_node(self, head: bool) -> subprocess.Popen[str]:
        ray = shutil.which("ray") or "ray"
        argv = [ray, "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", str(self.cpus),
                "--object-store-memory", str(self.object_store_bytes), "--disable-usage-stats"]
        if head:
            argv += ["--head", "--port", str(PORT), "--include-dashboard", "false", "--temp-dir", self.temp_dir]
        else:
            argv += ["--address", self.address]
        log = open(Path(self.temp_dir) / f"node{len(self.nodes)}.log", "w+")  # noqa: SIM115 (closed by the node)
        proc = self.popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.nodes.append(proc)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            log.seek(0)
            text = log.read()
            if "Ray runtime started" in text:
                return proc
            if proc.poll() is not None:
                raise RuntimeError(f"ray start exited {proc.returncode}: {text[-2000:]}")
            time.sleep(0.3)
        raise RuntimeError("a Ray node did not start within 180 s")

    def kill_node(self, index: int) -> list[int]:
        """A machine dying: SIGKILL every process of node ``index`` at once."""
        proc = self.nodes[index]
        pids = [proc.pid, *descendants(proc.pid)]
        _kill(pids)
        proc.wait()
        return pids

    def stop(self) -> None:
        for proc in reversed(self.nodes):
            if proc.poll() is not None:
                continue
            pids = descendants(proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            _kill(pids)
        self.nodes.clear()
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()
            if self.holder.stdout is not None:
                self.holder.stdout.close()
            self.holder = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LoopbackCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def strays(timeout: float = 20.0) -> list[str]:
    """Processes other than this one still alive (as the init of a PID namespace: every process
    of the namespace), after reaping those that ended; waits up to ``timeout`` for them to go."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        alive = []
        for pid in _children_all():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[0] != "Z":
                alive.append(f"{pid} {cmd.strip()}")
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _children_all() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) != os.getpid()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--check-strays", action="store_true",
                        help="as a PID namespace's first process: after the cluster stopped, exit 97 naming "
                             "every process still alive in the namespace")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    with LoopbackCluster(args.nodes, args.cpus) as cluster:
        argv = [part.replace("{address}", cluster.address) for part in command]
        proc = cluster.run(argv)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
    if args.check_strays:
        left = strays()
        if left:
            print(f"stray processes: {left}", file=sys.stderr)
            return 97
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
