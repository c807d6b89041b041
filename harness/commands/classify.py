"""``harness classify RESULTS_DIR``: re-label an existing results directory without re-running code.

The taxonomy improves faster than teachers can be re-executed, so the labels must be
recomputable from what a run left behind: results.jsonl (the sandbox's structured outcome)
plus the samples (the code). The rewrite is atomic so an interrupted classify never leaves a
half-written results file; summary.json, when present, gets the new counts under ``taxonomy``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import UsageError


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


def _read_jsonl(path: Path, what: str) -> list[dict[str, Any]]:
    """Rows of a JSON Lines file; a bad line is the user's to fix (exit 2), not a traceback."""
    if not path.is_file():
        raise UsageError(f"{what} not found: {path}")
    rows: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path}:{lineno}: malformed JSON: {exc.msg}") from exc
                if not isinstance(row, dict):
                    raise UsageError(f"{path}:{lineno}: expected a JSON object")
                rows.append(row)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} {path}: {exc}") from exc
    return rows


def _dataset_name(results_dir: Path, given: str | None) -> str:
    if given:
        return given
    summary = results_dir / "summary.json"
    if summary.is_file():
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"{summary}: malformed JSON: {exc}") from exc
        name = data.get("dataset") if isinstance(data, dict) else None
        if isinstance(name, str) and name:
            return name
    raise UsageError(f"dataset unknown: {summary} names none; pass --dataset")


def _solutions(
    rows: list[dict[str, Any]], samples: list[dict[str, Any]], dataset: Any, samples_path: Path
) -> tuple[list[str], list[str]]:
    """Each row's program and entry point, matched on (task_id, sample_index).

    Rows are in samples order, but matching on the key also copes with a partial
    results file left by an interrupted run.
    """
    by_key: dict[tuple[str, int], dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for i, sample in enumerate(samples):
        sample_tid = sample.get("task_id")
        if not isinstance(sample_tid, str):
            raise UsageError(f"{samples_path}: sample {i} has no task_id")
        position = seen.get(sample_tid, 0)
        seen[sample_tid] = position + 1
        by_key[(sample_tid, position)] = sample
    solutions: list[str] = []
    entry_points: list[str] = []
    for i, row in enumerate(rows):
        tid = row.get("task_id")
        index = row.get("sample_index")
        found: dict[str, Any] | None
        if isinstance(tid, str) and isinstance(index, int):
            found = by_key.get((tid, index))
        else:  # no key on the row: rows are in samples order
            found = samples[i] if i < len(samples) else None
            tid = found.get("task_id") if found else tid
        if found is None or found.get("task_id") != tid:
            raise UsageError(
                f"results row {i} ({tid}, sample {index}) has no matching sample in {samples_path}"
            )
        sample = found
        task = dataset.tasks.get(tid)
        if task is None:
            raise UsageError(f"task {tid!r} is not in dataset {dataset.name}")
        solution = sample.get("solution")
        if not isinstance(solution, str):
            completion = sample.get("completion")
            if not isinstance(completion, str):
                raise UsageError(f"{samples_path}: sample for {tid} has no solution or completion")
            solution = task.prompt + completion
        solutions.append(solution)
        entry_points.append(task.entry_point)
    return solutions, entry_points


def _write_jsonl_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write beside the target and rename over it: readers see the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _update_summary(path: Path, taxonomy: dict[str, Any]) -> None:
    """Keep summary.json's ``taxonomy`` counts in step with the new labels (when it exists)."""
    if not path.is_file():
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return  # _dataset_name already rejected a broken file when it needed one
    if not isinstance(data, dict):
        return
    data["taxonomy"] = taxonomy
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def run(args: argparse.Namespace) -> int:
    """Re-label RESULTS_DIR/results.jsonl in place and print the per-category summary."""
    from harness.datasets import load_dataset
    from harness.taxonomy import classify_rows, render_table13, table13

    results_dir = Path(args.results_dir)
    if not results_dir.is_dir():
        raise UsageError(f"results directory not found: {results_dir}")
    results_path = results_dir / "results.jsonl"
    rows = _read_jsonl(results_path, "results file")

    samples_path = Path(args.samples) if args.samples else results_dir / "samples.jsonl"
    if not args.samples and not samples_path.is_file():
        raise UsageError(f"no samples: {samples_path} does not exist; pass --samples FILE")
    samples = _read_jsonl(samples_path, "samples file")

    dataset = load_dataset(_dataset_name(results_dir, args.dataset), data_dir=args.data_dir)
    solutions, entry_points = _solutions(rows, samples, dataset, samples_path)
    classify_rows(rows, solutions, entry_points)
    _write_jsonl_atomic(results_path, rows)

    summary = table13(rows)
    _update_summary(results_dir / "summary.json", summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{dataset.name}: {summary['failed']} failures of {summary['total']} samples\n")
        print(render_table13({dataset.name: summary}), end="")
    return 0
