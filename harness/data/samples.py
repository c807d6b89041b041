"""Reading evalplus-style sample files, with one-line errors for every kind of bad input."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError
from harness.data.datasets import Dataset
from harness.results.store import read_user_text


@dataclass(frozen=True)
class Sample:
    position: int  # line order among all samples (0-based)
    task_id: str
    sample_index: int  # position among this task's samples
    program: str  # the full program to run
    meta: dict[str, Any] = field(default_factory=dict)  # generation metadata kept for the taxonomy


META_KEYS = ("finish_reason", "n_tokens", "max_new_tokens")


def sample_rows(path: str | Path, flag: str = "") -> list[tuple[int, dict[str, Any], str]]:
    """``(line number, row, line)`` of every sample line of a user's samples file, checked the
    same way wherever one is read (execute, and eval before any model is loaded)."""
    p = Path(path)
    where = f"{flag} {p}" if flag else str(p)
    text = read_user_text(p, "samples file", flag=flag)
    rows: list[tuple[int, dict[str, Any], str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}:{lineno}: malformed JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise UsageError(f"{where}:{lineno}: expected a JSON object")
        if not isinstance(row.get("task_id"), str):
            raise UsageError(f"{where}:{lineno}: missing or non-string 'task_id'")
        if not isinstance(row.get("solution"), str) and not isinstance(row.get("completion"), str):
            raise UsageError(f"{where}:{lineno}: needs a string 'solution' or 'completion'")
        rows.append((lineno, row, line))
    if not rows:
        raise UsageError(f"{where}: no samples")
    return rows


def read_samples(path: str | Path, dataset: Dataset) -> list[Sample]:
    """Parse and validate a samples file against ``dataset``; raises UsageError on bad input."""
    samples: list[Sample] = []
    counts: dict[str, int] = {}
    for lineno, row, _ in sample_rows(path):
        task_id = row["task_id"]
        task = dataset.tasks.get(task_id)
        if task is None:
            raise UsageError(f"{path}:{lineno}: unknown task id {task_id!r} for dataset {dataset.name}")
        index = counts.get(task_id, 0)
        counts[task_id] = index + 1
        meta = {k: row[k] for k in META_KEYS if k in row}
        samples.append(Sample(len(samples), task_id, index, task.program_for(row), meta))
    return samples
