"""Execution sandbox: a stdlib-only runner (``sandbox.runner``) and backends that host it.

This package never imports ``harness``. Backends are looked up by name in :data:`BACKENDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.errors import SandboxUnavailable
from sandbox.pool import Backend, Limits, PoolBackend, Worker, WorkerDied


def _local(**kw: Any) -> Backend:
    from sandbox.local import LocalBackend

    return LocalBackend(**kw)


def _docker(**kw: Any) -> Backend:
    from sandbox.docker_backend import DockerBackend

    return DockerBackend(**kw)


#: Registry of backends: name -> factory(jobs=..., limits=..., **options).
BACKENDS: dict[str, Callable[..., Backend]] = {"local": _local, "docker": _docker}


def make_backend(name: str, **kw: Any) -> Backend:
    if name not in BACKENDS:
        raise SandboxUnavailable(f"unknown sandbox backend {name!r} (choose from {', '.join(BACKENDS)})")
    return BACKENDS[name](**kw)


__all__ = ["BACKENDS", "Backend", "Limits", "PoolBackend", "SandboxUnavailable", "Worker", "WorkerDied", "make_backend"]
