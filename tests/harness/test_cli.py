"""The command line explains itself: every option has a help text, every (sub-)command a
description, and the same kind of value is named by the same metavar everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from harness.cli import build_parser


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def _options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            yield action


def test_every_option_has_help() -> None:
    missing = [
        f"harness {' '.join(path)} {action.option_strings[-1]}"
        for path, parser in _parsers(build_parser())
        for action in _options(parser)
        if not (action.help or "").strip() and action.help is not argparse.SUPPRESS
    ]
    assert missing == []


def test_every_command_has_a_description() -> None:
    missing = [
        "harness " + " ".join(path)
        for path, parser in _parsers(build_parser())
        if path and not (parser.description or "").strip()
    ]
    assert missing == []


def test_same_value_same_metavar() -> None:
    """--dataset is D, --data-dir/--out directories DIR, counts N, and so on, everywhere."""
    expected = {"--dataset": "D", "--data-dir": "DIR", "--jobs": "N", "--limit": "K", "--seed": "S"}
    wrong = [
        f"harness {' '.join(path)} {opt}: {action.metavar!r}"
        for path, parser in _parsers(build_parser())
        for action in _options(parser)
        for opt in action.option_strings
        if opt in expected and action.metavar != expected[opt]
    ]
    assert wrong == []


def test_value_options_name_their_value() -> None:
    """An option that takes a value shows a metavar or its choices, not the upper-cased dest."""
    unnamed = [
        f"harness {' '.join(path)} {action.option_strings[-1]}"
        for path, parser in _parsers(build_parser())
        for action in _options(parser)
        if action.nargs != 0 and action.metavar is None and action.choices is None
    ]
    assert unnamed == []
