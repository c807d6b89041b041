"""The seams of ``harness eval`` for the metamorphic section, the gate and the report."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.conftest import write_jsonl


@pytest.fixture
def files(tmp_path: Path, data_dir: Path) -> dict[str, Path]:
    from harness.datasets import load_dataset

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
                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[Any] = []

    def gate_hook(config: Any, result: Any) -> None:
        calls.append(("gate", config.gate, dict(result.summary["datasets"]["humaneval"]["precision_loss"])))
        loss = result.summary["datasets"]["humaneval"]["precision_loss"]["base"]
        result.summary["gate"] = {"passed": loss <= 0.3, "checks": [{"name": "max_precision_loss", "value": loss}]}

    def write_report(out: Path) -> None:
        calls.append(("report", json.loads((out / "summary.json").read_text())["gate"]["passed"]))

    monkeypatch.setitem(sys.modules, "harness.gate", types.SimpleNamespace(eval_hook=gate_hook))
    monkeypatch.setitem(sys.modules, "harness.report", types.SimpleNamespace(write_report=write_report))
    files["gate"].write_text("[gate]\nmax_precision_loss = 0.3\n")
    out = tmp_path / "out"
    assert main(_argv(files, out, data_dir, "--gate", str(files["gate"]))) == 1  # loss 0.5 > 0.3
    assert calls == [("gate", files["gate"], {"base": 0.5, "plus": None}), ("report", False)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["gate"]["passed"] is False
    assert summary["models"]["student"]["id"] == "my-student"
    assert "gate: FAILED" in capsys.readouterr().out


def test_no_report_module_is_skipped(files: dict[str, Path], tmp_path: Path, data_dir: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "harness.report", None)  # import fails: the report is skipped
    assert main(_argv(files, tmp_path / "out", data_dir)) == 0
    assert (tmp_path / "out" / "summary.json").exists()
