"""Validity of each (task, relation) pair: a relation is only used on tasks where it provably
holds for the reference solution.

Static: the transformed prompt and program parse, the prompt changed, the entry point exists.
Dynamic: the transformed canonical program gives the same outputs as the original on every
input, through a pluggable ``run_outputs`` (the sandbox in the harness, a subprocess runner in
tests). The resulting :class:`ValidityTable` is JSON-serialisable.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.metamorphic.base import (
    REGISTRY,
    Relation,
    SimpleTask,
    TaskLike,
    Transformed,
    full_program,
    get_relations,
    parses_as_prefix,
)
from harness.metamorphic.runner import ProgramSpec, RunOutputs

STAGES = ("valid", "not_applicable", "error", "static", "dynamic")
"""Where a pair was decided: ``valid``, or the stage that rejected it."""


def _defines(program: ast.Module, name: str) -> bool:
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name
        for node in program.body
    )


def static_check(t: Transformed) -> str | None:
    """Why the transformed pair is statically invalid, or None when it passes."""
    if t.prompt == t.base_prompt:
        return "prompt unchanged"
    if not t.program.startswith(t.prompt):
        return "program does not start with the prompt"
    if not parses_as_prefix(t.prompt):
        return "transformed prompt does not parse"
    try:
        module = ast.parse(t.program)
    except SyntaxError as exc:
        return f"transformed program does not parse: {exc.msg} (line {exc.lineno})"
    if not _defines(module, t.entry_point):
        return f"transformed program does not define {t.entry_point}"
    return None


@dataclass(frozen=True)
class Verdict:
    """The decision on one (task, relation) pair."""

    task_id: str
    relation: str
    valid: bool
    stage: str
    reason: str | None = None
    entry_point: str | None = None
    partial: bool = False


@dataclass
class ValidityTable:
    """Verdicts for every (task, relation) pair of one dataset and seed."""

    dataset: str
    seed: int
    dynamic: bool
    relations: dict[str, str]  # name -> group, in order
    task_ids: list[str]
    verdicts: list[Verdict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index = {(v.task_id, v.relation): v for v in self.verdicts}

    def add(self, verdict: Verdict) -> None:
        self.verdicts.append(verdict)
        self._index[(verdict.task_id, verdict.relation)] = verdict

    def get(self, task_id: str, relation: str) -> Verdict | None:
        return self._index.get((task_id, relation))

    def is_valid(self, task_id: str, relation: str) -> bool:
        verdict = self._index.get((task_id, relation))
        return verdict is not None and verdict.valid

    def valid_pairs(self) -> list[tuple[str, str]]:
        return [(v.task_id, v.relation) for v in self.verdicts if v.valid]

    def valid_tasks(self, relation: str) -> list[str]:
        return [v.task_id for v in self.verdicts if v.relation == relation and v.valid]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per relation: its group, how many tasks it applies to, passes statically, is valid,
        and the valid share of all tasks."""
        n = len(self.task_ids)
        out: dict[str, dict[str, Any]] = {}
        for name, group in self.relations.items():
            mine = [v for v in self.verdicts if v.relation == name]
            applicable = sum(v.stage not in ("not_applicable", "error") for v in mine)
            static_ok = sum(v.stage in ("valid", "dynamic") for v in mine)
            valid = sum(v.valid for v in mine)
            out[name] = {
                "group": group,
                "tasks": n,
                "applicable": applicable,
                "static_valid": static_ok,
                "valid": valid,
                "share": valid / n if n else 0.0,
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "seed": self.seed,
            "dynamic": self.dynamic,
            "relations": self.relations,
            "task_ids": self.task_ids,
            "summary": self.summary(),
            "verdicts": [asdict(v) for v in self.verdicts],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidityTable:
        return cls(
            dataset=data["dataset"],
            seed=data["seed"],
            dynamic=data["dynamic"],
            relations=dict(data["relations"]),
            task_ids=list(data["task_ids"]),
            verdicts=[Verdict(**v) for v in data["verdicts"]],
        )

    @classmethod
    def from_json(cls, text: str) -> ValidityTable:
        return cls.from_dict(json.loads(text))


def dataset_tasks(dataset: Any) -> list[TaskLike]:
    """Tasks of a ``harness.data.datasets.Dataset`` (``.tasks`` mapping) or of any iterable."""
    tasks = getattr(dataset, "tasks", dataset)
    if isinstance(tasks, dict):
        return list(tasks.values())
    return list(tasks)


def _relations(relations: Iterable[Relation | str] | None) -> list[Relation]:
    if relations is None:
        return get_relations()
    return [REGISTRY[r] if isinstance(r, str) else r for r in relations]


def validate(
    dataset: Any,
    relations: Iterable[Relation | str] | None = None,
    run_outputs: RunOutputs | None = None,
    *,
    seed: int = 0,
    check_determinism: bool = True,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
) -> ValidityTable:
    """Decide every (task, relation) pair: applicable, statically valid and, when
    ``run_outputs`` is given, same outputs as the original canonical program on all inputs.

    ``check_determinism`` runs each original twice; a task whose outputs differ between runs
    cannot validate anything and all its pairs are rejected with that reason. ``jobs`` > 1
    spreads the static phase (libcst parsing and scope analysis) over processes.
    """
    tasks = dataset_tasks(dataset)
    rels = _relations(relations)
    table = ValidityTable(
        dataset=str(getattr(dataset, "name", "")),
        seed=seed,
        dynamic=run_outputs is not None,
        relations={r.name: r.group for r in rels},
        task_ids=[t.task_id for t in tasks],
    )
    pending: list[Transformed] = []
    decided: dict[tuple[str, str], Verdict] = {}
    for item in _static_phase(tasks, rels, seed, jobs):
        if isinstance(item, Verdict):
            decided[(item.task_id, item.relation)] = item
        else:
            pending.append(item)
    if progress:
        progress(f"{len(pending)} statically valid pairs of {len(tasks) * len(rels)}")
    if run_outputs is not None and pending:
        baseline = _baselines(tasks, {t.task_id for t in pending}, run_outputs, check_determinism)
        specs: list[ProgramSpec] = [(t.task_id, t.program, t.entry_point) for t in pending]
        if progress:
            progress(f"running {len(specs)} transformed programs")
        results = run_outputs(specs)
        for t, outs in zip(pending, results, strict=True):
            base, why = baseline[t.task_id]
            key = (t.task_id, t.relation)
            if base is None:
                decided[key] = Verdict(t.task_id, t.relation, False, "dynamic", why, t.entry_point, t.partial)
            elif outs is None:
                decided[key] = Verdict(
                    t.task_id, t.relation, False, "dynamic",
                    "transformed program failed to run", t.entry_point, t.partial,
                )
            elif outs != base:
                decided[key] = Verdict(
                    t.task_id, t.relation, False, "dynamic", _mismatch(base, outs),
                    t.entry_point, t.partial,
                )
            else:
                decided[key] = Verdict(t.task_id, t.relation, True, "valid", None, t.entry_point, t.partial)
    else:
        for t in pending:
            decided[(t.task_id, t.relation)] = Verdict(
                t.task_id, t.relation, True, "valid", None, t.entry_point, t.partial
            )
    for task in tasks:
        for rel in rels:
            table.add(decided[(task.task_id, rel.name)])
    return table


def _static_one(task: TaskLike, rel: Relation, seed: int) -> Verdict | Transformed:
    """Apply one relation to one task and check the result statically."""
    try:
        t = rel.try_apply(task, seed)
    except Exception as exc:  # a relation bug must not sink the whole table
        return Verdict(task.task_id, rel.name, False, "error", repr(exc)[:300])
    if isinstance(t, str):
        return Verdict(task.task_id, rel.name, False, "not_applicable", t[:300])
    reason = static_check(t)
    if reason is not None:
        return Verdict(task.task_id, rel.name, False, "static", reason, t.entry_point, t.partial)
    return t


def _static_chunk(
    tasks: list[SimpleTask], rels: list[Relation], seed: int
) -> list[Verdict | Transformed]:
    return [_static_one(task, rel, seed) for task in tasks for rel in rels]


def _static_phase(
    tasks: Sequence[TaskLike], rels: list[Relation], seed: int, jobs: int
) -> list[Verdict | Transformed]:
    if jobs <= 1 or len(tasks) < 2:
        return [_static_one(task, rel, seed) for task in tasks for rel in rels]
    # Ship only the four fields a relation reads (tasks may carry thousands of inputs).
    light = [SimpleTask(t.task_id, t.prompt, t.entry_point, t.canonical_solution) for t in tasks]
    size = max(1, len(light) // (jobs * 4))
    chunks = [light[i : i + size] for i in range(0, len(light), size)]
    out: list[Verdict | Transformed] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for part in pool.map(_static_chunk, chunks, [rels] * len(chunks), [seed] * len(chunks)):
            out.extend(part)
    return out


def _baselines(
    tasks: Sequence[TaskLike], needed: set[str], run_outputs: RunOutputs, twice: bool
) -> dict[str, tuple[list[Any] | None, str | None]]:
    chosen = [t for t in tasks if t.task_id in needed]
    specs: list[ProgramSpec] = [(t.task_id, full_program(t), t.entry_point) for t in chosen]
    first = run_outputs(specs)
    second = run_outputs(specs) if twice else first
    out: dict[str, tuple[list[Any] | None, str | None]] = {}
    for task, a, b in zip(chosen, first, second, strict=True):
        if a is None:
            out[task.task_id] = (None, "original program failed to run")
        elif a != b:
            out[task.task_id] = (None, "original outputs are not deterministic")
        else:
            out[task.task_id] = (a, None)
    return out


def _mismatch(base: list[Any], outs: list[Any]) -> str:
    if len(base) != len(outs):
        return f"{len(outs)} outputs instead of {len(base)}"
    first = next(i for i, (a, b) in enumerate(zip(base, outs, strict=True)) if a != b)
    return f"output differs on input {first}"


def valid_transforms(dataset: Any, table: ValidityTable) -> Iterator[Transformed]:
    """Re-create the transforms of the table's valid pairs (deterministic for its seed)."""
    tasks = {t.task_id: t for t in dataset_tasks(dataset)}
    for task_id, relation in table.valid_pairs():
        t = REGISTRY[relation].apply(tasks[task_id], table.seed)
        if t is not None:
            yield t
