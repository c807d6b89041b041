"""Reading evalplus-style sample files, with one-line errors for every kind of bad input."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.datasets import Dataset
from harness.errors import UsageError
from harness.store import read_user_text


@dataclass(frozen=True)
class Sample:
    position: int  # line order among all samples (0-based)
    task_id: str
    sample_index: int  # position among this task's samples
    program: str  # the full program to run
    meta: dict[str, Any] = field(default_factory=dict)  # generation metadata kept for the taxonomy


META_KEYS = ("finish_reason", "n_tokens", "max_new_tokens")


def read_samples(path: str | Path, dataset: Dataset) -> list[Sample]:
    """Parse and validate a samples file against ``dataset``; raises UsageError on bad input."""
    p = Path(path)
    text = read_user_text(p, "samples file")
    samples: list[Sample] = []
    counts: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{p}:{lineno}: malformed JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise UsageError(f"{p}:{lineno}: expected a JSON object")
        task_id = row.get("task_id")
        if not isinstance(task_id, str):
            raise UsageError(f"{p}:{lineno}: missing or non-string 'task_id'")
        task = dataset.tasks.get(task_id)
        if task is None:
            raise UsageError(f"{p}:{lineno}: unknown task id {task_id!r} for dataset {dataset.name}")
        if not isinstance(row.get("solution"), str) and not isinstance(row.get("completion"), str):
            raise UsageError(f"{p}:{lineno}: needs a string 'solution' or 'completion'")
        index = counts.get(task_id, 0)
        counts[task_id] = index + 1
        meta = {k: row[k] for k in META_KEYS if k in row}
        samples.append(Sample(len(samples), task_id, index, task.program_for(row), meta))
    if not samples:
        raise UsageError(f"{p}: no samples")
    return samples
