"""The on-disk cache: where it is, how big each kind is, and clearing it.

Kinds (under :func:`harness.execution.expected.cache_root`, ``$HARNESS_CACHE_DIR`` or
``~/.cache/distill-harness``): ``expected`` holds the canonical solutions' outputs and times per
dataset version (recomputed in minutes), ``models`` each model's samples and results per dataset
(``harness eval``; regenerating them needs the model again). Only these directories are ever
removed, never the root itself, so a cache root pointed at a shared directory is safe.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import InfraError
from harness.execution.expected import cache_root

KINDS: dict[str, str] = {
    "expected": "reference outputs and times of the canonical solutions, per dataset version",
    "models": "samples and results per model, generation settings and dataset (harness eval)",
}


@dataclass(frozen=True)
class KindInfo:
    kind: str
    path: Path
    bytes: int
    files: int
    description: str


def _usage(path: Path) -> tuple[int, int]:
    total = files = 0
    if not path.is_dir():
        return 0, 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
                files += 1
        except OSError:
            continue  # removed meanwhile
    return total, files


def cache_info(root: Path | None = None) -> list[KindInfo]:
    """Size and file count of every kind of the cache."""
    root = root or cache_root()
    return [KindInfo(kind, root / kind, *_usage(root / kind), desc) for kind, desc in KINDS.items()]


def clear_cache(kinds: list[str], root: Path | None = None) -> list[KindInfo]:
    """Remove the given kinds; returns what they held."""
    root = root or cache_root()
    before = [k for k in cache_info(root) if k.kind in kinds]
    for info in before:
        if info.path.exists():
            try:
                shutil.rmtree(info.path)
            except OSError as exc:
                raise InfraError(f"cannot remove {info.path}: {exc.strerror or exc}") from None
    return before
