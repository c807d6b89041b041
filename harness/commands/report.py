"""``harness report DIR``: re-render report.html and summary.md of an eval directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "report", help="re-render the report of an eval directory",
        description="Render DIR/report.html (self-contained) and DIR/summary.md from DIR/summary.json "
                    "and the per-model samples and results; also DIR/junit.xml when DIR is gated.")
    p.add_argument("dir", type=Path, metavar="DIR", help="eval directory (harness eval --out DIR)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.reporting.report import write_report

    out = write_report(args.dir)
    print(f"wrote {out} and {out.parent / 'summary.md'}")
    return 0
