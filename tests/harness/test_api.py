"""The public API in ``harness/__init__.py``: every name resolves, and the command line calls it."""

from __future__ import annotations

import pytest

import harness
from harness.cli import main


def test_every_public_name_resolves() -> None:
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name
    import importlib

    for module in ("harness.execution.execute", "harness.train", "harness.pipeline"):  # loaded submodules
        importlib.import_module(module)  # of the same names do not shadow the functions

    assert callable(harness.execute_samples) and callable(harness.train_student) and callable(harness.evaluate)
    with pytest.raises(AttributeError):
        _ = harness.no_such_name


@pytest.mark.parametrize(("module", "name", "argv"), [
    ("harness.execution.execute", "execute_samples", ["execute", "--dataset", "humaneval", "--samples", "s.jsonl", "--out", "o"]),
    ("harness.train", "train", ["train", "--method", "sft", "--student", "s", "--teacher", "t", "--data", "d",
                                "--out", "o"]),
    ("harness.pipeline", "evaluate", ["eval", "--student-samples", "s.jsonl", "--teacher-samples", "t.jsonl",
                                      "--out", "o"]),
])
def test_the_command_line_calls_the_api(module: str, name: str, argv: list[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI goes through ``harness.<name>``: replacing the API function replaces what runs."""
    import importlib

    class Called(Exception):
        pass

    def fake(config: object, *args: object, **kwargs: object) -> None:
        raise Called(type(config).__name__)

    monkeypatch.setattr(importlib.import_module(module), name, fake)
    with pytest.raises(Called):
        main(argv)
