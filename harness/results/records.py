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
    #: ``output`` (captured stdout) and the sample's own extra keys, in order.
    extra: dict[str, Any] = field(default_factory=dict)

    _OPTIONAL = ("over_limit", "duration_s", "attempts")

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


@dataclass
class Metamorphic:
    """``datasets.<name>.metamorphic``: per relation and overall metrics (free-form numbers:
    other metrics are shown as extra columns). Older files keep relations at the top level."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data

    @classmethod
    def from_dict(cls, data: Any) -> Metamorphic | None:
        return cls(dict(data)) if isinstance(data, Mapping) and data else None

    @property
    def relations(self) -> dict[str, dict[str, Any]]:
        rel = self.data.get("relations")
        if isinstance(rel, Mapping):
            return {str(k): dict(v) for k, v in rel.items() if isinstance(v, Mapping)}
        return {str(k): dict(v) for k, v in self.data.items() if isinstance(v, Mapping) and k != "overall"}

    @property
    def overall(self) -> dict[str, Any]:
        overall = self.data.get("overall")
        if isinstance(overall, Mapping):
            return dict(overall)
        return {k: v for k, v in self.data.items() if not isinstance(v, Mapping) and k != "relations"}

    def fidelity_violation_rate(self) -> tuple[float | None, str]:
        """The overall fidelity-violation rate and where it came from: ``overall``, a top-level
        ``fidelity_violation_rate``, else the worst relation's."""
        for path in (("overall", "fidelity_violation_rate"), ("fidelity_violation_rate",)):
            v = num(dig(self.data, *path))
            if v is not None:
                return v, "overall"
        worst: tuple[float, str] | None = None
        for name, values in self.relations.items():
            v = num(values.get("fidelity_violation_rate"))
            if v is not None and (worst is None or v > worst[0]):
                worst = (v, f"worst relation, {name}")
        return worst if worst else (None, "")

    def fidelity_evidence(self) -> tuple[int | None, int | None]:
        """How many teacher-solved pairs the overall rate rests on and how many it needs (None
        when the results do not say: older or hand-made summaries)."""
        pairs = num(dig(self.data, "overall", "fidelity_pairs"))
        if pairs is None:
            pairs = num(self.data.get("fidelity_pairs"))
        needed = num(dig(self.data, "overall", "fidelity_min_pairs"))
        return (None if pairs is None else int(pairs)), (None if needed is None else int(needed))


def flip_rates(metrics: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(teacher, student) flip rates of one relation's metrics: ``<role>.flip_rate``,
    ``<role>_flip_rate`` or ``flip_rate.<role>``."""

    def one(role: str) -> float | None:
        for value in (dig(metrics, role, "flip_rate"), metrics.get(f"{role}_flip_rate"),
                      dig(metrics, "flip_rate", role)):
            if num(value) is not None:
                return num(value)
        return None

    return one("teacher"), one("student")


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
    "METRICS", "Comparison", "EvalSummary", "GateCheck", "GateConfig", "GateResult", "Intervals",
    "McNemar", "Metamorphic", "ModelBlock", "ModelInfo", "Rates", "ResultRow", "RunSummary",
    "Taxonomy", "dig", "flip_rates", "interval", "num", "pass_at_k", "task_counts",
]
