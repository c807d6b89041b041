"""``harness transforms``: the metamorphic relations and where they are valid.

``check`` prints, per relation, on how many tasks of a dataset it applies, passes the static
check and keeps the canonical outputs (the dynamic check); ``list`` names the relations;
``show`` prints one transformed prompt. Heavy imports stay inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from harness.errors import UsageError

RunnerFactory = Callable[[Sequence[Any], argparse.Namespace], Any]
"""Builds the ``run_outputs`` callable for ``check`` from the tasks and the arguments."""


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
        "--dataset", required=True, metavar="D", help="humaneval, humaneval+, mbpp or mbpp+"
    )
    parser.add_argument("--data-dir", default=None, metavar="DIR",
        help="directory with the dataset files (else $HARNESS_DATA_DIR or upstream)",
    )


def run(args: argparse.Namespace, runner_factory: RunnerFactory | None = None) -> int:
    action = getattr(args, "transforms_command", None)
    if action == "check":
        return _check(args, runner_factory or subprocess_runner_factory)
    if action == "list":
        return _list(args)
    if action == "show":
        return _show(args)
    print("usage: harness transforms {check,list,show} ...", file=sys.stderr)
    return 2


def subprocess_runner_factory(tasks: Sequence[Any], args: argparse.Namespace) -> Any:
    """The default runner: each program in a local subprocess (trusted canonical code only).
    The harness swaps in its sandbox by passing another factory to :func:`run`."""
    from harness.metamorphic import dataset_inputs, subprocess_runner

    return subprocess_runner(
        dataset_inputs(tasks, args.inputs), timeout=args.timeout, jobs=args.jobs
    )


def _load(name: str, data_dir: str | None) -> Any:
    from harness.datasets import load_dataset

    return load_dataset(name, data_dir=data_dir)


def _relation_names(spec: str | None) -> list[str] | None:
    from harness.metamorphic import get_relations

    if spec is None:
        return None
    names = [n.strip() for n in spec.split(",") if n.strip()]
    get_relations(names)  # an unknown name: the registry's error
    return names


def _check(args: argparse.Namespace, runner_factory: RunnerFactory) -> int:
    from harness.metamorphic import validate

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    names = _relation_names(args.relations)
    dataset = _load(args.dataset, args.data_dir)
    tasks = list(dataset.tasks.values())
    if args.limit is not None:
        tasks = tasks[: args.limit]
    runner = None if args.static_only else runner_factory(tasks, args)

    def progress(message: str) -> None:
        if not args.json:
            print(f"transforms check: {message}", file=sys.stderr)

    table = validate(
        _Named(getattr(dataset, "name", args.dataset), tasks),
        names,
        runner,
        seed=args.seed,
        progress=progress,
        jobs=args.jobs or os.cpu_count() or 1,
    )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(table.to_json(indent=1))
    if args.json:
        print(table.to_json(indent=1))
    else:
        print(render_summary(table, inputs=None if args.static_only else args.inputs))
    return 0


class _Named:
    """A dataset view: a name and a subset of its tasks."""

    def __init__(self, name: str, tasks: list[Any]) -> None:
        self.name = name
        self.tasks = {t.task_id: t for t in tasks}


def render_summary(table: Any, inputs: str | None = None) -> str:
    """The per-relation table as text, strict relations first, soft ones apart."""
    summary = table.summary()
    mode = f"dynamic on {inputs} inputs" if table.dynamic else "static only"
    lines = [f"{table.dataset or 'dataset'}: {len(table.task_ids)} tasks, seed {table.seed}, {mode}"]
    header = f"{'relation':24s} {'group':6s} {'applies':>8s} {'static':>8s} {'valid':>8s} {'share':>7s}"
    for group in ("strict", "soft"):
        rows = [(n, s) for n, s in summary.items() if s["group"] == group]
        if not rows:
            continue
        lines += ["", header]
        for name, s in rows:
            lines.append(
                f"{name:24s} {group:6s} {s['applicable']:8d} {s['static_valid']:8d} "
                f"{s['valid']:8d} {100 * s['share']:6.1f}%"
            )
    strict = [s for s in summary.values() if s["group"] == "strict"]
    half = sum(s["share"] >= 0.5 for s in strict)
    lines += ["", f"strict relations valid on at least half of the tasks: {half}/{len(strict)}"]
    return "\n".join(lines)


def _list(args: argparse.Namespace) -> int:
    from harness.metamorphic import get_relations

    rows: list[dict[str, Any]] = [
        {
            "name": r.name,
            "group": r.group,
            "needs_partial_code": r.needs_partial_code,
            "partial_if_no_code": r.partial_if_no_code,
            "doc": " ".join((type(r).__doc__ or "").split()),
        }
        for r in get_relations()
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            partial = " [partial code]" if row["needs_partial_code"] else ""
            print(f"{row['name']:24s} {row['group']:6s}{partial}  {row['doc'].split('. ')[0]}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from harness.metamorphic import REGISTRY

    relation = REGISTRY.get(args.relation)
    dataset = _load(args.dataset, args.data_dir)
    task = dataset.tasks.get(args.task)
    if task is None:
        raise UsageError(f"no task {args.task!r} in {args.dataset}")
    t = relation.apply(task, args.seed)
    if t is None:
        print(f"{args.relation} does not apply to {args.task}")
        return 0
    print(f"# {t.task_id} {t.relation} (seed {t.seed}), entry point {t.entry_point}"
          f"{', partial code' if t.partial else ''}")
    print("# ---- prompt ----")
    print(t.prompt, end="" if t.prompt.endswith("\n") else "\n")
    print("# ---- canonical completion ----")
    print(t.solution, end="" if t.solution.endswith("\n") else "\n")
    return 0
