"""Re-label an existing results directory without re-running code (``harness classify``).

The taxonomy improves faster than teachers can be re-executed, so the labels must be
recomputable from what a run left behind: results.jsonl (the sandbox's structured outcome)
plus the samples (the code). The rewrite is atomic so an interrupted classify never leaves a
half-written results file; summary.json, when present, gets the new counts under ``taxonomy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError
from harness.results.store import (
    RunDir,
    match_samples,
    read_json_object,
    read_jsonl,
    write_jsonl_atomic,
)
from harness.taxonomy import classify_rows, render_table13, table13


@dataclass(frozen=True)
class Relabelled:
    """What :func:`relabel` did: the dataset and its new Table-13 counts."""

    dataset: str
    summary: dict[str, Any]

    def render(self) -> str:
        """The per-category table as ``harness classify`` prints it."""
        head = f"{self.dataset}: {self.summary['failed']} failures of {self.summary['total']} samples\n"
        return f"{head}\n{render_table13({self.dataset: self.summary})}"


def relabel(
    results_dir: str | Path,
    *,
    samples: str | Path | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
) -> Relabelled:
    """Re-classify every failure of RESULTS_DIR/results.jsonl in place (``samples`` defaults to
    RESULTS_DIR/samples.jsonl, ``dataset`` to the one summary.json names)."""
    from harness.data.datasets import load_dataset

    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UsageError(f"results directory not found: {results_dir}")
    run_dir = RunDir(results_dir)
    rows = read_jsonl(run_dir.results, strict=True, what="results file")

    samples_path = Path(samples) if samples else results_dir / "samples.jsonl"
    if not samples and not samples_path.is_file():
        raise UsageError(f"no samples: {samples_path} does not exist; pass --samples FILE")
    sample_rows = read_jsonl(samples_path, strict=True, what="samples file")

    ds = load_dataset(_dataset_name(results_dir, dataset), data_dir=data_dir)
    solutions, entry_points = _solutions(rows, sample_rows, ds, samples_path)
    classify_rows(rows, solutions, entry_points)
    write_jsonl_atomic(run_dir.results, rows, ensure_ascii=False)

    summary = table13(rows)
    run_dir.update_summary("taxonomy", summary)  # counts in step with the new labels
    return Relabelled(ds.name, summary)


def _dataset_name(results_dir: Path, given: str | None) -> str:
    if given:
        return given
    summary = RunDir(results_dir).summary
    if summary.is_file():
        name = read_json_object(summary, "summary").get("dataset")
        if isinstance(name, str) and name:
            return name
    raise UsageError(f"dataset unknown: {summary} names none; pass --dataset")


def _solutions(
    rows: list[dict[str, Any]], samples: list[dict[str, Any]], dataset: Any, samples_path: Path
) -> tuple[list[str], list[str]]:
    """Each row's program and entry point (rows matched to samples by :func:`match_samples`)."""
    for i, given in enumerate(samples):
        if not isinstance(given.get("task_id"), str):
            raise UsageError(f"{samples_path}: sample {i} has no task_id")
    solutions: list[str] = []
    entry_points: list[str] = []
    for i, (row, sample) in enumerate(match_samples(rows, samples)):
        tid = row.task_id
        if sample is None:
            raise UsageError(
                f"results row {i} ({tid}, sample {row.sample_index}) has no matching sample in {samples_path}"
            )
        task = dataset.tasks.get(tid)
        if task is None:
            raise UsageError(f"task {tid!r} is not in dataset {dataset.name}")
        if not isinstance(sample.get("solution"), str) and not isinstance(sample.get("completion"), str):
            raise UsageError(f"{samples_path}: sample for {tid} has no solution or completion")
        solutions.append(task.program_for(sample))
        entry_points.append(task.entry_point)
    return solutions, entry_points
