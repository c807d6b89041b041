"""Typed records of everything the harness writes and reads (the JSON of shared/DESIGN.md).

Each record has ``to_dict()`` (the exact JSON object, keys in the order the harness writes them)
and ``from_dict()`` (which reads what the harness wrote back into the same record, and reads
hand-made or older files tolerantly: a missing or malformed number is ``None``, never an
exception, so the gate can fail a check on it and the report can show "n/a"). Keys a record does
not know are kept in ``extra`` and written back after the known ones.

    results.jsonl line        ResultRow
    execute summary.json      RunSummary       (pass@k, error types, taxonomy)
    eval summary.json         EvalSummary      (models, settings, datasets, gate)
      datasets.<name>         Comparison       (per model ModelBlock, precision loss, McNemar)
      datasets.<name>.metamorphic   Metamorphic
      gate                    GateResult       (GateCheck, GateConfig)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

METRICS: tuple[str, str] = ("base", "plus")
ROLES: tuple[str, str] = ("student", "teacher")

Interval = tuple[float, float]


# ----------------------------------------------------------------------------- tolerant readers


def num(x: Any) -> float | None:
    """A finite number, else None (booleans are not numbers)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def dig(d: Any, *path: str) -> Any:
    """``d[path[0]][path[1]]...``, None where a level is missing or not an object."""
    for key in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(key)
    return d


def interval(x: Any) -> Interval | None:
    """``[lo, hi]`` (or an object with lo/low and hi/high) as a pair of numbers."""
    if isinstance(x, (list, tuple)) and len(x) == 2:
        lo, hi = num(x[0]), num(x[1])
        if lo is not None and hi is not None:
            return lo, hi
    if isinstance(x, Mapping):
        return interval([x.get("lo", x.get("low")), x.get("hi", x.get("high"))])
    return None


def _int(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _str(x: Any) -> str | None:
    return x if isinstance(x, str) else None


def _bool(x: Any) -> bool | None:
    return x if isinstance(x, bool) else None


def _mapping(x: Any) -> dict[str, Any]:
    return dict(x) if isinstance(x, Mapping) else {}


def _extra(data: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    skip = set(known)
    return {k: v for k, v in data.items() if k not in skip}


# ----------------------------------------------------------------------------- results rows


@dataclass
class ResultRow:
    """One line of results.jsonl (one input sample)."""

    task_id: str
    sample_index: int
    passed: bool
    base_passed: bool | None = None
    plus_passed: bool | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_in: str | None = None
    exception_chain: list[str] | None = None
    failed_input_index: int | None = None
    failed_in: str | None = None
    #: A time-out confirmed against its limit (input, CPU seconds over); absent otherwise.
    over_limit: dict[str, Any] | None = None
    category: str | None = None
    complete: bool | None = None
    #: Written by the sandbox run; absent in hand-made rows.
    duration_s: float | None = None
    attempts: int | None = None
    #: Processes its inputs ran in, side by side (a long stateless sample); absent when one.
    processes: int | None = None
    #: ``output`` (captured stdout) and the sample's own extra keys, in order.
    extra: dict[str, Any] = field(default_factory=dict)

    _OPTIONAL = ("over_limit", "duration_s", "attempts", "processes")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None and f.name in self._OPTIONAL:
                continue
            out[f.name] = value
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], position: int | None = None) -> ResultRow:
        """A row; ``position`` stands in for a missing ``sample_index``."""
        names = [f.name for f in fields(cls) if f.name != "extra"]
        index = _int(data.get("sample_index"))
        chain = data.get("exception_chain")
        return cls(
            task_id=str(data.get("task_id")),
            sample_index=index if index is not None else (position or 0),
            passed=bool(data.get("passed")),
            base_passed=_bool(data.get("base_passed")),
            plus_passed=_bool(data.get("plus_passed")),
            error_type=_str(data.get("error_type")),
            error_message=_str(data.get("error_message")),
            error_in=_str(data.get("error_in")),
            exception_chain=[str(c) for c in chain] if isinstance(chain, list) else None,
            failed_input_index=_int(data.get("failed_input_index")),
            failed_in=_str(data.get("failed_in")),
            over_limit=dict(data["over_limit"]) if isinstance(data.get("over_limit"), Mapping) else None,
            category=_str(data.get("category")),
            complete=_bool(data.get("complete")),
            duration_s=num(data.get("duration_s")),
            attempts=_int(data.get("attempts")),
            processes=_int(data.get("processes")),
            extra=_extra(data, names),
        )

    def verdict(self, metric: str) -> bool:
        """The verdict on ``base`` or ``plus`` tests."""
        return bool(self.plus_passed if metric == "plus" else self.base_passed)


# ----------------------------------------------------------------------------- pass@k


@dataclass
class Rates:
    """A number per metric: ``{"base": x, "plus": y}`` (plus is None on humaneval / mbpp)."""

    base: float | None = None
    plus: float | None = None

    def get(self, metric: str) -> float | None:
        return self.plus if metric == "plus" else self.base

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "plus": self.plus}

    @classmethod
    def from_dict(cls, data: Any) -> Rates:
        if not isinstance(data, Mapping):
            return cls(num(data), None)
        return cls(num(data.get("base")), num(data.get("plus")))


@dataclass
class Intervals:
    """An interval per metric: ``{"base": [lo, hi], "plus": [lo, hi]}``."""

    base: Interval | None = None
    plus: Interval | None = None

    def get(self, metric: str) -> Interval | None:
        return self.plus if metric == "plus" else self.base

    def set(self, metric: str, value: Interval | None) -> None:
        setattr(self, "plus" if metric == "plus" else "base", value)

    def to_dict(self) -> dict[str, Any]:
        return {"base": list(self.base) if self.base else None, "plus": list(self.plus) if self.plus else None}

    @classmethod
    def from_dict(cls, data: Any) -> Intervals:
        return cls(interval(dig(data, "base")), interval(dig(data, "plus")))


def task_counts(rows: Iterable[ResultRow], metric: str, task_ids: Sequence[str] | None = None,
                ) -> list[tuple[int, int]]:
    """(samples, passed) per task, in ``task_ids`` order (default: first appearance)."""
    per: dict[str, list[int]] = {t: [0, 0] for t in task_ids} if task_ids is not None else {}
    for row in rows:
        n_c = per.get(row.task_id) if task_ids is not None else per.setdefault(row.task_id, [0, 0])
        if n_c is not None:
            n_c[0] += 1
            n_c[1] += row.verdict(metric)
    return [(n, c) for n, c in per.values()]


def pass_at_k(rows: Sequence[ResultRow], has_plus: bool, task_ids: Sequence[str] | None = None,
              ) -> dict[int, Rates]:
    """Unbiased pass@k for every k that all tasks support: the one place pass@k is computed
    (empty when a task has no sample)."""
    from harness.analysis.metrics import mean_pass_at_k, supported_ks  # numpy: not at import time

    base = task_counts(rows, "base", task_ids)
    plus = task_counts(rows, "plus", task_ids) if has_plus else None
    return {k: Rates(mean_pass_at_k(base, k), mean_pass_at_k(plus, k) if plus is not None else None)
            for k in supported_ks(base)}


def _pass_at_k_from(data: Mapping[str, Any], bare: bool = False) -> dict[int, Rates]:
    """``pass@<k>`` keys of an object (``bare``: also plain ``<k>`` keys), by k."""
    out: dict[int, Rates] = {}
    for key, value in data.items():
        k = str(key).removeprefix("pass@") if bare or str(key).startswith("pass@") else ""
        if k.isdigit():
            out[int(k)] = Rates.from_dict(value)
    return out


# ----------------------------------------------------------------------------- run summary


@dataclass
class RunSummary:
    """``summary.json`` of ``harness execute`` (one model on one dataset)."""

    dataset: str
    dataset_version: str | None
    dataset_hash: str | None
    n_tasks: int
    n_samples: int
    n_passed: int
    pass_at_k: dict[int, Rates]
    error_types: dict[str, int]
    taxonomy: dict[str, Any]
    #: The sandbox that ran the samples (absent when every result was resumed from disk).
    sandbox: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dataset": self.dataset, "dataset_version": self.dataset_version,
            "dataset_hash": self.dataset_hash, "n_tasks": self.n_tasks, "n_samples": self.n_samples,
            "n_passed": self.n_passed,
        }
        out.update({f"pass@{k}": r.to_dict() for k, r in self.pass_at_k.items()})
        out["error_types"] = dict(self.error_types)
        out["taxonomy"] = self.taxonomy
        if self.sandbox is not None:
            out["sandbox"] = self.sandbox
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        known = ["dataset", "dataset_version", "dataset_hash", "n_tasks", "n_samples", "n_passed",
                 "error_types", "taxonomy", "sandbox"]
        ks = _pass_at_k_from(data)
        return cls(
            dataset=str(data.get("dataset", "")), dataset_version=_str(data.get("dataset_version")),
            dataset_hash=_str(data.get("dataset_hash")), n_tasks=_int(data.get("n_tasks")) or 0,
            n_samples=_int(data.get("n_samples")) or 0, n_passed=_int(data.get("n_passed")) or 0,
            pass_at_k=ks, error_types={str(k): int(v) for k, v in _mapping(data.get("error_types")).items()},
            taxonomy=_mapping(data.get("taxonomy")),
            sandbox=dict(data["sandbox"]) if isinstance(data.get("sandbox"), Mapping) else None,
            extra=_extra(data, known + [f"pass@{k}" for k in ks]),
        )

    @classmethod
    def of(cls, dataset: Any, rows: Sequence[ResultRow]) -> RunSummary:
        """The summary of a run's rows (``dataset``: a :class:`harness.data.datasets.Dataset`)."""
        from harness.taxonomy import table13

        errors: dict[str, int] = {}
        for r in rows:
            if r.error_type:
                errors[r.error_type] = errors.get(r.error_type, 0) + 1
        return cls(
            dataset=dataset.name, dataset_version=dataset.version, dataset_hash=dataset.content_hash,
            n_tasks=len({r.task_id for r in rows}), n_samples=len(rows), n_passed=sum(r.passed for r in rows),
            pass_at_k=pass_at_k(rows, dataset.has_plus) or {1: Rates(0.0, 0.0 if dataset.has_plus else None)},
            error_types=dict(sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))),
            taxonomy=table13(r.to_dict() for r in rows),
        )


# ----------------------------------------------------------------------------- comparison


@dataclass
class ModelBlock:
    """One model on one dataset of an eval: ``datasets.<name>.<role>``."""

    pass_at_1: Rates
    pass_at_1_ci: Intervals
    pass_at_k: dict[int, Rates]
    n_samples: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"pass@1": self.pass_at_1.to_dict(), "pass@1_ci": self.pass_at_1_ci.to_dict(),
                "pass@k": {f"pass@{k}": r.to_dict() for k, r in self.pass_at_k.items()},
                "n_samples": self.n_samples, **self.extra}

    @classmethod
    def from_dict(cls, data: Any) -> ModelBlock:
        data = _mapping(data)
        ks = _pass_at_k_from(_mapping(data.get("pass@k")), bare=True)
        beside = {k: r for k, r in _pass_at_k_from(data).items() if k != 1}  # older files
        for k, r in beside.items():
            ks.setdefault(k, r)
        return cls(Rates.from_dict(data.get("pass@1")), Intervals.from_dict(data.get("pass@1_ci")),
                   ks, _int(data.get("n_samples")),
                   _extra(data, ["pass@1", "pass@1_ci", "pass@k", "n_samples", *(f"pass@{k}" for k in beside)]))

    @classmethod
    def of(cls, rows: Sequence[ResultRow], task_ids: Sequence[str], has_plus: bool) -> ModelBlock:
        ks = pass_at_k(rows, has_plus, task_ids)
        return cls(Rates(**ks[1].to_dict()) if 1 in ks else Rates(0.0, 0.0 if has_plus else None),
                   Intervals(), ks, sum(n for n, _ in task_counts(rows, "base", task_ids)))


@dataclass
class McNemar:
    """Exact McNemar test on the tasks only one model solves (b: regressed, c: gained)."""

    metric: str | None
    b: int | None
    c: int | None
    p_value: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "b": self.b, "c": self.c, "p_value": self.p_value}

    @classmethod
    def from_dict(cls, data: Any) -> McNemar | None:
        if not isinstance(data, Mapping):
            return None
        return cls(_str(data.get("metric")), _int(data.get("b")), _int(data.get("c")), num(data.get("p_value")))


@dataclass
class Taxonomy:
    """Both models' Table-13 profiles and the student-minus-teacher counts per category."""

    student: dict[str, Any] | None
    teacher: dict[str, Any] | None
    diff: dict[str, int] | None

    def to_dict(self) -> dict[str, Any]:
        return {"student": self.student, "teacher": self.teacher, "diff": self.diff}

    @classmethod
    def from_dict(cls, data: Any) -> Taxonomy | None:
        if not isinstance(data, Mapping):
            return None
        tables = {m: dict(data[m]) if isinstance(data.get(m), Mapping) else None for m in ROLES}
        diff = data.get("diff")
        return cls(tables["student"], tables["teacher"],
                   {str(k): int(v) for k, v in diff.items() if num(v) is not None}
                   if isinstance(diff, Mapping) else None)

    def category_diff(self) -> dict[str, int] | None:
        """Student minus teacher per category: the recorded diff, else from both tables."""
        if self.diff is not None:
            return self.diff
        s, t = dig(self.student, "categories"), dig(self.teacher, "categories")
        if isinstance(s, Mapping) and isinstance(t, Mapping):
            return {k: int(s.get(k, 0)) - int(t.get(k, 0)) for k in sorted(set(s) | set(t))}
        return None


# ----------------------------------------------------------------------------- metamorphic


def _metric(x: Any) -> float | None:
    """A finite number as written (an int stays an int: the JSON reads back byte for byte)."""
    return x if num(x) is not None else None


def _written(items: Iterable[tuple[str, Any]], complete: bool) -> dict[str, Any]:
    """The keys of a record: all of them (nulls included) for what the harness writes whole,
    only the known values for an empty set or a hand-made block."""
    return {k: v for k, v in items if complete or v is not None}


@dataclass
class RoleRobustness:
    """``<set>.<role>``: one model's verdicts on the nominal and perturbed prompts of a set of
    pairs (flip rate, pass@1 on each side, ReCode's RP/RD/RR@1)."""

    #: Share of pairs whose verdict the transform changed.
    flip_rate: float | None
    #: pass@1 on the transformed and on the nominal prompts.
    pass_at_1: float | None
    nominal_pass_at_1: float | None
    #: ReCode's robust pass, robust drop and robust relative @1.
    rp_at_1: float | None
    rd_at_1: float | None
    rr_at_1: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = (("flip_rate", "flip_rate"), ("pass_at_1", "pass@1"), ("nominal_pass_at_1", "nominal_pass@1"),
             ("rp_at_1", "RP@1"), ("rd_at_1", "RD@1"), ("rr_at_1", "RR@1"))

    def to_dict(self) -> dict[str, Any]:
        return {**_written(((key, getattr(self, name)) for name, key in self._KEYS), False), **self.extra}

    @classmethod
    def from_dict(cls, data: Any) -> RoleRobustness | None:
        if not isinstance(data, Mapping):
            return None
        return cls(**{name: _metric(data.get(key)) for name, key in cls._KEYS},
                   extra=_extra(data, (key for _, key in cls._KEYS)))


@dataclass
class ForcedTokens:
    """Token-pooled teacher-forced agreement on one side (original or transformed prompts);
    ``teacher_mass_covered`` is written when the KL is a top-k lower bound (``bounded``)."""

    top1_agreement: float | None
    mean_kl: float | None
    n_tokens: int
    teacher_mass_covered: float | None = None
    bounded: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"top1_agreement": self.top1_agreement, "mean_kl": self.mean_kl,
                               "n_tokens": self.n_tokens}
        if self.bounded:
            out["teacher_mass_covered"] = self.teacher_mass_covered
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ForcedTokens:
        data = _mapping(data)
        return cls(_metric(data.get("top1_agreement")), _metric(data.get("mean_kl")),
                   _int(data.get("n_tokens")) or 0, _metric(data.get("teacher_mass_covered")),
                   "teacher_mass_covered" in data)

    @classmethod
    def of(cls, stats: Any) -> ForcedTokens:
        """From pooled :class:`harness.metamorphic.teacher_forced.TokenStats`."""
        return cls.from_dict(stats.to_dict())


@dataclass
class TeacherForced:
    """``<set>.teacher_forced``: the teacher's own samples scored by both models, pooled over
    the pairs that have both sequences; ``source``/``top_k`` when from top-k prompt logprobs."""

    original: ForcedTokens
    transformed: ForcedTokens
    n_pairs: int
    source: str | None = None
    top_k: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"original": self.original.to_dict(), "transformed": self.transformed.to_dict(),
                               "n_pairs": self.n_pairs}
        return {**out, **_written((("source", self.source), ("top_k", self.top_k)), False), **self.extra}

    @classmethod
    def from_dict(cls, data: Any) -> TeacherForced | None:
        if not isinstance(data, Mapping):
            return None
        return cls(ForcedTokens.from_dict(data.get("original")), ForcedTokens.from_dict(data.get("transformed")),
                   _int(data.get("n_pairs")) or 0, _str(data.get("source")), _int(data.get("top_k")),
                   _extra(data, ("original", "transformed", "n_pairs", "source", "top_k")))


@dataclass
class MetamorphicMetrics:
    """The metrics of a set of valid (task, relation) pairs: one relation, a group or overall.

    The harness writes a set with pairs whole (``partial_pairs`` set, nulls included) and an
    empty set as ``{"pairs": 0}``; other numbers (hand-made files) are kept in ``extra``."""

    #: Valid pairs both models ran on, and how many of them vary the partial-code prompt.
    pairs: int | None = None
    partial_pairs: int | None = None
    teacher: RoleRobustness | None = None
    student: RoleRobustness | None = None
    #: Teacher-student Cohen's kappa on the transformed prompts.
    kappa: float | None = None
    #: Over the teacher-solved pairs (None below ``fidelity_min_pairs`` of them), and which violate.
    fidelity_violation_rate: float | None = None
    fidelity_pairs: int | None = None
    fidelity_min_pairs: int | None = None
    fidelity_violations: list[tuple[str, str]] | None = None
    #: MetaCompress's rate over the pairs where both models agree on the source.
    agreement_violation_rate: float | None = None
    agreeing_pairs: int | None = None
    #: Student minus teacher RD@1, relative to the teacher's (None when the teacher's is 0).
    robustness_gap: float | None = None
    #: Share of inputs where both models' transformed programs give the same output.
    output_agreement: float | None = None
    teacher_forced: TeacherForced | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("pairs", "partial_pairs", "teacher", "student", "kappa", "fidelity_violation_rate",
              "fidelity_pairs", "fidelity_min_pairs", "fidelity_violations", "agreement_violation_rate",
              "agreeing_pairs", "robustness_gap", "output_agreement", "teacher_forced")

    def to_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {k: getattr(self, k) for k in self._KNOWN}
        for key in ("teacher", "student", "teacher_forced"):
            values[key] = values[key].to_dict() if values[key] is not None else None
        if self.fidelity_violations is not None:
            values["fidelity_violations"] = [list(v) for v in self.fidelity_violations]
        return {**_written(values.items(), self.partial_pairs is not None), **self.extra}

    @classmethod
    def from_dict(cls, data: Any) -> MetamorphicMetrics:
        data = _legacy_metrics(_mapping(data))
        violations = data.get("fidelity_violations")
        return cls(
            pairs=_int(data.get("pairs")), partial_pairs=_int(data.get("partial_pairs")),
            teacher=RoleRobustness.from_dict(data.get("teacher")),
            student=RoleRobustness.from_dict(data.get("student")),
            kappa=_metric(data.get("kappa")), fidelity_violation_rate=_metric(data.get("fidelity_violation_rate")),
            fidelity_pairs=_int(data.get("fidelity_pairs")), fidelity_min_pairs=_int(data.get("fidelity_min_pairs")),
            fidelity_violations=[(str(v[0]), str(v[1])) for v in violations
                                 if isinstance(v, (list, tuple)) and len(v) == 2]
            if isinstance(violations, list) else None,
            agreement_violation_rate=_metric(data.get("agreement_violation_rate")),
            agreeing_pairs=_int(data.get("agreeing_pairs")), robustness_gap=_metric(data.get("robustness_gap")),
            output_agreement=_metric(data.get("output_agreement")),
            teacher_forced=TeacherForced.from_dict(data.get("teacher_forced")),
            extra=_extra(data, cls._KNOWN),
        )

    def flip_rates(self) -> tuple[float | None, float | None]:
        """(teacher, student) flip rates."""
        return (self.teacher.flip_rate if self.teacher else None,
                self.student.flip_rate if self.student else None)


def _legacy_metrics(data: dict[str, Any]) -> dict[str, Any]:
    """Hand-made or older metrics as the harness writes them: flip rates spelled
    ``<role>_flip_rate`` or ``flip_rate.<role>`` move to ``<role>.flip_rate``."""
    nested = data.get("flip_rate")
    if not any(f"{r}_flip_rate" in data for r in ROLES) and not isinstance(nested, Mapping):
        return data
    out = {k: v for k, v in data.items() if k != "flip_rate" and k not in {f"{r}_flip_rate" for r in ROLES}}
    for role in ROLES:
        rate = data.get(f"{role}_flip_rate", dig(nested, role))
        if num(rate) is not None:
            out[role] = {**_mapping(data.get(role)), "flip_rate": rate}
    return out


@dataclass
class RelationResult:
    """``metamorphic.relations.<name>``: the relation's group, on how many tasks it is valid,
    and the metrics of its pairs."""

    group: str | None
    valid_tasks: int | None
    metrics: MetamorphicMetrics

    def to_dict(self) -> dict[str, Any]:
        head = _written((("group", self.group), ("valid_tasks", self.valid_tasks)), False)
        return {**head, **self.metrics.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> RelationResult:
        data = _mapping(data)
        rest = {k: v for k, v in data.items() if k not in ("group", "valid_tasks")}
        return cls(_str(data.get("group")), _int(data.get("valid_tasks")), MetamorphicMetrics.from_dict(rest))


@dataclass
class MetamorphicOverall:
    """``metamorphic.overall``: the strict group's metrics, each group's, and, when teacher
    forcing could not run, why (with ``teacher_forced: null``)."""

    metrics: MetamorphicMetrics
    by_group: dict[str, MetamorphicMetrics] | None = None
    teacher_forced_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = self.metrics.to_dict()
        if self.by_group is not None:
            out["by_group"] = {g: m.to_dict() for g, m in self.by_group.items()}
        if self.teacher_forced_reason is not None:
            out.setdefault("teacher_forced", None)
            out["teacher_forced_reason"] = self.teacher_forced_reason
        return out

    @classmethod
    def from_dict(cls, data: Any) -> MetamorphicOverall:
        data = _mapping(data)
        groups = data.get("by_group")
        rest = {k: v for k, v in data.items() if k not in ("by_group", "teacher_forced_reason")}
        return cls(MetamorphicMetrics.from_dict(rest),
                   {str(g): MetamorphicMetrics.from_dict(m) for g, m in groups.items()}
                   if isinstance(groups, Mapping) else None,
                   _str(data.get("teacher_forced_reason")))


@dataclass
class Metamorphic:
    """``datasets.<name>.metamorphic``: per relation and overall metrics, the fidelity rate the
    gate reads, the validity table's summary. Written whole by the harness (``fidelity_definition``
    set); older or hand-made blocks (relations at the top level, other metric names) read too."""

    relations: dict[str, RelationResult]
    overall: MetamorphicOverall | None = None
    fidelity_violation_rate: float | None = None
    fidelity_pairs: int | None = None
    fidelity_definition: str | None = None
    validity: dict[str, Any] | None = None
    partial_nominal_tasks: int | None = None
    teacher_forced_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("relations", "overall", "fidelity_violation_rate", "fidelity_pairs", "fidelity_definition",
              "validity", "partial_nominal_tasks", "teacher_forced_reason")

    def to_dict(self) -> dict[str, Any]:
        out = _written((("relations", {n: r.to_dict() for n, r in self.relations.items()}),
                        ("overall", self.overall.to_dict() if self.overall else None),
                        ("fidelity_violation_rate", self.fidelity_violation_rate),
                        ("fidelity_pairs", self.fidelity_pairs), ("fidelity_definition", self.fidelity_definition),
                        ("validity", self.validity), ("partial_nominal_tasks", self.partial_nominal_tasks)),
                       self.fidelity_definition is not None)
        if self.teacher_forced_reason is not None:
            out["teacher_forced_reason"] = self.teacher_forced_reason
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, data: Any) -> Metamorphic | None:
        if not isinstance(data, Mapping) or not data:
            return None
        data = _legacy_section(data)
        overall = data.get("overall")
        return cls(
            relations={str(n): RelationResult.from_dict(r) for n, r in _mapping(data.get("relations")).items()
                       if isinstance(r, Mapping)},
            overall=MetamorphicOverall.from_dict(overall) if isinstance(overall, Mapping) else None,
            fidelity_violation_rate=_metric(data.get("fidelity_violation_rate")),
            fidelity_pairs=_int(data.get("fidelity_pairs")), fidelity_definition=_str(data.get("fidelity_definition")),
            validity=dict(data["validity"]) if isinstance(data.get("validity"), Mapping) else None,
            partial_nominal_tasks=_int(data.get("partial_nominal_tasks")),
            teacher_forced_reason=_str(data.get("teacher_forced_reason")),
            extra=_extra(data, cls._KNOWN),
        )

    def fidelity_rate(self) -> tuple[float | None, str]:
        """The overall fidelity-violation rate and where it came from: ``overall`` (its metrics,
        else the section's), else the worst relation's."""
        for v in (self.overall.metrics.fidelity_violation_rate if self.overall else None,
                  self.fidelity_violation_rate):
            if v is not None:
                return v, "overall"
        worst: tuple[float, str] | None = None
        for name, rel in self.relations.items():
            v = rel.metrics.fidelity_violation_rate
            if v is not None and (worst is None or v > worst[0]):
                worst = (v, f"worst relation, {name}")
        return worst if worst else (None, "")

    def fidelity_evidence(self) -> tuple[int | None, int | None]:
        """How many teacher-solved pairs the overall rate rests on and how many it needs (None
        when the results do not say: older or hand-made summaries). An empty strict group has
        no overall count: the section's (0) stands for it."""
        metrics = self.overall.metrics if self.overall else None
        pairs = metrics.fidelity_pairs if metrics and metrics.fidelity_pairs is not None else self.fidelity_pairs
        return pairs, metrics.fidelity_min_pairs if metrics else None


def _legacy_section(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """An older section (relations at the top level beside ``overall``, or the overall numbers
    at the top level) in the layout the harness writes: ``relations`` and ``overall``."""
    if isinstance(data.get("relations"), Mapping):
        return data
    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping) and k != "relations"}
    overall = data.get("overall")
    return {**scalars, "relations": {k: v for k, v in data.items() if isinstance(v, Mapping) and k != "overall"},
            "overall": overall if isinstance(overall, Mapping) else scalars}


# ----------------------------------------------------------------------------- dataset comparison


@dataclass
class Comparison:
    """``datasets.<name>`` of an eval summary: teacher vs student on one dataset."""

    n_tasks: int | None
    dataset_version: str | None
    primary_metric: str | None
    student: ModelBlock
    teacher: ModelBlock
    precision_loss: Rates
    precision_loss_ci: Intervals
    mcnemar: McNemar | None
    regressed: list[str]
    gained: list[str]
    taxonomy: Taxonomy | None
    metamorphic: Metamorphic | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("n_tasks", "dataset_version", "primary_metric", "student", "teacher", "precision_loss",
              "precision_loss_ci", "mcnemar", "regressed", "gained", "taxonomy", "metamorphic")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_tasks": self.n_tasks, "dataset_version": self.dataset_version,
            "primary_metric": self.primary_metric, "student": self.student.to_dict(),
            "teacher": self.teacher.to_dict(), "precision_loss": self.precision_loss.to_dict(),
            "precision_loss_ci": self.precision_loss_ci.to_dict(),
            "mcnemar": self.mcnemar.to_dict() if self.mcnemar else None,
            "regressed": list(self.regressed), "gained": list(self.gained),
            "taxonomy": self.taxonomy.to_dict() if self.taxonomy else None,
        }
        if self.metamorphic is not None:
            out["metamorphic"] = self.metamorphic.to_dict()
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Comparison:
        data = _mapping(data)
        primary = data.get("primary_metric")
        return cls(
            n_tasks=_int(data.get("n_tasks")), dataset_version=_str(data.get("dataset_version")),
            primary_metric=primary if primary in METRICS else None,
            student=ModelBlock.from_dict(data.get("student")), teacher=ModelBlock.from_dict(data.get("teacher")),
            precision_loss=Rates.from_dict(data.get("precision_loss")),
            precision_loss_ci=Intervals.from_dict(data.get("precision_loss_ci")),
            mcnemar=McNemar.from_dict(data.get("mcnemar")),
            regressed=[str(t) for t in data.get("regressed") or []],
            gained=[str(t) for t in data.get("gained") or []],
            taxonomy=Taxonomy.from_dict(data.get("taxonomy")),
            metamorphic=Metamorphic.from_dict(data.get("metamorphic")),
            extra=_extra(data, cls._KNOWN),
        )

    def block(self, role: str) -> ModelBlock:
        return self.student if role == "student" else self.teacher

    def primary(self, name: str) -> str:
        """``plus`` on the + datasets (or wherever the student has a plus pass@1), else ``base``."""
        if self.primary_metric in METRICS:
            return self.primary_metric
        if name.endswith("+") or self.student.pass_at_1.plus is not None:
            return "plus"
        return "base"


# ----------------------------------------------------------------------------- gate


@dataclass(frozen=True)
class GateConfig:
    """The thresholds of a gate file; ``None`` means the check is not configured."""

    max_precision_loss: float | None = None
    min_student_pass_at_1: float | None = None
    max_category_increase: int | None = None
    max_fidelity_violation: float | None = None
    require_significance: bool = False
    #: Where the config came from (not a gate key).
    source: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> GateConfig:
        if not isinstance(data, Mapping):
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class GateCheck:
    """One check of one dataset. ``value`` and ``threshold`` are in the gate file's units."""

    name: str  # the gate key: max_precision_loss, min_student_pass_at_1, ...
    dataset: str
    value: float | None
    threshold: float | None
    passed: bool
    message: str
    skipped: bool = False
    metric: str | None = None  # base / plus, where the check reads a pass@1
    category: str | None = None  # the taxonomy category of a max_category_increase check
    p_value: float | None = None  # McNemar p, for loss checks under require_significance
    #: How far past the threshold the value is (positive: by how much it failed).
    margin: float | None = None

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else ("passed" if self.passed else "failed")

    @property
    def label(self) -> str:
        """``dataset: name`` plus the category, as in junit.xml and the CLI output."""
        cat = f"[{self.category}]" if self.category else ""
        return f"{self.dataset}: {self.name}{cat}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateCheck:
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs.setdefault("name", "check")
        kwargs.setdefault("dataset", "")
        kwargs.setdefault("value", None)
        kwargs.setdefault("threshold", None)
        kwargs.setdefault("passed", False)
        kwargs.setdefault("message", "")
        return cls(**kwargs)


@dataclass
class GateResult:
    """The verdict: ``summary.json``'s ``gate`` (plus ``evaluated``, the time it was gated)."""

    passed: bool
    checks: list[GateCheck]
    config: GateConfig = field(default_factory=GateConfig)
    evaluated: str | None = None

    @property
    def failed(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed and not c.skipped]

    @property
    def skipped(self) -> list[GateCheck]:
        return [c for c in self.checks if c.skipped]

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        out = {
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "n_checks": len(self.checks),
            "n_failed": len(self.failed),
            "n_skipped": len(self.skipped),
            "config": self.config.to_dict(),
        }
        if self.evaluated is not None:
            out["evaluated"] = self.evaluated
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        checks = [GateCheck.from_dict(c) for c in data.get("checks") or [] if isinstance(c, Mapping)]
        passed = data.get("passed")
        if not isinstance(passed, bool):
            passed = not any(not c.passed and not c.skipped for c in checks)
        return cls(passed, checks, GateConfig.from_dict(data.get("config")), _str(data.get("evaluated")))


# ----------------------------------------------------------------------------- eval summary


@dataclass
class ModelInfo:
    """``models.<role>``: what was evaluated."""

    id: str | None
    fingerprint: str | None
    revision: str | None
    samples_file: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "fingerprint": self.fingerprint, "revision": self.revision,
                "samples_file": self.samples_file, **self.extra}

    @classmethod
    def from_dict(cls, data: Any) -> ModelInfo:
        data = _mapping(data)
        return cls(_str(data.get("id")), _str(data.get("fingerprint")), _str(data.get("revision")),
                   _str(data.get("samples_file")),
                   _extra(data, ["id", "fingerprint", "revision", "samples_file"]))


@dataclass
class EvalSummary:
    """``summary.json`` of ``harness eval``."""

    harness_version: str | None
    created: str | None
    models: dict[str, ModelInfo]
    settings: dict[str, Any]
    datasets: dict[str, Comparison]
    mean_precision_loss: Rates
    cache: dict[str, Any] | None = None
    gate: GateResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("harness_version", "created", "models", "settings", "datasets", "mean_precision_loss",
              "cache", "gate")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "harness_version": self.harness_version, "created": self.created,
            "models": {r: m.to_dict() for r, m in self.models.items()}, "settings": self.settings,
            "datasets": {n: d.to_dict() for n, d in self.datasets.items()},
            "mean_precision_loss": self.mean_precision_loss.to_dict(),
        }
        if self.cache is not None:
            out["cache"] = self.cache
        out.update(self.extra)
        if self.gate is not None:
            out["gate"] = self.gate.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalSummary:
        gate = data.get("gate")
        return cls(
            harness_version=_str(data.get("harness_version")), created=_str(data.get("created")),
            models={str(r): ModelInfo.from_dict(m) for r, m in _mapping(data.get("models")).items()},
            settings=_mapping(data.get("settings")),
            datasets={str(n): Comparison.from_dict(d) for n, d in _mapping(data.get("datasets")).items()
                      if isinstance(d, Mapping)},
            mean_precision_loss=Rates.from_dict(data.get("mean_precision_loss")),
            cache=dict(data["cache"]) if isinstance(data.get("cache"), Mapping) else None,
            gate=GateResult.from_dict(gate) if isinstance(gate, Mapping) else None,
            extra=_extra(data, cls._KNOWN),
        )

    def metamorphic(self, name: str) -> Metamorphic | None:
        """A dataset's metamorphic results: ``datasets.<name>.metamorphic``, else a top-level
        ``metamorphic`` block keyed by dataset name (or, with one dataset, the block itself)."""
        ds = self.datasets.get(name)
        if ds is not None and ds.metamorphic is not None:
            return ds.metamorphic
        top = self.extra.get("metamorphic")
        if not isinstance(top, Mapping) or not top:
            return None
        if isinstance(top.get(name), Mapping):
            return Metamorphic.from_dict(top[name])
        if len(self.datasets) == 1 and not any(k in self.datasets for k in top):
            return Metamorphic.from_dict(top)
        return None


__all__ = [
    "METRICS", "Comparison", "EvalSummary", "ForcedTokens", "GateCheck", "GateConfig", "GateResult", "Intervals",
    "McNemar", "Metamorphic", "MetamorphicMetrics", "MetamorphicOverall", "ModelBlock", "ModelInfo", "Rates",
    "RelationResult", "ResultRow", "RoleRobustness", "RunSummary", "TeacherForced",
    "Taxonomy", "dig", "interval", "num", "pass_at_k", "task_counts",
]
