"""The seams of ``harness eval`` for the metamorphic section, the gate and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import write_jsonl


@pytest.fixture
def files(tmp_path: Path, data_dir: Path) -> dict[str, Path]:
    from harness.data.datasets import load_dataset

    tasks = load_dataset("humaneval", data_dir).tasks
    teacher = [{"task_id": t, "completion": tasks[t].canonical_solution} for t in ("HumanEval/0", "HumanEval/1")]
    student = [teacher[0], {"task_id": "HumanEval/1", "completion": "    return []\n"}]
    return {"student": write_jsonl(tmp_path / "s.jsonl", student),
            "teacher": write_jsonl(tmp_path / "t.jsonl", teacher),
            "gate": tmp_path / "gate.toml"}


def _argv(files: dict[str, Path], out: Path, data_dir: Path, *extra: str) -> list[str]:
    return ["eval", "--student", "my-student", "--student-samples", str(files["student"]),
            "--teacher-samples", str(files["teacher"]), "--dataset", "humaneval", "--out", str(out),
            "--data-dir", str(data_dir), "--cache-dir", str(out.parent / "cache"), "--jobs", "2",
            "--no-progress", "--quiet", *extra]


def test_gate_and_report_hooks(files: dict[str, Path], tmp_path: Path, data_dir: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """The real gate and report run after an eval: exit 1 on a failed check, artefacts written."""
    files["gate"].write_text("[gate]\nmax_precision_loss = 0.3\n")
    out = tmp_path / "out"
    assert main(_argv(files, out, data_dir, "--gate", str(files["gate"]))) == 1  # loss 0.5 > 0.3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["datasets"]["humaneval"]["precision_loss"] == {"base": 0.5, "plus": None}
    assert summary["gate"]["passed"] is False
    failed = [c for c in summary["gate"]["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["max_precision_loss"]
    assert summary["models"]["student"]["id"] == "my-student"
    assert (out / "report.html").exists() and "max_precision_loss" in (out / "junit.xml").read_text()
    assert "FAILED" in capsys.readouterr().out


def test_malformed_gate_fails_before_running(files: dict[str, Path], tmp_path: Path, data_dir: Path) -> None:
    files["gate"].write_text("[gate]\nmax_precision_los = 0.3\n")
    out = tmp_path / "out"
    assert main(_argv(files, out, data_dir, "--gate", str(files["gate"]))) == 2
    assert not (out / "summary.json").exists()


def test_eval_without_gate_writes_the_report_and_no_junit(files: dict[str, Path], tmp_path: Path,
                                                         data_dir: Path) -> None:
    """The report is part of every eval (no fallback for a missing report module); junit.xml
    belongs to a gated eval only."""
    out = tmp_path / "out"
    assert main(_argv(files, out, data_dir)) == 0
    assert (out / "report.html").is_file() and (out / "summary.md").is_file()
    assert not (out / "junit.xml").exists()
