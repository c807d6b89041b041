"""``harness transforms``: the metamorphic relations and where they are valid.

``check`` prints, per relation, on how many tasks of a dataset it applies, passes the static
check and keeps the canonical outputs (the dynamic check); ``list`` names the relations;
``show`` prints one transformed prompt. Heavy imports stay inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from harness.core.registry import DATASETS

RunnerFactory = Callable[[Sequence[Any], argparse.Namespace], Any]
"""Builds the ``run_outputs`` callable for ``check`` from the tasks and the arguments (the
harness swaps in its sandbox this way); the default runs each program in a local subprocess."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "transforms",
        help="metamorphic prompt transforms: list them, check where they are valid",
        description="Metamorphic prompt transforms (behaviour-preserving prompt changes).",
    )
    parser.set_defaults(func=run, transforms_command=None)
    sub = parser.add_subparsers(dest="transforms_command", metavar="ACTION")

    check = sub.add_parser(
        "check",
        help="valid tasks per relation on a dataset",
        description="For each metamorphic relation: on how many tasks of the dataset it applies, "
        "passes the static check, and keeps the canonical solution's outputs (the dynamic check).",
    )
    _dataset_args(check)
    check.add_argument("--json", action="store_true", help="print the validity table as JSON")
    check.add_argument("--limit", type=int, default=None, metavar="K", help="first K tasks only")
    check.add_argument("--seed", type=int, default=0, metavar="S", help="transform seed (default 0)")
    check.add_argument(
        "--relations", default=None, metavar="R1,R2", help="comma-separated relation names"
    )
    check.add_argument(
        "--static-only", action="store_true", help="skip running the transformed programs"
    )
    check.add_argument(
        "--inputs",
        choices=("base", "plus", "all"),
        default="all",
        help="inputs the dynamic check runs (default: all, base then plus)",
    )
    check.add_argument(
        "--timeout", type=float, default=120.0, metavar="SECONDS",
        help="seconds per program run (default 120)",
    )
    check.add_argument(
        "--jobs", type=int, default=None, metavar="N", help="parallel workers (default: CPU cores)"
    )
    check.add_argument("--out", default=None, metavar="FILE", help="also write the table as JSON")

    lst = sub.add_parser(
        "list",
        help="the registered relations",
        description="Name, group (strict or soft) and a one-line description of every relation.",
    )
    lst.add_argument("--json", action="store_true", help="print the relations as JSON")

    show = sub.add_parser(
        "show",
        help="print one task's transformed prompt and program",
        description="Apply one relation to one task and print the transformed prompt and the "
        "canonical completion that goes with it.",
    )
    _dataset_args(show)
    show.add_argument("--task", required=True, metavar="TASK_ID", help="task id, e.g. HumanEval/0")
    show.add_argument(
        "--relation", required=True, metavar="NAME", help="relation (see harness transforms list)"
    )
    show.add_argument("--seed", type=int, default=0, metavar="S", help="transform seed (default 0)")


def _dataset_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", required=True, metavar="D", help=DATASETS.choices_help()
    )
    parser.add_argument("--data-dir", default=None, metavar="DIR",
        help="directory with the dataset files (else $HARNESS_DATA_DIR or upstream)",
    )


def run(args: argparse.Namespace, runner_factory: RunnerFactory | None = None) -> int:
    action = getattr(args, "transforms_command", None)
    if action == "check":
        return _check(args, runner_factory)
    if action == "list":
        return _list(args)
    if action == "show":
        from harness.metamorphic.catalog import show

        print(show(args.dataset, args.task, args.relation, args.seed, data_dir=args.data_dir))
        return 0
    print("usage: harness transforms {check,list,show} ...", file=sys.stderr)
    return 2


def _check(args: argparse.Namespace, runner_factory: RunnerFactory | None) -> int:
    from harness.metamorphic.catalog import check, render_summary, subprocess_runner_factory

    factory = None
    if not args.static_only:
        factory = (
            subprocess_runner_factory(args.inputs, args.timeout, args.jobs)
            if runner_factory is None
            else lambda tasks: runner_factory(tasks, args)
        )
    table = check(
        args.dataset, data_dir=args.data_dir, relations=args.relations, limit=args.limit,
        seed=args.seed, jobs=args.jobs, runner_factory=factory,
        progress=None if args.json else lambda m: print(f"transforms check: {m}", file=sys.stderr),
    )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(table.to_json(indent=1))
    print(table.to_json(indent=1) if args.json else render_summary(
        table, inputs=None if args.static_only else args.inputs))
    return 0


def _list(args: argparse.Namespace) -> int:
    from harness.metamorphic.catalog import relation_rows, render_relations

    rows = relation_rows()
    print(json.dumps(rows, indent=1) if args.json else render_relations(rows))
    return 0
