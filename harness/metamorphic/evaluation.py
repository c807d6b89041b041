"""``harness eval --metamorphic``: both models on every valid transformed prompt, in the sandbox.

For each dataset of the eval: decide which (task, relation) pairs are valid (static checks, then
the transformed canonical program must give the canonical outputs on every input, through the
sandbox), generate with both models on the transformed prompts, execute, and report per relation,
per group (strict / soft) and overall: flip rates, ReCode's RP/RD/RR@1, teacher-student Cohen's
kappa, differential output agreement, the fidelity-violation rate, the robustness gap and, where
the two models share a tokenizer, teacher-forced top-1 agreement and KL (from both models' logits
when their weights load in transformers, else from the engines' top-k prompt logprobs).

The nominal side of a pair is what the relation varies. For most relations that is the task's
prompt, whose verdicts the eval already has. Relations that rewrite statements of the body vary
ReCode's partial-code prompt (the prompt plus the first statements of the canonical body), so
both models are also run once per task on that untransformed partial prompt, and those verdicts
are the nominal ones (ReCode's protocol: nominal = partial code, perturbed = its transform).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.data.datasets import Dataset, load_dataset
from harness.metamorphic.base import Transformed
from harness.metamorphic.metrics import (
    FIDELITY_DEFINITION,
    FidelityCase,
    cohen_kappa,
    fidelity_violations,
    flip_rate,
    robust_drop_at_k,
    robust_pass_at_k,
    robust_relative_at_k,
    solved_fidelity,
)
from harness.metamorphic.teacher_forced import TokenStats, pooled
from harness.metamorphic.validity import valid_transforms, validate
from harness.results.records import (
    ForcedTokens,
    Metamorphic,
    MetamorphicMetrics,
    MetamorphicOverall,
    RelationResult,
    RoleRobustness,
    TeacherForced,
)
from harness.results.store import RunDir
from sandbox import Backend, Job, Output, Raised
from sandbox.protocol import UNJUDGED_TEST_LIMIT

ROLES = ("teacher", "student")
#: Directory (under ``<role>/<dataset>/metamorphic/``) of the runs on untransformed partial
#: prompts; relation names never start with an underscore.
PARTIAL_NOMINAL = "_partial_nominal"

Pair = tuple[str, str]  # (task_id, relation)
Forced = dict[Pair, tuple[TokenStats, TokenStats]]  # pair -> (original, transformed)


def sandbox_run_outputs(dataset: Dataset, backend: Backend) -> Any:
    """A ``run_outputs`` callable for :func:`validate`: each program on all of its task's inputs
    in the sandbox (no early stop); ``None`` for a program that did not run to the end."""
    from harness.execution.expected import all_inputs, encoded_inputs

    def run(programs: list[tuple[str, str, str]]) -> list[list[Any] | None]:
        jobs = []
        for i, (task_id, program, entry_point) in enumerate(programs):
            task = dataset.tasks[task_id]
            jobs.append(Job.recording(i, program, entry_point, encoded_inputs(dataset, task), len(all_inputs(task)),
                                      backend.limits, setup=task.setup_code, per_test=UNJUDGED_TEST_LIMIT))
        out: list[list[Any] | None] = [None] * len(programs)
        for job, result in backend.run(jobs):
            n = job.n_inputs
            values: list[Any] = [None] * n
            seen = 0
            for ev in result.events:
                if isinstance(ev, Output) and 0 <= ev.i < n:
                    values[ev.i] = ev.raw.decode("utf-8", "replace")
                    seen += 1
                elif isinstance(ev, Raised) and ev.phase == "call" and ev.i is not None and 0 <= ev.i < n:
                    values[ev.i] = f"raise {ev.type}"
                    seen += 1
            out[job.id] = values if seen == n else None
        return out

    return run


@dataclass(frozen=True)
class _Prompt:
    """A prompt to generate on (``generate_samples`` reads ``prompt`` and ``entry_point``)."""

    task_id: str
    prompt: str
    entry_point: str


@dataclass(frozen=True)
class _Run:
    """One model's first sample on one prompt: the prompt, its verdict, its program, its line."""

    prompt: str
    passed: bool
    program: str
    sample: dict[str, Any]


@dataclass(frozen=True)
class _Case:
    """A valid (task, relation) pair both models ran on: each role's nominal and perturbed run."""

    task_id: str
    relation: str
    entry_point: str
    partial: bool
    nominal: dict[str, _Run]
    perturbed: dict[str, _Run]

    @property
    def key(self) -> Pair:
        return (self.task_id, self.relation)


def _derived(ds: Dataset, items: Iterable[_Prompt | Transformed]) -> Dataset:
    """The dataset as the given prompts present it: same tests, same reference outputs."""
    tasks = {t.task_id: replace(ds.tasks[t.task_id], prompt=t.prompt, entry_point=t.entry_point) for t in items}
    return Dataset(ds.name, tasks, ds.version, ds.content_hash)


def _collect(ds: Dataset, run: RunDir, plus: bool) -> dict[str, _Run]:
    """Each task's first sample, with its verdict."""
    out: dict[str, _Run] = {}
    for row, line in run.matched():
        tid = row.task_id
        if row.sample_index == 0 and tid in ds.tasks and line is not None:
            task = ds.tasks[tid]
            out[tid] = _Run(task.prompt, row.verdict("plus" if plus else "base"), task.program_for(line), line)
    return out


def _run_prompts(config: Any, ds: Dataset, role: str, directory: Path, prompts: dict[str, _Prompt],
                 backend: Backend) -> dict[str, _Run]:
    """Generate one sample per prompt with ``role``'s model and execute it (resumable files)."""
    from harness.execution.execute import ExecuteConfig, execute_samples
    from harness.generation import generate_samples

    directory.mkdir(parents=True, exist_ok=True)
    samples = directory / "samples.jsonl"
    gen = replace(config.generation_config(role), n_samples=1)
    generate_samples(ds, gen, samples, prompts=prompts, quiet=True)
    derived = _derived(ds, prompts.values())
    execute_samples(ExecuteConfig(ds.name, samples, directory, backend=config.backend,
                                  data_dir=config.data_dir, limits=config.limits, progress=False),
                    backend=backend, dataset=derived)
    return _collect(derived, RunDir(directory), ds.has_plus)


def _partial_slots(transforms: list[Transformed]) -> tuple[list[dict[str, _Prompt]], dict[Pair, int]]:
    """The distinct untransformed partial prompts, one generation file ("slot") each time a task
    has one more of them: every relation uses the same cut today, so one slot, one run per task."""
    slots: list[dict[str, _Prompt]] = []
    where: dict[Pair, int] = {}
    for t in transforms:
        if not t.partial:
            continue
        nominal = _Prompt(t.task_id, t.base_prompt, t.base_entry_point)
        slot = next((i for i, s in enumerate(slots) if s.get(t.task_id) == nominal), None)
        if slot is None:
            slot = next((i for i, s in enumerate(slots) if t.task_id not in s), len(slots))
            if slot == len(slots):
                slots.append({})
            slots[slot][t.task_id] = nominal
        where[(t.task_id, t.relation)] = slot
    return slots, where


def _slot_dir(root: Path, slot: int) -> Path:
    return root / (PARTIAL_NOMINAL if slot == 0 else f"{PARTIAL_NOMINAL}.{slot}")


def _cases(config: Any, ds: Dataset, transforms: list[Transformed], backend: Backend) -> list[_Case]:
    """Run both models on the transformed prompts and on the untransformed partial prompts."""
    out_dir = Path(config.out)
    by_relation: dict[str, dict[str, _Prompt]] = {}
    for t in transforms:
        by_relation.setdefault(t.relation, {})[t.task_id] = _Prompt(t.task_id, t.prompt, t.entry_point)
    slots, slot_of = _partial_slots(transforms)
    base: dict[str, dict[str, _Run]] = {}
    partial: dict[str, list[dict[str, _Run]]] = {}
    runs: dict[str, dict[str, dict[str, _Run]]] = {}
    for role in ROLES:
        here = out_dir / role / ds.name
        base[role] = _collect(ds, RunDir(here), ds.has_plus)
        root = here / "metamorphic"
        partial[role] = [_run_prompts(config, ds, role, _slot_dir(root, i), s, backend) for i, s in enumerate(slots)]
        runs[role] = {rel: _run_prompts(config, ds, role, root / rel, prompts, backend)
                      for rel, prompts in by_relation.items()}
    cases = []
    for t in transforms:
        key = (t.task_id, t.relation)
        nominal = {r: partial[r][slot_of[key]].get(t.task_id) if t.partial else base[r].get(t.task_id)
                   for r in ROLES}
        perturbed = {r: runs[r][t.relation].get(t.task_id) for r in ROLES}
        if all(nominal.values()) and all(perturbed.values()):
            cases.append(_Case(t.task_id, t.relation, t.entry_point, t.partial,
                               {r: v for r, v in nominal.items() if v}, {r: v for r, v in perturbed.items() if v}))
    return cases


def _output_agreement(cases: list[_Case], ds: Dataset, backend: Backend) -> dict[Pair, float]:
    """Differential testing on the transformed prompts: the share of the task's inputs on which
    the teacher's and the student's programs give the same output (0 when either did not run)."""
    run = sandbox_run_outputs(ds, backend)
    outputs = {role: run([(c.task_id, c.perturbed[role].program, c.entry_point) for c in cases]) if cases else []
               for role in ROLES}
    return {c.key: _same_share(a, b) for c, a, b in zip(cases, outputs["teacher"], outputs["student"], strict=True)}


def _same_share(a: list[Any] | None, b: list[Any] | None) -> float:
    if a is None or b is None or len(a) != len(b) or not a:
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def _encode_cases(tok: Any, template: Any, eos: int | None, cases: list[_Case]) -> tuple[list[Any], dict[Pair, tuple[int, int]]]:
    """Each pair's (original, transformed) teacher sequences, every distinct sequence once (a
    task prompt serves many pairs): the sequences and, per pair, their two indices."""
    from harness.metamorphic.teacher_forced import ForcedSequence, encode_forced

    index: dict[ForcedSequence, int] = {}
    where: dict[Pair, tuple[int, int]] = {}
    for c in cases:
        a = encode_forced(tok, template, c.nominal["teacher"].prompt, c.nominal["teacher"].sample, eos)
        b = encode_forced(tok, template, c.perturbed["teacher"].prompt, c.perturbed["teacher"].sample, eos)
        if a is not None and b is not None:
            where[c.key] = (index.setdefault(a, len(index)), index.setdefault(b, len(index)))
    return list(index), where


def _teacher_forced(config: Any, cases: list[_Case]) -> tuple[Forced | None, dict[str, Any] | str]:
    """Teacher-forced stats of every pair, on the teacher's own samples (original, transformed),
    and how they were scored; or None and why not (tokenizers differ, a server refuses prompt
    logprobs). Both models' weights load in transformers: full distributions; else top-k prompt
    logprobs from the engine of each model that has no loadable weights (KL a lower bound)."""
    if not cases:
        return {}, {}
    from harness.generation.engine import forced_scoring
    from harness.generation.templates import get_template

    teacher, student = config.generation_config("teacher"), config.generation_config("student")
    template = get_template(config.template)
    if forced_scoring(teacher) == forced_scoring(student) == "weights":
        from harness.generation.backend import eos_token_ids
        from harness.metamorphic.teacher_forced import load_models, teacher_forced_stats

        models = load_models(teacher, student)
        if isinstance(models, str):
            return None, models
        tok = models.tokenizer
        seqs, where = _encode_cases(tok, template, next(iter(eos_token_ids(models.teacher, tok)), None), cases)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        stats = teacher_forced_stats(models.teacher, models.student, seqs, batch_size=config.batch_size,
                                     pad_id=int(pad))
        return {k: (stats[i], stats[j]) for k, (i, j) in where.items()}, {}
    from harness.metamorphic.forced_logprobs import DEFAULT_TOP_K, open_scorers

    k = int(getattr(config, "forced_top_k", DEFAULT_TOP_K))
    scorers = open_scorers(teacher, student)
    if isinstance(scorers, str):
        return None, scorers
    try:
        seqs, where = _encode_cases(scorers.tokenizer, template, scorers.eos_id(), cases)
        got = scorers.stats(seqs, k, batch_size=config.batch_size)
    finally:
        scorers.close()
    if isinstance(got, str):
        return None, got
    return {key: (got[i], got[j]) for key, (i, j) in where.items()}, {"source": "prompt_logprobs", "top_k": k}


def _forced_block(cases: list[_Case], forced: Forced | None, how: dict[str, Any]) -> TeacherForced | None:
    """Token-pooled teacher-forced agreement and KL over the pairs that have both sequences,
    and, when from top-k prompt logprobs, ``source: prompt_logprobs`` with its ``top_k``."""
    if forced is None:
        return None
    mine = [forced[c.key] for c in cases if c.key in forced]
    return TeacherForced(ForcedTokens.of(pooled(a for a, _ in mine)), ForcedTokens.of(pooled(b for _, b in mine)),
                         len(mine), **how)


def _robustness(cases: list[_Case], role: str) -> RoleRobustness:
    """One model's flip rate, pass@1 on both sides and ReCode's RP/RD/RR@1 over the pairs."""
    nominal = [[c.nominal[role].passed] for c in cases]
    perturbed = [[[c.perturbed[role].passed]] for c in cases]
    return RoleRobustness(
        flip_rate=flip_rate((c.nominal[role].passed, c.perturbed[role].passed) for c in cases),
        pass_at_1=sum(c.perturbed[role].passed for c in cases) / len(cases),
        nominal_pass_at_1=sum(c.nominal[role].passed for c in cases) / len(cases),
        rp_at_1=robust_pass_at_k(nominal, perturbed, 1),
        rd_at_1=robust_drop_at_k(nominal, perturbed, 1),
        rr_at_1=robust_relative_at_k(nominal, perturbed, 1),
    )


def _metrics(cases: list[_Case], agreement: dict[Pair, float], forced: Forced | None,
             how: dict[str, Any]) -> MetamorphicMetrics:
    """Metrics over a set of valid (task, relation) pairs that both models were run on; each
    pair's nominal verdicts are those on the prompt its relation varies."""
    if not cases:
        return MetamorphicMetrics(pairs=0)
    teacher, student = _robustness(cases, "teacher"), _robustness(cases, "student")
    fcases = [FidelityCase(c.task_id, c.relation, c.nominal["teacher"].passed, c.nominal["student"].passed,
                           c.perturbed["teacher"].passed, c.perturbed["student"].passed) for c in cases]
    fid = solved_fidelity(fcases)
    agree = fidelity_violations(fcases)
    rd_teacher, rd_student = teacher.rd_at_1 or 0.0, student.rd_at_1 or 0.0
    return MetamorphicMetrics(
        pairs=len(cases), partial_pairs=sum(c.partial for c in cases), teacher=teacher, student=student,
        kappa=cohen_kappa([c.perturbed["teacher"].passed for c in cases],
                          [c.perturbed["student"].passed for c in cases]),
        fidelity_violation_rate=fid.rate, fidelity_pairs=fid.pairs, fidelity_min_pairs=fid.min_pairs,
        fidelity_violations=list(fid.violating),
        agreement_violation_rate=agree.rate if agree.agreeing_sources else None,
        agreeing_pairs=agree.agreeing_sources,
        robustness_gap=(rd_student - rd_teacher) / rd_teacher if rd_teacher else None,
        output_agreement=sum(agreement[c.key] for c in cases) / len(cases),
        teacher_forced=_forced_block(cases, forced, how),
    )


def evaluate_dataset(config: Any, result: Any, name: str, backend: Backend) -> Metamorphic:
    """The ``metamorphic`` section of one dataset (see the module docstring)."""
    ds_full = load_dataset(name, config.data_dir)
    task_ids = result.task_ids[name]
    ds = ds_full.select(task_ids=task_ids)
    relations = getattr(config, "metamorphic_relations", None)
    table = validate(ds, list(relations) if relations else None, run_outputs=sandbox_run_outputs(ds, backend), seed=0)
    transforms = list(valid_transforms(ds, table))
    order = {rel: i for i, rel in enumerate(table.relations)}
    position = {t: i for i, t in enumerate(task_ids)}
    cases = sorted(_cases(config, ds, transforms, backend),
                   key=lambda c: (order[c.relation], position[c.task_id]))
    agreement = _output_agreement(cases, ds, backend)
    forced, forced_how = _teacher_forced(config, cases)
    how = forced_how if isinstance(forced_how, dict) else {}

    groups = table.relations
    per_relation = {rel: RelationResult(groups[rel], len(table.valid_tasks(rel)),
                                        _metrics([c for c in cases if c.relation == rel], agreement, forced, how))
                    for rel in table.relations}
    by_group = {g: _metrics([c for c in cases if groups[c.relation] == g], agreement, forced, how)
                for g in ("strict", "soft")}
    strict = by_group["strict"]
    reason = forced_how if isinstance(forced_how, str) else None  # also with no strict pair: say why
    return Metamorphic(
        relations=per_relation,
        overall=MetamorphicOverall(strict, by_group, teacher_forced_reason=reason),
        fidelity_violation_rate=strict.fidelity_violation_rate,
        fidelity_pairs=strict.fidelity_pairs or 0,
        fidelity_definition=FIDELITY_DEFINITION,
        validity=table.summary(),
        partial_nominal_tasks=len({c.task_id for c in cases if c.partial}),
        teacher_forced_reason=reason,
    )
