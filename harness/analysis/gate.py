"""Release gate: check an eval directory's ``summary.json`` against a TOML gate file.

The gate file (DESIGN.md) has one ``[gate]`` table; every key is optional, unknown keys are
an error::

    [gate]
    max_precision_loss = 0.30      # (teacher - student) / teacher on the primary metric
    min_student_pass_at_1 = 0.10   # student pass@1 on the primary metric
    max_category_increase = 10     # student minus teacher failures, per taxonomy category
    max_fidelity_violation = 0.25  # metamorphic fidelity-violation rate, when it ran (a rate resting
                                   # on too few teacher-solved pairs fails: "not enough evidence")
    require_significance = false   # true: a loss check fails only when McNemar p < 0.05

Every dataset in the summary gets its own checks. The *primary metric* is ``plus`` on the
``+`` datasets (HumanEval+, MBPP+) and ``base`` on the others. A configured check whose
number is missing from the summary fails (the gate cannot vouch for what it cannot see),
except the fidelity check when metamorphic testing did not run: that one is listed as
skipped.

:func:`apply_gate` records the verdict in ``summary.json`` (``"gate": {"passed", "checks"}``),
writes ``junit.xml`` (one test case per check) and re-renders ``report.html`` and the gate
section of ``summary.md``. :func:`run_gate_for_eval` does the same and prints the outcome; it
returns the exit code (0 passed, 1 failed) for ``harness gate`` and ``harness eval --gate``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from harness.core.errors import UsageError
from harness.reporting.format import format_gate_text, pct, points
from harness.reporting.format import p_value as fmt_p
from harness.results import records
from harness.results.records import GateCheck, GateConfig, GateResult
from harness.results.store import EvalDir, read_user_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "SIGNIFICANCE_LEVEL",
    "GateCheck",
    "GateConfig",
    "GateResult",
    "apply_gate",
    "dataset_metamorphic",
    "gated",
    "evaluate_gate",
    "format_gate_text",
    "load_gate",
    "primary_metric",
    "read_summary",
    "run_gate_for_eval",
]

#: McNemar p-value below which a loss counts as significant (``require_significance``).
SIGNIFICANCE_LEVEL = 0.05
#: Slack for comparing floats read back from JSON (1.0 - 0.7 is not exactly 0.3).
_EPS = 1e-9


# ----------------------------------------------------------------------------- config


#: Gate key -> (accepted Python types, what error messages say it must be).
_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "max_precision_loss": ((int, float), "a number"),
    "min_student_pass_at_1": ((int, float), "a number between 0 and 1"),
    "max_category_increase": ((int,), "a non-negative integer"),
    "max_fidelity_violation": ((int, float), "a number between 0 and 1"),
    "require_significance": ((bool,), "true or false"),
}
_UNIT_INTERVAL = {"min_student_pass_at_1", "max_fidelity_violation"}


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _validate(key: str, value: Any, where: str) -> Any:
    types, wanted = _KEYS[key]
    ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if ok and key in _UNIT_INTERVAL and not 0.0 <= float(value) <= 1.0:
        ok = False
    if ok and key == "max_category_increase" and value < 0:
        ok = False
    if not ok:
        shown = json.dumps(value) if isinstance(value, (bool, int, float, str)) else _toml_type(value)
        raise UsageError(f"{where}: [gate] {key} must be {wanted}, not {shown}")
    if key in ("max_precision_loss", "min_student_pass_at_1", "max_fidelity_violation"):
        return float(value)
    return value


def gate_from_mapping(data: Mapping[str, Any], where: str = "gate file") -> GateConfig:
    """Validate a parsed gate file (the whole document, with its ``[gate]`` table)."""
    if "gate" not in data:
        raise UsageError(f"{where}: no [gate] table")
    extra = sorted(k for k in data if k != "gate")
    if extra:
        raise UsageError(f"{where}: unknown top-level key {extra[0]!r} (only a [gate] table is allowed)")
    table = data["gate"]
    if not isinstance(table, Mapping):
        raise UsageError(f"{where}: 'gate' must be a table ([gate]), not {_toml_type(table)}")
    unknown = sorted(k for k in table if k not in _KEYS)
    if unknown:
        raise UsageError(
            f"{where}: unknown key {unknown[0]!r} in [gate] (allowed: {', '.join(_KEYS)})"
        )
    values = {k: _validate(k, v, where) for k, v in table.items()}
    return GateConfig(**values, source=where)


def load_gate(path: str | os.PathLike[str]) -> GateConfig:
    """Read and validate a gate file; raises :class:`UsageError` (exit 2) on any problem."""
    p = Path(path)
    text = read_user_text(p, "gate file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p}: malformed TOML: {str(exc).splitlines()[0]}") from None
    return gate_from_mapping(data, str(p))


# ----------------------------------------------------------------------------- checks


def primary_metric(name: str, dataset: Mapping[str, Any] | records.Comparison) -> str:
    """``plus`` on the + datasets (or wherever the student has a plus pass@1), else ``base``."""
    ds = dataset if isinstance(dataset, records.Comparison) else records.Comparison.from_dict(dataset)
    return ds.primary(name)


def _loss_check(name: str, ds: records.Comparison, cfg: GateConfig, metric: str) -> GateCheck:
    threshold = cfg.max_precision_loss
    assert threshold is not None
    loss = ds.precision_loss.get(metric)
    key = "max_precision_loss"
    if loss is None:
        teacher = ds.teacher.pass_at_1.get(metric)
        why = (f"the teacher's {metric} pass@1 is 0" if teacher == 0.0
               else f"precision_loss.{metric} is missing from summary.json")
        return GateCheck(key, name, None, threshold, False,
                         f"precision loss ({metric}) cannot be checked: {why}", metric=metric)
    over = loss - threshold
    p_value: float | None = None
    if over <= _EPS:
        return GateCheck(key, name, loss, threshold, True,
                         f"precision loss ({metric}) {pct(loss)} <= {pct(threshold)}",
                         metric=metric, margin=over)
    if cfg.require_significance:
        p_value = ds.mcnemar.p_value if ds.mcnemar else None
        if p_value is not None and p_value >= SIGNIFICANCE_LEVEL:
            return GateCheck(
                key, name, loss, threshold, True,
                f"precision loss ({metric}) {pct(loss)} exceeds {pct(threshold)} by {points(over)}, "
                f"but is not significant (McNemar p = {fmt_p(p_value)} >= {SIGNIFICANCE_LEVEL})",
                metric=metric, p_value=p_value, margin=over)
    msg = f"precision loss ({metric}) {pct(loss)} exceeds the maximum {pct(threshold)} by {points(over)}"
    if cfg.require_significance:
        msg += (f" (McNemar p = {fmt_p(p_value)} < {SIGNIFICANCE_LEVEL})" if p_value is not None
                else " (no McNemar test in summary.json to excuse it)")
    return GateCheck(key, name, loss, threshold, False, msg, metric=metric, p_value=p_value, margin=over)


def _pass_check(name: str, ds: records.Comparison, cfg: GateConfig, metric: str) -> GateCheck:
    threshold = cfg.min_student_pass_at_1
    assert threshold is not None
    key = "min_student_pass_at_1"
    value = ds.student.pass_at_1.get(metric)
    if value is None:
        return GateCheck(key, name, None, threshold, False,
                         f"student pass@1 ({metric}) is missing from summary.json", metric=metric)
    short = threshold - value
    if short <= _EPS:
        return GateCheck(key, name, value, threshold, True,
                         f"student pass@1 ({metric}) {pct(value)} >= {pct(threshold)}",
                         metric=metric, margin=short)
    return GateCheck(key, name, value, threshold, False,
                     f"student pass@1 ({metric}) {pct(value)} is below the minimum {pct(threshold)} "
                     f"by {points(short)}", metric=metric, margin=short)


def _category_checks(name: str, ds: records.Comparison, cfg: GateConfig) -> list[GateCheck]:
    threshold = cfg.max_category_increase
    assert threshold is not None
    key = "max_category_increase"
    diff = ds.taxonomy.category_diff() if ds.taxonomy else None
    if diff is None:
        return [GateCheck(key, name, None, threshold, False,
                          "taxonomy counts are missing from summary.json")]
    if not diff:
        return [GateCheck(key, name, 0, threshold, True,
                          "no failures in any taxonomy category for either model")]
    checks = []
    for cat, inc in sorted(diff.items(), key=lambda kv: (-kv[1], kv[0])):
        over = inc - threshold
        if over <= 0:
            msg = f"{cat}: student minus teacher {inc:+d} <= {threshold}"
            checks.append(GateCheck(key, name, inc, threshold, True, msg, category=cat, margin=over))
        else:
            msg = (f"{cat}: the student has {inc} more failures than the teacher, "
                   f"{over} over the maximum increase {threshold}")
            checks.append(GateCheck(key, name, inc, threshold, False, msg, category=cat, margin=over))
    return checks


def dataset_metamorphic(summary: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """A dataset's metamorphic results (see :meth:`records.EvalSummary.metamorphic`)."""
    meta = records.EvalSummary.from_dict(summary).metamorphic(name)
    return meta.to_dict() if meta else None


def _fidelity_check(name: str, meta: records.Metamorphic | None, cfg: GateConfig) -> GateCheck:
    threshold = cfg.max_fidelity_violation
    assert threshold is not None
    key = "max_fidelity_violation"
    if meta is None:
        return GateCheck(key, name, None, threshold, True,
                         "metamorphic testing did not run (harness eval --metamorphic)",
                         skipped=True)
    value, where = meta.fidelity_rate()
    pairs, needed = meta.fidelity_evidence()
    if pairs is not None and (value is None or (needed is not None and pairs < needed)):
        at_least = f" (at least {needed} needed)" if needed is not None else ""
        return GateCheck(key, name, value, threshold, False,
                         f"not enough evidence: the fidelity-violation rate rests on {pairs} "
                         f"teacher-solved pairs{at_least}")
    if value is None:
        return GateCheck(key, name, None, threshold, False,
                         "metamorphic results have no fidelity_violation_rate")
    over = value - threshold
    if over <= _EPS:
        return GateCheck(key, name, value, threshold, True,
                         f"fidelity-violation rate ({where}) {pct(value)} <= {pct(threshold)}",
                         margin=over)
    return GateCheck(key, name, value, threshold, False,
                     f"fidelity-violation rate ({where}) {pct(value)} exceeds the maximum "
                     f"{pct(threshold)} by {points(over)}", margin=over)


def evaluate_gate(summary: Mapping[str, Any] | records.EvalSummary, gate: GateConfig) -> GateResult:
    """Check every dataset of an eval summary against ``gate``: a pure function (no files)."""
    if not isinstance(summary, records.EvalSummary):
        datasets = summary.get("datasets") if isinstance(summary, Mapping) else None
        if not isinstance(datasets, Mapping) or not datasets:
            raise UsageError("summary.json has no datasets to gate (is this an eval directory?)")
        bad = next((n for n, ds in datasets.items() if not isinstance(ds, Mapping)), None)
        if bad is not None:
            raise UsageError(f"summary.json: datasets.{bad} is not an object")
        summary = records.EvalSummary.from_dict(summary)
    if not summary.datasets:
        raise UsageError("summary.json has no datasets to gate (is this an eval directory?)")
    checks: list[GateCheck] = []
    for name, ds in summary.datasets.items():
        metric = ds.primary(name)
        if gate.max_precision_loss is not None:
            checks.append(_loss_check(name, ds, gate, metric))
        if gate.min_student_pass_at_1 is not None:
            checks.append(_pass_check(name, ds, gate, metric))
        if gate.max_category_increase is not None:
            checks.extend(_category_checks(name, ds, gate))
        if gate.max_fidelity_violation is not None:
            checks.append(_fidelity_check(name, summary.metamorphic(name), gate))
    passed = not any(not c.passed and not c.skipped for c in checks)
    return GateResult(passed, checks, gate)


# ----------------------------------------------------------------------------- output


# ----------------------------------------------------------------------------- eval dirs


def read_summary(eval_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``DIR/summary.json`` of an eval directory; UsageError when it is missing or broken."""
    return EvalDir(eval_dir).read_raw()


def gated(summary: Mapping[str, Any] | records.EvalSummary, gate: GateConfig) -> GateResult:
    """:func:`evaluate_gate`, stamped with the time it was gated."""
    result = evaluate_gate(summary, gate)
    result.evaluated = _now()
    return result


def apply_gate(eval_dir: str | os.PathLike[str], gate_path: str | os.PathLike[str]) -> GateResult:
    """Gate an eval directory: record the verdict in summary.json, then write junit.xml,
    summary.md and report.html. Raises UsageError for a bad gate file or eval directory."""
    config = load_gate(gate_path)
    d = EvalDir(eval_dir)
    result = gated(d.read_raw(), config)
    d.record_gate(result)
    from harness.reporting.report import write_report

    try:
        write_report(d.path)
    except UsageError:
        raise
    except Exception as exc:  # the verdict stands even if the report cannot be drawn
        print(f"warning: could not render {d.report}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return result


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def run_gate_for_eval(eval_dir: str | os.PathLike[str], gate_path: str | os.PathLike[str],
                      out: TextIO | None = None, verbose: bool = False) -> int:
    """Apply a gate and print its outcome; returns the exit code (0 passed, 1 failed).

    UsageError (bad gate file, no summary.json) propagates: the CLI turns it into exit 2.
    """
    result = apply_gate(eval_dir, gate_path)
    stream = out if out is not None else sys.stdout
    stream.write(format_gate_text(result, verbose=verbose))
    d = Path(eval_dir)
    stream.write(f"wrote {d / 'junit.xml'}, {d / 'report.html'} and {d / 'summary.md'}\n")
    stream.flush()
    return result.exit_code
