"""Command line: a thin layer over the library.

Each sub-command lives in ``harness/commands/<name>.py`` and exposes ``add_parser(subparsers)``
and ``run(args) -> int``. Modules are imported only to build the parser (they must keep heavy
imports inside ``run``), so ``harness --help`` stays instant.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from harness import __version__
from harness.core.errors import HarnessError

# Registry of sub-commands: name -> module. Order is the order shown in --help.
COMMANDS: dict[str, str] = {
    "execute": "harness.commands.execute",
    "generate": "harness.commands.generate",
    "eval": "harness.commands.eval",
    "classify": "harness.commands.classify",
    "train": "harness.commands.train",
    "transforms": "harness.commands.transforms",
    "sandbox": "harness.commands.sandbox",
    "report": "harness.commands.report",
    "gate": "harness.commands.gate",
    "cache": "harness.commands.cache",
    "demo": "harness.commands.demo",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (DESIGN.md)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="Evaluate distilled code LLMs against their teachers.")
    parser.add_argument("--version", action="version", version=f"distill-harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not sys.stderr.isatty():
        # Hub and transformers bars (loading weights, writing shards) redraw with carriage
        # returns: garbage in a log. Our own progress lines say what is going on there.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if not getattr(args, "command", None) or not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HarnessError as exc:
        print(f"harness {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"harness {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        target = exc.filename2 or exc.filename  # a copy names its source first
        where = f" writing {target}" if target else ""
        print(f"harness {args.command}: error: {(exc.strerror or str(exc)).lower()}{where}; "
              "free some space and rerun to resume", file=sys.stderr)
        return 3
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
