"""distill-harness: evaluate distilled code LLMs against their teachers.

The public API is small and lazily imported so that ``harness --help`` stays instant:

    from harness import load_dataset, execute_samples
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_dataset": ("harness.datasets", "load_dataset"),
    "Task": ("harness.datasets", "Task"),
    "execute_samples": ("harness.execute", "execute_samples"),
    "ExecuteConfig": ("harness.execute", "ExecuteConfig"),
    "pass_at_k": ("harness.metrics", "pass_at_k"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(name)
