"""Run a command so that a broken sandbox cannot hurt the machine running the tests.

The command gets its own PID namespace (``unshare --pid --fork --mount-proc``: a sample that
kills every pid it can see only reaches the namespace) and, where the cgroup filesystem is
writable, its own memory and pids cgroups (a memory or fork bomb stops there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup(controller: str) -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if controller in ctrls.split(","):
                base = CGROUP_ROOT / controller
                return base / path.lstrip("/") if base.is_dir() else None
            if ctrls == "" and (CGROUP_ROOT / "cgroup.controllers").exists():  # cgroup v2
                return CGROUP_ROOT / path.lstrip("/")
    except OSError:
        pass
    return None


def make_cgroups(memory_bytes: int, max_pids: int) -> list[Path]:
    """Create memory and pids cgroups below ours; returns the cgroup dirs to join (may be empty)."""
    made = []
    name = f"harness-test-{uuid.uuid4().hex[:8]}"
    mem = _own_cgroup("memory")
    pids = _own_cgroup("pids")
    try:
        if mem is not None and (mem / "memory.limit_in_bytes").exists():  # v1
            d = mem / name
            d.mkdir()
            (d / "memory.limit_in_bytes").write_text(str(memory_bytes))
            made.append(d)
            if pids is not None:
                p = pids / name
                p.mkdir()
                (p / "pids.max").write_text(str(max_pids))
                made.append(p)
        elif mem is not None and (mem / "cgroup.subtree_control").exists():  # v2
            d = mem / name
            d.mkdir()
            (d / "memory.max").write_text(str(memory_bytes))
            (d / "pids.max").write_text(str(max_pids))
            made.append(d)
    except OSError:
        pass
    return made


def remove_cgroups(dirs: list[Path]) -> None:
    for d in dirs:
        try:
            procs = (d / "cgroup.procs").read_text().split()
            for pid in procs:
                try:
                    os.kill(int(pid), 9)
                except OSError:
                    pass
            d.rmdir()
        except OSError:
            pass


def run_contained(argv: list[str], timeout: float, memory_bytes: int = 8 * 1024**3, max_pids: int = 2048,
                  env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    unshare = shutil.which("unshare")
    cgroups = make_cgroups(memory_bytes, max_pids)

    def enter() -> None:
        for d in cgroups:
            (d / "cgroup.procs").write_text(str(os.getpid()))

    full = [unshare, "--pid", "--fork", "--mount-proc", "--kill-child", *argv] if unshare else argv
    try:
        return subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
                              preexec_fn=enter if cgroups else None)
    finally:
        remove_cgroups(cgroups)
