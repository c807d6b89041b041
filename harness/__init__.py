"""distill-harness: evaluate distilled code LLMs against their teachers.

The public API, the one the command line itself calls (imported on first use, so that
``harness --help`` stays instant)::

    from harness import ExecuteConfig, execute_samples  # harness execute
    from harness import EvalConfig, evaluate            # harness eval
    from harness import TrainConfig, train_student      # harness train
    from harness import load_dataset                    # humaneval, humaneval+, mbpp, mbpp+

    result = execute_samples(ExecuteConfig(dataset="humaneval+", samples=Path("s.jsonl"), out=Path("ex")))
    result.summary["pass@1"]                            # also ex/summary.json, ex/results.jsonl

(``execute``, ``train``: the names of the modules ``harness.execution.execute`` and ``harness.train``, so
their functions are ``execute_samples`` and ``train_student`` here.) Everything they write has a typed record (:mod:`harness.results.records`) that reads and writes its
exact JSON, and :mod:`harness.results.store` reads result directories into them::

    summary = EvalDir("eval").read()                    # EvalSummary
    summary.datasets["humaneval+"].precision_loss.plus
    rows = RunDir("ex").read_rows()                     # [ResultRow, ...]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "load_dataset": ("harness.data.datasets", "load_dataset"),
    "Task": ("harness.data.datasets", "Task"),
    "execute_samples": ("harness.execution.execute", "execute_samples"),
    "ExecuteConfig": ("harness.execution.execute", "ExecuteConfig"),
    "ExecuteResult": ("harness.execution.execute", "ExecuteResult"),
    "evaluate": ("harness.pipeline", "evaluate"),
    "EvalConfig": ("harness.pipeline", "EvalConfig"),
    "EvalResult": ("harness.pipeline", "EvalResult"),
    "train_student": ("harness.train", "train"),
    "TrainConfig": ("harness.train", "TrainConfig"),
    "pass_at_k": ("harness.analysis.metrics", "pass_at_k"),
    **{name: ("harness.results.records", name) for name in (
        "ResultRow", "RunSummary", "EvalSummary", "Comparison", "ModelBlock", "Metamorphic",
        "GateConfig", "GateCheck", "GateResult")},
    "EvalDir": ("harness.results.store", "EvalDir"),
    "RunDir": ("harness.results.store", "RunDir"),
}

__all__ = [
    "Comparison", "EvalConfig", "EvalDir", "EvalResult", "EvalSummary", "ExecuteConfig", "ExecuteResult",
    "GateCheck", "GateConfig", "GateResult", "Metamorphic", "ModelBlock", "ResultRow", "RunDir", "RunSummary",
    "Task", "TrainConfig", "__version__", "evaluate", "execute_samples", "load_dataset", "pass_at_k",
    "train_student",
]

if TYPE_CHECKING:  # the same names, for type checkers
    from harness.analysis.metrics import pass_at_k
    from harness.data.datasets import Task, load_dataset
    from harness.execution.execute import ExecuteConfig, ExecuteResult, execute_samples
    from harness.pipeline import EvalConfig, EvalResult, evaluate
    from harness.results.records import (
        Comparison,
        EvalSummary,
        GateCheck,
        GateConfig,
        GateResult,
        Metamorphic,
        ModelBlock,
        ResultRow,
        RunSummary,
    )
    from harness.results.store import EvalDir, RunDir
    from harness.train import TrainConfig
    from harness.train import train as train_student


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
