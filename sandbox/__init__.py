"""Execution sandbox: a stdlib-only runner (``sandbox.runner``) and backends that host it.

This package never imports ``harness``. Backends are chosen by name through ``harness.core.registry.BACKENDS``.
"""

from __future__ import annotations

from sandbox.errors import SandboxUnavailable
from sandbox.pool import PoolBackend, Worker, WorkerDied
from sandbox.protocol import (
    AssertsPassed,
    Backend,
    Event,
    Job,
    Limits,
    Outcome,
    Output,
    Paused,
    Raised,
    Timeout,
    Watch,
    WatchFactory,
)

__all__ = ["AssertsPassed", "Backend", "Event", "Job", "Limits", "Outcome", "Output", "Paused", "PoolBackend",
           "Raised", "SandboxUnavailable", "Timeout", "Watch", "WatchFactory", "Worker", "WorkerDied"]
