"""The one place that reads and writes result directories and their files.

File helpers (JSON Lines, atomic writes, sha256 of a file), a ``harness execute`` directory
(:class:`RunDir`: results written as produced, resumed after an interruption) and a ``harness
eval`` directory (:class:`EvalDir`: ``summary.json`` as an :class:`~harness.results.records.EvalSummary`,
the per-model runs). Report, gate, classify and metamorphic read through here; nothing else
parses ``summary.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError
from harness.results.records import EvalSummary, GateResult, ResultRow, RunSummary

# ----------------------------------------------------------------------------- file helpers


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_user_text(path: Path, what: str, *, flag: str = "") -> str:
    """The UTF-8 text of a file the user named; a missing, unreadable or binary file is a
    one-line :class:`UsageError` (exit 2). ``what`` names it ("gate file"), ``flag`` the option
    that gave it, when a command takes several."""
    lead = f"{flag}: " if flag else ""
    where = f"{flag} {path}" if flag else str(path)
    if not path.exists():
        raise UsageError(f"{lead}{what} not found: {path}")
    if not path.is_file():
        raise UsageError(f"{lead}{what} is not a file: {path}")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"{lead}cannot read {what} {path}: {exc.strerror}") from None


def read_jsonl(path: str | os.PathLike[str], *, strict: bool = False, what: str = "file") -> list[dict[str, Any]]:
    """The JSON objects of a JSON Lines file, blank lines skipped.

    ``strict``: a missing file, a malformed line or a line that is not an object is the user's
    to fix (:class:`UsageError`, exit 2). Otherwise they are skipped (a line cut by a kill, a
    results file not written yet): an absent file has no rows.
    """
    p = Path(path)
    if not p.is_file():
        if strict:
            raise UsageError(f"{what} not found: {p}")
        return []
    rows: list[dict[str, Any]] = []
    try:
        with p.open("r", encoding="utf-8", errors="strict" if strict else "replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    if strict:
                        raise UsageError(f"{p}:{lineno}: malformed JSON: {getattr(exc, 'msg', exc)}") from None
                    continue
                if isinstance(row, dict):
                    rows.append(row)
                elif strict:
                    raise UsageError(f"{p}:{lineno}: expected a JSON object")
    except (OSError, UnicodeDecodeError) as exc:
        if strict:
            raise UsageError(f"cannot read {what} {p}: {exc}") from None
        return rows
    return rows


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write beside the target and rename over it: readers see the old file or the new one."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_json_atomic(path: str | os.PathLike[str], data: Any, *, newline: bool = True) -> None:
    """``data`` as indented JSON (with a final newline unless ``newline`` is false)."""
    write_text_atomic(path, json.dumps(data, indent=2) + ("\n" if newline else ""))


def write_jsonl_atomic(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]], *,
                       ensure_ascii: bool = True) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=ensure_ascii) + "\n" for r in rows))


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from a file; UsageError (exit 2) when it is malformed or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: malformed JSON ({exc})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object")
    return data


# ----------------------------------------------------------------------------- samples <-> results


def match_samples(results: Iterable[Mapping[str, Any]], samples: Iterable[Mapping[str, Any]],
                  ) -> list[tuple[ResultRow, dict[str, Any] | None]]:
    """Each results row with the sample it judged: the one place samples meet results.

    A row names its sample by ``(task_id, sample_index)``, the index counting that task's lines
    of the samples file from 0; a row without an index takes the next index of its task (rows are
    written in samples order). A partial results file matches the samples it has.
    """
    by_key: dict[tuple[str, int], dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for s in samples:
        tid = str(s.get("task_id"))
        by_key[(tid, counts.get(tid, 0))] = dict(s)
        counts[tid] = counts.get(tid, 0) + 1
    out: list[tuple[ResultRow, dict[str, Any] | None]] = []
    seen: dict[str, int] = {}
    for raw in results:
        tid = str(raw.get("task_id"))
        row = ResultRow.from_dict(raw, position=seen.get(tid, 0))
        seen[tid] = row.sample_index + 1
        out.append((row, by_key.get((tid, row.sample_index))))
    return out


# ----------------------------------------------------------------------------- execute directories


class RunDir:
    """A ``harness execute`` directory: ``results.jsonl``, ``summary.json`` and, while a run is
    going, ``results.partial.jsonl`` (rows appended as they finish) and ``execute_state.json``
    (what the partial rows belong to; :func:`harness.execution.execute.execute_samples` resumes from them)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.results = self.path / "results.jsonl"
        self.partial = self.path / "results.partial.jsonl"
        self.state = self.path / "execute_state.json"
        self.summary = self.path / "summary.json"
        self.samples = self.path / "samples.jsonl"

    def create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create output directory {self.path}: {exc.strerror}") from None

    def _summary_object(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.summary.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def update_summary(self, key: str, value: Any) -> bool:
        """Set one key of an existing summary.json, leaving the rest as it is (False: none)."""
        data = self._summary_object()
        if data is None:
            return False
        data[key] = value
        write_json_atomic(self.summary, data, newline=False)
        return True

    def read_rows(self) -> list[ResultRow]:
        return [ResultRow.from_dict(r, i) for i, r in enumerate(read_jsonl(self.results))]

    def read_summary(self) -> RunSummary | None:
        data = self._summary_object()
        return RunSummary.from_dict(data) if data is not None else None

    def matched(self, samples: Path | None = None) -> list[tuple[ResultRow, dict[str, Any] | None]]:
        """Results rows with their samples (``samples.jsonl`` here unless given)."""
        return match_samples(read_jsonl(self.results), read_jsonl(samples or self.samples))


# ----------------------------------------------------------------------------- eval directories


class EvalDir:
    """A ``harness eval`` directory::

        DIR/summary.json  DIR/summary.md  DIR/report.html  DIR/junit.xml
        DIR/{student,teacher}/<dataset>/{samples.jsonl,results.jsonl,summary.json}
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.summary_path = self.path / "summary.json"
        self.summary_md = self.path / "summary.md"
        self.report = self.path / "report.html"
        self.junit = self.path / "junit.xml"

    def run(self, role: str, dataset: str) -> RunDir:
        return RunDir(self.path / role / dataset)

    def read_raw(self) -> dict[str, Any]:
        """``summary.json`` as written; UsageError when the directory or file is missing or broken."""
        if not self.path.is_dir():
            raise UsageError(f"eval directory not found: {self.path}")
        if not self.summary_path.is_file():
            raise UsageError(f"{self.path} has no summary.json (run harness eval --out {self.path} first)")
        return read_json_object(self.summary_path, "summary")

    def read(self) -> EvalSummary:
        return EvalSummary.from_dict(self.read_raw())

    def write(self, summary: EvalSummary | Mapping[str, Any]) -> None:
        data = summary.to_dict() if isinstance(summary, EvalSummary) else summary
        write_json_atomic(self.summary_path, data)

    def record_gate(self, gate: GateResult) -> None:
        """Put the verdict into summary.json, leaving every other key as it is."""
        raw = self.read_raw()
        raw["gate"] = gate.to_dict()
        self.write(raw)


__all__ = [
    "EvalDir", "RunDir", "match_samples", "read_json_object", "read_jsonl", "sha256_file",
    "write_json_atomic", "write_jsonl_atomic", "write_text_atomic",
]
