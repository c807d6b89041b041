"""``harness classify RESULTS_DIR``: re-label an existing results directory without re-running
code (see :mod:`harness.taxonomy.relabel`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.core.registry import DATASETS


def add_parser(subparsers: Any) -> None:
    """Register the ``classify`` sub-command (no heavy imports here: ``--help`` stays instant)."""
    p = subparsers.add_parser(
        "classify",
        help="re-label the failures of a results directory with the error taxonomy",
        description=(
            "Re-classify every failure in RESULTS_DIR/results.jsonl into the error taxonomy "
            "(no code is re-run), rewrite the file and print the Table-13 summary."
        ),
    )
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="directory holding results.jsonl")
    p.add_argument(
        "--samples",
        metavar="FILE",
        help="samples file the results came from (default: RESULTS_DIR/samples.jsonl)",
    )
    p.add_argument(
        "--dataset",
        metavar="D",
        help=f"{DATASETS.choices_help()} (default: from RESULTS_DIR/summary.json)",
    )
    p.add_argument("--data-dir", metavar="DIR", help="directory with the dataset files")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Re-label RESULTS_DIR/results.jsonl in place and print the per-category summary."""
    from harness.taxonomy.relabel import relabel

    done = relabel(args.results_dir, samples=args.samples, dataset=args.dataset,
                   data_dir=args.data_dir)
    if args.json:
        print(json.dumps(done.summary, indent=2))
    else:
        print(done.render(), end="")
    return 0
