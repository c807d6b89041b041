"""``harness classify RESULTS_DIR``: re-label an existing results directory without re-running code.

The taxonomy improves faster than teachers can be re-executed, so the labels must be
recomputable from what a run left behind: results.jsonl (the sandbox's structured outcome)
plus the samples (the code). The rewrite is atomic so an interrupted classify never leaves a
half-written results file; summary.json, when present, gets the new counts under ``taxonomy``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.store import (
    RunDir,
    match_samples,
    read_json_object,
    read_jsonl,
    write_jsonl_atomic,
)


def add_parser(subparsers: Any) -> None:
    """Register the ``classify`` sub-command (no heavy imports here: ``--help`` stays instant)."""
    p = subparsers.add_parser(
        "classify",
        help="re-label the failures of a results directory with the error taxonomy",
        description=(
            "Re-classify every failure in RESULTS_DIR/results.jsonl into the error taxonomy "
            "(no code is re-run), rewrite the file and print the Table-13 summary."
        ),
    )
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="directory holding results.jsonl")
    p.add_argument(
        "--samples",
        metavar="FILE",
        help="samples file the results came from (default: RESULTS_DIR/samples.jsonl)",
    )
    p.add_argument(
        "--dataset",
        metavar="D",
        help="humaneval, humaneval+, mbpp or mbpp+ (default: from RESULTS_DIR/summary.json)",
    )
    p.add_argument("--data-dir", metavar="DIR", help="directory with the dataset files")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


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


def run(args: argparse.Namespace) -> int:
    """Re-label RESULTS_DIR/results.jsonl in place and print the per-category summary."""
    from harness.datasets import load_dataset
    from harness.taxonomy import classify_rows, render_table13, table13

    results_dir = Path(args.results_dir)
    if not results_dir.is_dir():
        raise UsageError(f"results directory not found: {results_dir}")
    run_dir = RunDir(results_dir)
    rows = read_jsonl(run_dir.results, strict=True, what="results file")

    samples_path = Path(args.samples) if args.samples else results_dir / "samples.jsonl"
    if not args.samples and not samples_path.is_file():
        raise UsageError(f"no samples: {samples_path} does not exist; pass --samples FILE")
    samples = read_jsonl(samples_path, strict=True, what="samples file")

    dataset = load_dataset(_dataset_name(results_dir, args.dataset), data_dir=args.data_dir)
    solutions, entry_points = _solutions(rows, samples, dataset, samples_path)
    classify_rows(rows, solutions, entry_points)
    write_jsonl_atomic(run_dir.results, rows, ensure_ascii=False)

    summary = table13(rows)
    run_dir.update_summary("taxonomy", summary)  # counts in step with the new labels
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{dataset.name}: {summary['failed']} failures of {summary['total']} samples\n")
        print(render_table13({dataset.name: summary}), end="")
    return 0
