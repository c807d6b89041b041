"""The samples file: append as produced, resume without duplicates, merge rank shards.

Lines are appended and flushed per batch, so an interrupted run loses at most the batch in
flight; a torn last line is dropped on the next run. When a run completes, the file is rewritten
(atomically) in canonical order: dataset task order, then sample index. That makes the result
independent of batching and of how many processes produced it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from harness.results.store import write_jsonl_atomic

Key = tuple[str, int]


def shard_path(out: Path, rank: int, world: int) -> Path:
    """Where rank ``rank`` of ``world`` writes its lines before rank 0 merges them."""
    return out.with_name(f"{out.name}.rank{rank}-of-{world}.part")


def shard_paths(out: Path) -> list[Path]:
    """Every shard next to ``out``, from this run or an interrupted one of any world size."""
    return sorted(out.parent.glob(f"{out.name}.rank*-of-*.part"))


def read_samples(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """Well-formed sample lines of ``path`` (first occurrence of each key wins) and whether any
    torn or malformed line was skipped."""
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows, False
    seen: set[Key] = set()
    damaged = False
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                damaged = True  # torn write: the process died mid-line
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key = (str(row["task_id"]), int(row["sample_index"]))
            except (ValueError, KeyError, TypeError):
                damaged = True
                continue
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows, damaged


def dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Replace ``path`` with ``rows`` in one step (temp file + rename), never a half-written file."""
    write_jsonl_atomic(path, rows, ensure_ascii=False)


def canonical(rows: Iterable[dict[str, Any]], task_order: Sequence[str]) -> list[dict[str, Any]]:
    """Deduplicated rows in task order, then sample index; tasks unknown to the order go last."""
    rank = {t: i for i, t in enumerate(task_order)}
    unique: dict[Key, dict[str, Any]] = {}
    for row in rows:
        unique.setdefault((str(row["task_id"]), int(row["sample_index"])), row)
    return sorted(
        unique.values(),
        key=lambda r: (
            rank.get(r["task_id"], len(rank)),
            r["task_id"] if r["task_id"] not in rank else "",
            int(r["sample_index"]),
        ),
    )


def finalize(out: Path, task_order: Sequence[str], extra: Sequence[Path] = ()) -> int:
    """Merge ``extra`` shard files into ``out`` in canonical order, delete them; return the count."""
    rows, _ = read_samples(out)
    for shard in extra:
        shard_rows, _ = read_samples(shard)
        rows.extend(shard_rows)
    ordered = canonical(rows, task_order)
    write_atomic(out, ordered)
    for shard in extra:
        shard.unlink(missing_ok=True)
    return len(ordered)


class SampleWriter:
    """Appends lines to one file, flushing per batch, after dropping a torn tail left by a crash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        rows, damaged = read_samples(path)
        if damaged:
            write_atomic(path, rows)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self._fh.write(dumps(row))
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> SampleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
