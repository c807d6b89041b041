"""``harness eval --metamorphic``: both models on every valid transformed prompt, in the sandbox.

For each dataset of the eval: decide which (task, relation) pairs are valid (static checks, then
the transformed canonical program must give the canonical outputs on every input, through the
sandbox), generate with both models on the transformed prompts, execute, and report per relation,
per group (strict / soft) and overall: flip rates, ReCode's RP/RD/RR@1, teacher-student Cohen's
kappa, differential output agreement, the fidelity-violation rate and the robustness gap.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.datasets import Dataset, load_dataset
from harness.errors import UsageError
from harness.metamorphic.base import Transformed
from harness.metamorphic.metrics import (
    FidelityCase,
    cohen_kappa,
    fidelity_violations,
    flip_rate,
    robust_drop_at_k,
    robust_pass_at_k,
    robust_relative_at_k,
)
from harness.metamorphic.validity import valid_transforms, validate
from sandbox import Backend, make_backend

ROLES = ("teacher", "student")


def sandbox_run_outputs(dataset: Dataset, backend: Backend) -> Any:
    """A ``run_outputs`` callable for :func:`validate`: each program on all of its task's inputs
    in the sandbox (no early stop); ``None`` for a program that did not run to the end."""
    from harness.expected import encoded_inputs

    def run(programs: list[tuple[str, str, str]]) -> list[list[Any] | None]:
        jobs = []
        for i, (task_id, program, entry_point) in enumerate(programs):
            task = dataset.tasks[task_id]
            n = len(encoded_inputs(dataset, task))
            jobs.append({
                "op": "run", "id": i, "code": program, "setup": task.setup_code, "entry_point": entry_point,
                "inputs": encoded_inputs(dataset, task), "limits": [20.0] * n, "default_limit": 20.0,
                "fast": False, "wall_total": 600.0, "cpu_total": 600.0,
                "memory_bytes": backend.limits.memory_bytes, "nproc": backend.limits.nproc,
            })
        out: list[list[Any] | None] = [None] * len(programs)
        for job, result in backend.run(jobs):
            n = len(job["inputs"])
            values: list[Any] = [None] * n
            seen = 0
            for ev in result.get("events", []):
                i = ev.get("i")
                if ev.get("t") == "R" and isinstance(i, int) and 0 <= i < n:
                    values[i] = json.dumps(ev.get("out"), sort_keys=True)
                    seen += 1
                elif ev.get("t") == "X" and ev.get("phase") == "call" and isinstance(i, int) and 0 <= i < n:
                    values[i] = f"raise {ev.get('type')}"
                    seen += 1
            out[job["id"]] = values if seen == n else None
        return out

    return run


def _passed(row: dict[str, Any], plus: bool) -> bool:
    return bool(row["plus_passed"] if plus else row["base_passed"])


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _derived(ds: Dataset, items: list[Transformed]) -> Dataset:
    """The dataset as the transformed prompts present it: same tests, same reference outputs."""
    tasks = {t.task_id: replace(ds.tasks[t.task_id], prompt=t.prompt, entry_point=t.entry_point) for t in items}
    return Dataset(ds.name, tasks, ds.version, ds.content_hash)


def _metrics(pairs: list[tuple[str, str]], verdicts: dict[str, dict[tuple[str, str], bool]],
             base: dict[str, dict[str, bool]], outputs: dict[str, dict[tuple[str, str], list[Any] | None]]) -> dict[str, Any]:
    """Metrics over a set of valid (task, relation) pairs that both models were run on."""
    if not pairs:
        return {"pairs": 0}
    res: dict[str, Any] = {"pairs": len(pairs)}
    rd: dict[str, float] = {}
    for role in ROLES:
        nominal = [[base[role][t]] for t, _ in pairs]
        perturbed = [[[verdicts[role][(t, r)]]] for t, r in pairs]
        rd[role] = robust_drop_at_k(nominal, perturbed, 1)
        res[role] = {
            "flip_rate": flip_rate((base[role][t], verdicts[role][(t, r)]) for t, r in pairs),
            "pass@1": sum(verdicts[role][p] for p in pairs) / len(pairs),
            "nominal_pass@1": sum(base[role][t] for t, _ in pairs) / len(pairs),
            "RP@1": robust_pass_at_k(nominal, perturbed, 1),
            "RD@1": rd[role],
            "RR@1": robust_relative_at_k(nominal, perturbed, 1),
        }
    res["kappa"] = cohen_kappa([verdicts["teacher"][p] for p in pairs], [verdicts["student"][p] for p in pairs])
    fid = fidelity_violations(FidelityCase(t, r, base["teacher"][t], base["student"][t], verdicts["teacher"][(t, r)],
                                           verdicts["student"][(t, r)]) for t, r in pairs)
    res["fidelity_violation_rate"] = fid.rate
    res["fidelity_violations"] = [list(v) for v in fid.violating]
    res["robustness_gap"] = (rd["student"] - rd["teacher"]) / rd["teacher"] if rd["teacher"] else None
    agree = []
    for p in pairs:
        a, b = outputs["teacher"].get(p), outputs["student"].get(p)
        if a is not None and b is not None and len(a) == len(b) and a:
            agree.append(sum(x == y for x, y in zip(a, b, strict=True)) / len(a))
        else:
            agree.append(0.0)
    res["output_agreement"] = sum(agree) / len(agree)
    return res


def evaluate_dataset(config: Any, result: Any, name: str, backend: Backend) -> dict[str, Any]:
    ds_full = load_dataset(name, config.data_dir)
    task_ids = result.task_ids[name]
    ds = ds_full.select(task_ids=task_ids)
    plus = ds.has_plus
    relations = getattr(config, "metamorphic_relations", None)
    table = validate(ds, list(relations) if relations else None, run_outputs=sandbox_run_outputs(ds, backend), seed=0)
    transforms = [t for t in valid_transforms(ds, table) if not t.partial]
    by_relation: dict[str, list[Transformed]] = {}
    for t in transforms:
        by_relation.setdefault(t.relation, []).append(t)

    from harness.execute import ExecuteConfig, execute_samples
    from harness.generation import generate_samples

    base: dict[str, dict[str, bool]] = {}
    for role in ROLES:
        rows = _rows(config.out / role / name / "results.jsonl")
        base[role] = {}
        for row in rows:
            if row["sample_index"] == 0:
                base[role][row["task_id"]] = _passed(row, plus)
    verdicts: dict[str, dict[tuple[str, str], bool]] = {r: {} for r in ROLES}
    programs: dict[str, dict[tuple[str, str], str]] = {r: {} for r in ROLES}
    for role in ROLES:
        gen = config.generation_config(role)
        for relation, items in by_relation.items():
            d = Path(config.out) / role / name / "metamorphic" / relation
            d.mkdir(parents=True, exist_ok=True)
            samples = d / "samples.jsonl"
            generate_samples(ds, replace(gen, n_samples=1), samples, prompts={t.task_id: t for t in items}, quiet=True)
            derived = _derived(ds, items)
            rows = execute_samples(ExecuteConfig(name, samples, d, backend=config.backend, data_dir=config.data_dir,
                                                 limits=config.limits, progress=False), backend=backend,
                                   dataset=derived).rows
            by_task = {t.task_id: t for t in items}
            for row, line in zip(rows, _rows(samples), strict=True):
                if row["sample_index"] != 0:
                    continue
                verdicts[role][(row["task_id"], relation)] = _passed(row, plus)
                programs[role][(row["task_id"], relation)] = derived.tasks[row["task_id"]].program_for(line)
            del by_task
    pairs = sorted((p for p in verdicts["teacher"] if p in verdicts["student"] and p[0] in base["teacher"]
                    and p[0] in base["student"]), key=lambda p: (p[1], task_ids.index(p[0])))
    # differential output agreement: both models' functions on the same inputs
    run = sandbox_run_outputs(ds, backend)
    entry = {(t.task_id, t.relation): t.entry_point for t in transforms}
    outputs: dict[str, dict[tuple[str, str], list[Any] | None]] = {}
    for role in ROLES:
        specs = [(p[0], programs[role][p], entry[p]) for p in pairs]
        outputs[role] = dict(zip(pairs, run(specs), strict=True)) if specs else {}

    groups = {rel: table.relations[rel] for rel in table.relations}
    per_relation = {}
    for rel in table.relations:
        rel_pairs = [p for p in pairs if p[1] == rel]
        per_relation[rel] = {"group": groups[rel], "valid_tasks": len(table.valid_tasks(rel)), **_metrics(rel_pairs, verdicts, base, outputs)}
    overall = {g: _metrics([p for p in pairs if groups[p[1]] == g], verdicts, base, outputs) for g in ("strict", "soft")}
    strict = overall["strict"]
    return {
        "relations": per_relation,
        "overall": {**strict, "by_group": overall},
        "fidelity_violation_rate": strict.get("fidelity_violation_rate"),
        "validity": table.summary(),
        "not_evaluated": sorted({t.relation for t in valid_transforms(ds, table) if t.partial}),
        "note": "relations that need partial-code prompts are validated but not generated on in eval",
    }


def eval_hook(config: Any, result: Any) -> None:
    """Adds ``summary["datasets"][name]["metamorphic"]`` for every dataset of the eval."""
    if config.model("student") is None or config.model("teacher") is None:
        raise UsageError("--metamorphic needs both models (it generates on transformed prompts), not samples files")
    backend = make_backend(config.backend, jobs=config.jobs, limits=config.limits)
    try:
        for name in result.task_ids:
            section = evaluate_dataset(config, result, name, backend)
            result.summary["datasets"][name]["metamorphic"] = section
    finally:
        backend.close()
