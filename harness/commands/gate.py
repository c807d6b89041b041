"""``harness gate DIR --config FILE``: gate a release on an eval directory (exit 1 on failure)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "gate", help="check an eval directory against a gate file (exit 1 when a check fails)",
        description="Check DIR/summary.json against a TOML gate file ([gate] max_precision_loss, "
                    "min_student_pass_at_1, max_category_increase, max_fidelity_violation, "
                    "require_significance). Records the verdict in summary.json, writes junit.xml and "
                    "re-renders report.html and summary.md. Exit 0: passed; 1: a check failed; "
                    "2: bad gate file or eval directory.")
    p.add_argument("dir", type=Path, metavar="DIR", help="eval directory (harness eval --out DIR)")
    p.add_argument("--config", required=True, type=Path, metavar="FILE", help="gate file (TOML)")
    p.add_argument("--verbose", "-v", action="store_true", help="also list the checks that passed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.analysis.gate import run_gate_for_eval

    return run_gate_for_eval(args.dir, args.config, verbose=args.verbose)
