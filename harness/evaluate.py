"""``harness eval``'s names where they used to live: the pipeline is :mod:`harness.pipeline`, the
comparison :mod:`harness.compare`, the eval summary's text :mod:`harness.report`."""

from harness.compare import compare, dataset_summary
from harness.pipeline import (
    DEFAULT_DATASETS,
    EvalConfig,
    EvalResult,
    ModelRun,
    cache_key,
    evaluate,
    verdict_code_version,
)
from harness.report import render_console, render_markdown

__all__ = [
    "DEFAULT_DATASETS", "EvalConfig", "EvalResult", "ModelRun", "cache_key", "compare", "dataset_summary",
    "evaluate", "render_console", "render_markdown", "verdict_code_version",
]
