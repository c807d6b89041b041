"""``harness transforms check|list|show`` through the CLI entry point."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from harness.cli import main
from harness.commands import transforms
from harness.metamorphic import catalog

from .conftest import load, sample


class FakeDataset:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks = {t.task_id: load(name)[t.task_id] for t in sample(name)[:3]}


@pytest.fixture()
def fake_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve a 3-task sample instead of the harness's loader (developed alongside)."""
    monkeypatch.setattr(catalog, "load_dataset", lambda name, data_dir: FakeDataset(name))


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transforms", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["group"] for r in rows} == {"strict", "soft"}
    assert any(r["needs_partial_code"] for r in rows)


def test_check_static_json(fake_load: None, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["transforms", "check", "--dataset", "humaneval+", "--static-only", "--json",
               "--relations", "blank_lines,for_to_while"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dynamic"] is False and len(data["task_ids"]) == 3
    assert data["summary"]["blank_lines"]["valid"] == 3


def test_check_text_with_pluggable_runner(
    fake_load: None, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    calls: list[int] = []

    def factory(tasks: Any, args: argparse.Namespace) -> Any:
        def run(programs: list[tuple[str, str, str]]) -> list[list[Any] | None]:
            calls.append(len(programs))
            return [["same"] for _ in programs]

        return run

    parser = argparse.ArgumentParser()
    transforms.add_parser(parser.add_subparsers())
    out = tmp_path / "table.json"
    args = parser.parse_args(
        ["transforms", "check", "--dataset", "mbpp+", "--limit", "2", "--out", str(out)]
    )
    assert transforms.run(args, runner_factory=factory) == 0
    text = capsys.readouterr().out
    assert "docstring_to_comments" in text and "strict relations valid" in text
    assert calls  # the runner was used for the dynamic check
    table = json.loads(out.read_text())
    assert table["dynamic"] is True and len(table["task_ids"]) == 2


def test_check_unknown_relation_is_usage_error(fake_load: None, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["transforms", "check", "--dataset", "humaneval+", "--relations", "nope"])
    assert rc == 2
    assert "unknown relation 'nope'" in capsys.readouterr().err


def test_show(fake_load: None, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["transforms", "show", "--dataset", "humaneval+", "--task", "HumanEval/0",
               "--relation", "entry_point_case"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "entry point hasCloseElements" in out and "def hasCloseElements(" in out


def test_no_action_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transforms"]) == 2
