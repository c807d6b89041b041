"""Golden files: what ``harness execute`` and ``harness eval`` (pre-generated samples, gated)
write on fixed inputs stays byte for byte the same through refactors.

Inputs (``golden/inputs``): HumanEval/0-5 of HumanEval+, two samples per task; the teacher's are
canonical (one short-cut that fails), the student's fail in most taxonomy categories (syntax,
missing import, wrong function name, empty function, time-out, undefined name, index error, a
plus-only wrong answer). Only what differs between machines and runs is masked: timestamps,
durations (also in time-out messages and ``over_limit``), retry counts, the sandbox's isolation and the temporary directory.

Regenerate after an intended change of the output with ``HARNESS_UPDATE_GOLDEN=1`` and review
the diff.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
from pathlib import Path

import pytest

from harness.cli import main

HERE = Path(__file__).resolve().parent / "golden"
INPUTS = HERE / "inputs"
EXPECTED = HERE / "expected"
UPDATE = os.environ.get("HARNESS_UPDATE_GOLDEN") == "1"

#: Files compared, relative to the run's directory.
EXECUTE_FILES = ("results.jsonl", "summary.json")
EVAL_FILES = (
    "summary.json", "summary.md", "junit.xml",
    *(f"{role}/{ds}/{name}" for role in ("student", "teacher") for ds in ("humaneval+", "humaneval")
      for name in ("results.jsonl", "summary.json")),
)

_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00|Z)"), "<TIME>"),
    (re.compile(r'"duration_s": [0-9.e-]+'), '"duration_s": "<DURATION>"'),
    (re.compile(r'"attempts": \d+'), '"attempts": "<ATTEMPTS>"'),
    (re.compile(r"\(cpu [0-9.]+s, wall [0-9.]+s\)"), "(cpu <CPU>s, wall <WALL>s)"),
    (re.compile(r'"isolation": "[^"]*"'), '"isolation": "<ISOLATION>"'),
    (re.compile(r'"cpu_s": \[[^\]]*\], "over": [0-9.]+'), '"cpu_s": "<CPU>", "over": "<OVER>"'),
)


def _masked(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<TMP>")
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text


def _compare(run_dir: Path, names: tuple[str, ...], expected: Path, tmp: Path) -> None:
    mismatched = []
    for name in names:
        got = _masked((run_dir / name).read_text(encoding="utf-8"), tmp)
        want_path = expected / name
        if UPDATE:
            want_path.parent.mkdir(parents=True, exist_ok=True)
            want_path.write_text(got, encoding="utf-8")
            continue
        want = want_path.read_text(encoding="utf-8")
        if got != want:
            diff = difflib.unified_diff(want.splitlines(), got.splitlines(), f"golden/{name}", name,
                                        lineterm="", n=1)
            mismatched.append("\n".join(list(diff)[:40]))
    assert not mismatched, (f"output differs from {expected} (HARNESS_UPDATE_GOLDEN=1 regenerates; "
                            "review the diff):\n" + "\n".join(mismatched))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("teacher.jsonl", "student.jsonl", "gate.toml"):
        shutil.copy(INPUTS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CI", raising=False)
    return tmp_path


def test_execute_golden(workdir: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["execute", "--dataset", "humaneval+", "--samples", "student.jsonl", "--out", "ex",
               "--data-dir", str(data_dir), "--jobs", "2", "--no-progress"])
    assert rc == 0
    _compare(workdir / "ex", EXECUTE_FILES, EXPECTED / "execute", workdir)


def test_eval_golden(workdir: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["eval", "--student-samples", "student.jsonl", "--teacher-samples", "teacher.jsonl",
               "--dataset", "humaneval+", "--dataset", "humaneval", "--out", "ev",
               "--data-dir", str(data_dir), "--jobs", "2", "--no-progress", "--quiet",
               "--cache-dir", "models", "--gate", "gate.toml"])
    assert rc == 1  # min_student_pass_at_1 fails on humaneval+ (0.25 < 0.3)
    _compare(workdir / "ev", EVAL_FILES, EXPECTED / "eval", workdir)
    # harness gate on the same directory records the same verdict and files.
    assert main(["gate", "ev", "--config", "gate.toml"]) == 1
    _compare(workdir / "ev", EVAL_FILES, EXPECTED / "eval", workdir)
