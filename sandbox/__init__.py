"""Execution sandbox: a stdlib-only runner (``sandbox.runner``) and backends that host it.

This package never imports ``harness``. Backends are chosen by name through ``harness.registry.BACKENDS``.
"""

from __future__ import annotations

from sandbox.errors import SandboxUnavailable
from sandbox.pool import Backend, Limits, PoolBackend, Worker, WorkerDied

__all__ = ["Backend", "Limits", "PoolBackend", "SandboxUnavailable", "Worker", "WorkerDied"]
