"""What ``harness transforms`` shows: the relations (list), one transformed task (show) and where
each relation is valid on a dataset (check), as text or rows; the command only parses arguments.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from harness.core.errors import UsageError
from harness.metamorphic.base import REGISTRY, TaskLike, get_relations
from harness.metamorphic.runner import RunOutputs, dataset_inputs, subprocess_runner
from harness.metamorphic.validity import ValidityTable, validate

RunnerFactory = Callable[[Sequence[TaskLike]], RunOutputs]
"""Builds the dynamic check's ``run_outputs`` for the tasks being checked."""


def load_dataset(name: str, data_dir: str | None) -> Any:
    from harness.data.datasets import load_dataset as load

    return load(name, data_dir=data_dir)


def parse_relation_names(spec: str | None) -> list[str] | None:
    """The relations of a comma-separated option (None: all); an unknown name is exit 2."""
    if spec is None:
        return None
    names = [n.strip() for n in spec.split(",") if n.strip()]
    get_relations(names)  # an unknown name: the registry's error
    return names


def subprocess_runner_factory(inputs: str, timeout: float, jobs: int | None) -> RunnerFactory:
    """Each program in a local subprocess (trusted canonical code only), on the ``inputs``
    ("base", "plus" or "all") of the tasks."""

    def factory(tasks: Sequence[TaskLike]) -> RunOutputs:
        return subprocess_runner(dataset_inputs(tasks, inputs), timeout=timeout, jobs=jobs)

    return factory


class _Named:
    """A dataset view: a name and a subset of its tasks."""

    def __init__(self, name: str, tasks: list[Any]) -> None:
        self.name = name
        self.tasks = {t.task_id: t for t in tasks}


def check(
    dataset_name: str,
    *,
    data_dir: str | None = None,
    relations: Sequence[str] | str | None = None,
    limit: int | None = None,
    seed: int = 0,
    jobs: int | None = None,
    runner_factory: RunnerFactory | None = None,
    progress: Callable[[str], None] | None = None,
) -> ValidityTable:
    """The validity table of ``relations`` (names, a comma-separated string, or None for all)
    on the first ``limit`` tasks; without ``runner_factory`` the check is static only."""
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    if isinstance(relations, str):
        relations = parse_relation_names(relations)
    dataset = load_dataset(dataset_name, data_dir)
    tasks = list(dataset.tasks.values())[:limit]
    runner = None if runner_factory is None else runner_factory(tasks)
    return validate(
        _Named(getattr(dataset, "name", dataset_name), tasks),
        relations,
        runner,
        seed=seed,
        progress=progress,
        jobs=jobs or os.cpu_count() or 1,
    )


def render_summary(table: ValidityTable, inputs: str | None = None) -> str:
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


def relation_rows() -> list[dict[str, Any]]:
    """Every relation, strict first: name, group, partial-code flags and its documentation."""
    return [
        {
            "name": r.name,
            "group": r.group,
            "needs_partial_code": r.needs_partial_code,
            "partial_if_no_code": r.partial_if_no_code,
            "doc": " ".join((type(r).__doc__ or "").split()),
        }
        for r in get_relations()
    ]


def render_relations(rows: list[dict[str, Any]]) -> str:
    """One line per relation: name, group, [partial code] and the first sentence of its doc."""
    lines = []
    for row in rows:
        partial = " [partial code]" if row["needs_partial_code"] else ""
        lines.append(f"{row['name']:24s} {row['group']:6s}{partial}  {row['doc'].split('. ')[0]}")
    return "\n".join(lines)


def show(dataset_name: str, task_id: str, relation: str, seed: int = 0, *,
         data_dir: str | None = None) -> str:
    """One task's transformed prompt and canonical completion, as text."""
    rel = REGISTRY.get(relation)
    task = load_dataset(dataset_name, data_dir).tasks.get(task_id)
    if task is None:
        raise UsageError(f"no task {task_id!r} in {dataset_name}")
    t = rel.apply(task, seed)
    if t is None:
        return f"{relation} does not apply to {task_id}"

    def block(text: str) -> str:
        return text if text.endswith("\n") else text + "\n"

    return (
        f"# {t.task_id} {t.relation} (seed {t.seed}), entry point {t.entry_point}"
        f"{', partial code' if t.partial else ''}\n"
        f"# ---- prompt ----\n{block(t.prompt)}"
        f"# ---- canonical completion ----\n{block(t.solution)}"
    ).removesuffix("\n")
