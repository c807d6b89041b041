"""The registry: lazy entries, one clear error for an unknown name, CLI choices fed from it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.cli import build_parser
from harness.core.errors import UsageError
from harness.core.registry import BACKENDS, DATASETS, Registry


def test_lazy_entry_imports_on_first_get() -> None:
    reg: Registry[object] = Registry("thing", {"path": "os.path:join"})
    import os.path

    assert reg.get("path") is os.path.join
    assert "path" in reg and reg.names() == ["path"]


def test_unknown_name_lists_available() -> None:
    reg: Registry[int] = Registry("widget", {"a": 1, "b": 2})
    with pytest.raises(UsageError, match=r"unknown widget 'c'; available: a, b"):
        reg.get("c")


def test_decorator_registers_and_duplicates_refused() -> None:
    reg: Registry[type] = Registry("method")

    @reg.register("x", help="an x")
    class X:
        pass

    assert reg.get("x") is X and reg.help("x") == "an x"
    with pytest.raises(ValueError):
        reg.register("x", int)


def test_cli_choices_come_from_the_registry() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in ("execute", "eval"):
        backend = next(a for a in sub.choices[command]._actions if a.dest == "backend")
        assert list(backend.choices) == BACKENDS.names()


def test_every_dataset_entry_resolves() -> None:
    for name in DATASETS:
        assert callable(DATASETS.get(name))


def test_help_imports_no_heavy_module() -> None:
    code = ("import sys; from harness.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('torch', 'transformers', 'docker', 'vllm', 'ray') if m in sys.modules]; "
            "print(heavy); sys.exit(bool(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_train_and_generate_options_come_from_the_registries() -> None:
    from harness.core.registry import METHODS, TEMPLATES
    from harness.generation.templates import training_templates

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    train = {a.dest: a for a in sub.choices["train"]._actions}
    assert list(train["template"].choices) == training_templates()
    assert set(training_templates()) < set(TEMPLATES)  # chat needs a tokenizer's chat template
    assert all(f"{name}: {METHODS.help(name)}" in train["method"].help for name in METHODS)
    generate = {a.dest: a for a in sub.choices["generate"]._actions}
    assert all(name in generate["template"].help for name in TEMPLATES)


def test_source_module_fills_a_registry_on_first_read() -> None:
    code = ("import sys; from harness.core.registry import RELATIONS, TAXONOMY_RULES; "
            "assert 'harness.metamorphic' not in sys.modules; "
            "assert 'param_rename' in RELATIONS and 'harness.metamorphic' in sys.modules; "
            "assert len(TAXONOMY_RULES) > 10")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
