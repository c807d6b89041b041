"""Shared fixtures: the offline data directory and small helpers for sample files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"


def data_dir_path() -> Path | None:
    env = os.environ.get("HARNESS_DATA_DIR")
    for cand in (env, str(DEFAULT_DATA)):
        if cand and Path(cand, "HumanEvalPlus-v0.1.10.jsonl.gz").exists():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = data_dir_path()
    if path is None:
        pytest.skip("offline benchmark data not found (set HARNESS_DATA_DIR or provide ../shared/data)")
    return path


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


#: Fields that measure a run rather than judge it (``over_limit`` holds CPU times).
TIMING_KEYS = frozenset({"duration_s", "attempts", "output", "over_limit"})


def judged(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as judged, for comparing two runs: no timing fields, and no time-out messages
    (they quote the times they measured)."""
    return [{k: v for k, v in r.items()
             if k not in TIMING_KEYS and not (k == "error_message" and r.get("error_type") == "TimeoutError")}
            for r in rows]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_ok = False
    try:
        import torch

        gpu_ok = torch.cuda.is_available()
    except Exception:
        pass
    for item in items:
        if "gpu" in item.keywords and not gpu_ok:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
