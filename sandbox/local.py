"""Local backend: runners as local processes, isolated with bubblewrap where it is installed.

Inside bubblewrap a runner sees only /usr, the Python installation (its site-packages hidden
under an empty tmpfs), the runner file and a size-limited /tmp: no network, no view of the
project, the datasets, the harness's own packages or the home directory; its own PID namespace
and, when started as root, a dedicated uid per runner so that process limits hold and every
process a sample leaves behind can be killed.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
import sysconfig
import tempfile
import warnings
from pathlib import Path
from typing import Any

from sandbox import packages
from sandbox.pool import RUNNER_PATH, Limits, PoolBackend, Worker

UID_BASE = 61000
#: Fixed hash seed: set and dict iteration orders, hence outputs, are the same in every run.
RUNNER_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
PY_MOUNT = "/opt/py"
RUNNER_MOUNT = "/opt/sandbox/runner.py"


class SandboxWarning(UserWarning):
    pass


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _hidden_dirs(prefix: Path) -> list[Path]:
    """Directories under the bound Python prefix that must not be visible: installed packages."""
    candidates: set[Path] = set()
    for p in [*site.getsitepackages(), site.getusersitepackages(), sysconfig.get_paths()["purelib"],
              sysconfig.get_paths()["platlib"]]:
        candidates.add(Path(p))
    for p in sys.path:
        if p.endswith(("site-packages", "dist-packages")):
            candidates.add(Path(p))
    out = []
    for c in candidates:
        try:
            rel = c.resolve().relative_to(prefix)
        except ValueError:
            continue
        if c.exists():
            out.append(rel)
    return sorted(set(out))


def _world_traversable(path: Path) -> bool:
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


class LocalBackend(PoolBackend):
    name = "local"

    def __init__(self, jobs: int | None = None, limits: Limits | None = None, isolation: str = "auto") -> None:
        super().__init__(jobs, limits)
        self.bwrap = bwrap_path() if isolation in ("auto", "bwrap") else None
        if isolation == "bwrap" and self.bwrap is None:
            from sandbox.errors import SandboxUnavailable

            raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
        if self.bwrap is None and isolation == "auto":
            warnings.warn(
                "bubblewrap (bwrap) is not installed: the local sandbox runs samples with resource "
                "limits only, without filesystem, network or PID isolation. Install bubblewrap or use "
                "--backend docker for untrusted code.",
                SandboxWarning,
                stacklevel=2,
            )
        self.isolation = "bwrap" if self.bwrap else "none"
        self.prefix = Path(sys.base_prefix).resolve()
        exe = Path(sys.executable)
        self.py_name = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if not (self.prefix / "bin" / self.py_name).exists():
            self.py_name = exe.name
        self._tmp_dirs: list[str] = []
        self.packages = packages.roots()

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["isolation"] = self.isolation
        return info

    def _uid(self, index: int) -> int | None:
        if os.geteuid() != 0:
            return None
        if self.bwrap is None and not _world_traversable(self.prefix):
            return None  # an unprivileged uid could not read the standard library
        return UID_BASE + (os.getpid() % 500) * 8 + index

    def make_worker(self, index: int) -> Worker:
        uid = self._uid(index)
        if self.bwrap:
            argv = self._bwrap_argv(uid)
        else:
            tmp = tempfile.mkdtemp(prefix="harness-sandbox-")
            if uid is not None:
                os.chown(tmp, uid, uid)
            self._tmp_dirs.append(tmp)
            argv = [sys.executable, "-s", "-S", "-B", str(RUNNER_PATH), "--tmp", tmp,
                    "--packages", self._package_links(tmp)]
            if uid is not None:
                argv += ["--uid", str(uid)]
        return Worker(argv, name=f"local-{index}", env=RUNNER_ENV)

    def _package_links(self, tmp: str) -> str:
        """Without bubblewrap: a directory of links to the candidate packages alone."""
        links = Path(tmp) / "packages"
        links.mkdir(exist_ok=True)
        for top, path in self.packages.items():
            (links / top).symlink_to(path)
        return str(links)

    def _bwrap_argv(self, uid: int | None) -> list[str]:
        assert self.bwrap is not None
        lim = self.limits
        argv = [
            self.bwrap,
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr",
        ]
        for name in ("bin", "lib", "lib32", "lib64", "sbin"):
            p = Path("/") / name
            if p.is_symlink():
                argv += ["--symlink", os.readlink(p), f"/{name}"]
            elif p.is_dir():
                argv += ["--ro-bind", str(p), f"/{name}"]
        argv += ["--perms", "0755", "--dir", "/opt"]
        if self.prefix != Path("/usr"):
            argv += ["--ro-bind", str(self.prefix), PY_MOUNT]
            py = f"{PY_MOUNT}/bin/{self.py_name}"
            mount_root = PY_MOUNT
        else:
            py = f"/usr/bin/{self.py_name}"
            mount_root = "/usr"
        hidden: set[str] = set()
        for rel in _hidden_dirs(self.prefix):
            hidden.add(f"{mount_root}/{rel}")
            if str(self.prefix).startswith("/usr"):
                hidden.add(str(self.prefix / rel))
        # Debian-style system packages are never needed by the runner either.
        for extra in Path("/usr/lib").glob("python3*/dist-packages"):
            hidden.add(str(extra))
        for extra in Path("/usr/local/lib").glob("python3*/*-packages"):
            hidden.add(str(extra))
        for path in sorted(hidden):
            argv += ["--perms", "0755", "--tmpfs", path]
        argv += ["--perms", "0755", "--dir", packages.MOUNT]
        for top, root in self.packages.items():
            argv += ["--ro-bind", str(root), f"{packages.MOUNT}/{top}"]
        argv += [
            "--perms", "0755", "--dir", "/opt/sandbox",
            "--ro-bind", str(RUNNER_PATH), RUNNER_MOUNT,
            "--proc", "/proc", "--dev", "/dev",
            "--perms", "01777", "--size", str(lim.tmpfs_bytes), "--tmpfs", "/tmp",
            "--chdir", "/tmp", "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
            "--setenv", "PYTHONHASHSEED", "0",
            *self._library_path(mount_root),
            py, "-s", "-S", "-B", RUNNER_MOUNT, "--tmp", "/tmp", "--reap-all", "--packages", packages.MOUNT,
        ]
        if uid is not None:
            argv += ["--uid", str(uid)]
        return argv

    def _library_path(self, mount_root: str) -> list[str]:
        """A Python built with a shared libpython (pyenv's) finds it through a RUNPATH under its
        own prefix, which is mounted elsewhere here: without this the loader takes the system's
        libpython of the same minor version, and extension modules built against the other patch
        release fail (``_ssl``: undefined symbol)."""
        if mount_root != PY_MOUNT or not any((self.prefix / "lib").glob("libpython3*.so*")):
            return []
        return ["--setenv", "LD_LIBRARY_PATH", f"{PY_MOUNT}/lib"]

    def close(self) -> None:
        super().close()
        for d in self._tmp_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._tmp_dirs.clear()
