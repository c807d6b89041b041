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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

from harness.errors import UsageError

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
    "eval_hook",
    "evaluate_gate",
    "format_gate_text",
    "load_gate",
    "primary_metric",
    "read_summary",
    "run_gate_for_eval",
    "write_junit",
]

#: McNemar p-value below which a loss counts as significant (``require_significance``).
SIGNIFICANCE_LEVEL = 0.05
#: Slack for comparing floats read back from JSON (1.0 - 0.7 is not exactly 0.3).
_EPS = 1e-9


# ----------------------------------------------------------------------------- config


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
    if not p.exists():
        raise UsageError(f"gate file not found: {p}")
    if not p.is_file():
        raise UsageError(f"gate file is not a file: {p}")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read gate file {p}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p}: malformed TOML: {str(exc).splitlines()[0]}") from None
    return gate_from_mapping(data, str(p))


# ----------------------------------------------------------------------------- checks


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
    passed: bool
    checks: list[GateCheck]
    config: GateConfig = field(default_factory=GateConfig)

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
        return {
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "n_checks": len(self.checks),
            "n_failed": len(self.failed),
            "n_skipped": len(self.skipped),
            "config": self.config.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        checks = [GateCheck.from_dict(c) for c in data.get("checks") or [] if isinstance(c, Mapping)]
        cfg = data.get("config")
        config = GateConfig()
        if isinstance(cfg, Mapping):
            known = {f.name for f in fields(GateConfig)}
            config = GateConfig(**{k: v for k, v in cfg.items() if k in known})
        passed = data.get("passed")
        if not isinstance(passed, bool):
            passed = not any(not c.passed and not c.skipped for c in checks)
        return cls(passed, checks, config)


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def fmt(x: float | None, digits: int = 4) -> str:
    """A gate number for messages: up to ``digits`` decimals, no trailing zeros."""
    if x is None:
        return "n/a"
    if float(x).is_integer():
        return str(int(x))
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def primary_metric(name: str, dataset: Mapping[str, Any]) -> str:
    """``plus`` on the + datasets (or wherever the student has a plus pass@1), else ``base``."""
    if dataset.get("primary_metric") in ("base", "plus"):
        return str(dataset["primary_metric"])
    if name.endswith("+"):
        return "plus"
    student = dataset.get("student")
    p1 = student.get("pass@1") if isinstance(student, Mapping) else None
    if isinstance(p1, Mapping) and _num(p1.get("plus")) is not None:
        return "plus"
    return "base"


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(key)
    return d


def _loss_check(name: str, ds: Mapping[str, Any], cfg: GateConfig, metric: str) -> GateCheck:
    threshold = cfg.max_precision_loss
    assert threshold is not None
    loss = _num(_get(ds, "precision_loss", metric))
    key = "max_precision_loss"
    if loss is None:
        teacher = _num(_get(ds, "teacher", "pass@1", metric))
        why = (f"the teacher's {metric} pass@1 is 0" if teacher == 0.0
               else f"precision_loss.{metric} is missing from summary.json")
        return GateCheck(key, name, None, threshold, False,
                         f"precision loss ({metric}) cannot be checked: {why}", metric=metric)
    over = loss - threshold
    p_value: float | None = None
    if over <= _EPS:
        return GateCheck(key, name, loss, threshold, True,
                         f"precision loss ({metric}) {fmt(loss)} <= {fmt(threshold)}",
                         metric=metric, margin=over)
    if cfg.require_significance:
        p_value = _num(_get(ds, "mcnemar", "p_value"))
        if p_value is not None and p_value >= SIGNIFICANCE_LEVEL:
            return GateCheck(
                key, name, loss, threshold, True,
                f"precision loss ({metric}) {fmt(loss)} exceeds {fmt(threshold)} by {fmt(over)}, "
                f"but is not significant (McNemar p = {fmt(p_value)} >= {SIGNIFICANCE_LEVEL})",
                metric=metric, p_value=p_value, margin=over)
    msg = f"precision loss ({metric}) {fmt(loss)} exceeds the maximum {fmt(threshold)} by {fmt(over)}"
    if cfg.require_significance:
        msg += (f" (McNemar p = {fmt(p_value)} < {SIGNIFICANCE_LEVEL})" if p_value is not None
                else " (no McNemar test in summary.json to excuse it)")
    return GateCheck(key, name, loss, threshold, False, msg, metric=metric, p_value=p_value, margin=over)


def _pass_check(name: str, ds: Mapping[str, Any], cfg: GateConfig, metric: str) -> GateCheck:
    threshold = cfg.min_student_pass_at_1
    assert threshold is not None
    key = "min_student_pass_at_1"
    value = _num(_get(ds, "student", "pass@1", metric))
    if value is None:
        return GateCheck(key, name, None, threshold, False,
                         f"student pass@1 ({metric}) is missing from summary.json", metric=metric)
    short = threshold - value
    if short <= _EPS:
        return GateCheck(key, name, value, threshold, True,
                         f"student pass@1 ({metric}) {fmt(value)} >= {fmt(threshold)}",
                         metric=metric, margin=short)
    return GateCheck(key, name, value, threshold, False,
                     f"student pass@1 ({metric}) {fmt(value)} is below the minimum {fmt(threshold)} "
                     f"by {fmt(short)}", metric=metric, margin=short)


def _category_diff(ds: Mapping[str, Any]) -> dict[str, int] | None:
    tax = ds.get("taxonomy")
    if not isinstance(tax, Mapping):
        return None
    diff = tax.get("diff")
    if isinstance(diff, Mapping):
        return {str(k): int(v) for k, v in diff.items() if _num(v) is not None}
    s, t = _get(tax, "student", "categories"), _get(tax, "teacher", "categories")
    if isinstance(s, Mapping) and isinstance(t, Mapping):
        keys = sorted(set(s) | set(t))
        return {k: int(s.get(k, 0)) - int(t.get(k, 0)) for k in keys}
    return None


def _category_checks(name: str, ds: Mapping[str, Any], cfg: GateConfig) -> list[GateCheck]:
    threshold = cfg.max_category_increase
    assert threshold is not None
    key = "max_category_increase"
    diff = _category_diff(ds)
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


def fidelity_violation_rate(meta: Mapping[str, Any]) -> tuple[float | None, str]:
    """The overall fidelity-violation rate of a metamorphic result and where it came from.

    Looks at ``overall.fidelity_violation_rate``, then a top-level ``fidelity_violation_rate``,
    then the worst relation's.
    """
    for path, where in ((("overall", "fidelity_violation_rate"), "overall"),
                        (("fidelity_violation_rate",), "overall")):
        v = _num(_get(meta, *path))
        if v is not None:
            return v, where
    rel = meta.get("relations")
    relations = rel if isinstance(rel, Mapping) else {k: v for k, v in meta.items() if k != "overall"}
    worst: tuple[float, str] | None = None
    for rname, values in relations.items():
        v = _num(_get(values, "fidelity_violation_rate"))
        if v is not None and (worst is None or v > worst[0]):
            worst = (v, f"worst relation, {rname}")
    return (worst[0], worst[1]) if worst else (None, "")


def fidelity_evidence(meta: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """How many teacher-solved pairs the overall rate rests on and how many it needs (None
    when the results do not say: older or hand-made summaries)."""
    pairs = _num(_get(meta, "overall", "fidelity_pairs"))
    if pairs is None:
        pairs = _num(_get(meta, "fidelity_pairs"))
    needed = _num(_get(meta, "overall", "fidelity_min_pairs"))
    return (None if pairs is None else int(pairs)), (None if needed is None else int(needed))


def dataset_metamorphic(summary: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """A dataset's metamorphic results: ``datasets.<name>.metamorphic``, else a top-level
    ``metamorphic`` block keyed by dataset name (or, with one dataset, the block itself)."""
    meta = _get(summary, "datasets", name, "metamorphic")
    if isinstance(meta, Mapping) and meta:
        return meta
    top = summary.get("metamorphic")
    if not isinstance(top, Mapping) or not top:
        return None
    if isinstance(top.get(name), Mapping):
        return top[name]
    datasets = summary.get("datasets")
    if isinstance(datasets, Mapping) and len(datasets) == 1 and not any(k in datasets for k in top):
        return top
    return None


def _fidelity_check(name: str, meta: Mapping[str, Any] | None, cfg: GateConfig) -> GateCheck:
    threshold = cfg.max_fidelity_violation
    assert threshold is not None
    key = "max_fidelity_violation"
    if not isinstance(meta, Mapping) or not meta:
        return GateCheck(key, name, None, threshold, True,
                         "metamorphic testing did not run (harness eval --metamorphic)",
                         skipped=True)
    value, where = fidelity_violation_rate(meta)
    pairs, needed = fidelity_evidence(meta)
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
                         f"fidelity-violation rate ({where}) {fmt(value)} <= {fmt(threshold)}",
                         margin=over)
    return GateCheck(key, name, value, threshold, False,
                     f"fidelity-violation rate ({where}) {fmt(value)} exceeds the maximum "
                     f"{fmt(threshold)} by {fmt(over)}", margin=over)


def evaluate_gate(summary: Mapping[str, Any], gate: GateConfig) -> GateResult:
    """Check every dataset of an eval ``summary.json`` against ``gate``."""
    datasets = summary.get("datasets") if isinstance(summary, Mapping) else None
    if not isinstance(datasets, Mapping) or not datasets:
        raise UsageError("summary.json has no datasets to gate (is this an eval directory?)")
    checks: list[GateCheck] = []
    for name, ds in datasets.items():
        if not isinstance(ds, Mapping):
            raise UsageError(f"summary.json: datasets.{name} is not an object")
        metric = primary_metric(str(name), ds)
        if gate.max_precision_loss is not None:
            checks.append(_loss_check(str(name), ds, gate, metric))
        if gate.min_student_pass_at_1 is not None:
            checks.append(_pass_check(str(name), ds, gate, metric))
        if gate.max_category_increase is not None:
            checks.extend(_category_checks(str(name), ds, gate))
        if gate.max_fidelity_violation is not None:
            checks.append(_fidelity_check(str(name), dataset_metamorphic(summary, str(name)), gate))
    passed = not any(not c.passed and not c.skipped for c in checks)
    return GateResult(passed, checks, gate)


# ----------------------------------------------------------------------------- output


def format_gate_text(result: GateResult, verbose: bool = False) -> str:
    """What ``harness gate`` prints: the verdict, then every failed and skipped check."""
    n, nf, ns = len(result.checks), len(result.failed), len(result.skipped)
    verdict = "PASSED" if result.passed else "FAILED"
    lines = [f"gate {verdict}: {n - nf - ns} of {n} checks passed, {nf} failed, {ns} skipped"]
    if n == 0:
        lines[0] = "gate PASSED: the gate file configures no checks"
    for c in result.checks:
        if c.skipped:
            lines.append(f"  SKIP {c.label}: {c.message}")
        elif not c.passed:
            lines.append(f"  FAIL {c.label}: {c.message}")
        elif verbose:
            lines.append(f"  ok   {c.label}: {c.message}")
    return "\n".join(lines) + "\n"


def write_junit(result: GateResult, path: str | os.PathLike[str], timestamp: str | None = None) -> Path:
    """``junit.xml``: one test suite per dataset, one test case per check."""
    import xml.etree.ElementTree as ET

    by_ds: dict[str, list[GateCheck]] = {}
    for c in result.checks:
        by_ds.setdefault(c.dataset, []).append(c)
    root = ET.Element("testsuites", {
        "name": "harness gate",
        "tests": str(len(result.checks)),
        "failures": str(len(result.failed)),
        "skipped": str(len(result.skipped)),
        "errors": "0",
        "time": "0",
    })
    for ds, checks in by_ds.items():
        suite = ET.SubElement(root, "testsuite", {
            "name": f"gate.{ds}",
            "tests": str(len(checks)),
            "failures": str(sum(not c.passed and not c.skipped for c in checks)),
            "skipped": str(sum(c.skipped for c in checks)),
            "errors": "0",
            "time": "0",
            **({"timestamp": timestamp} if timestamp else {}),
        })
        if result.config.source:
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", {"name": "gate_file", "value": str(result.config.source)})
        for c in checks:
            case = ET.SubElement(suite, "testcase", {
                "classname": f"gate.{ds}",
                "name": c.name + (f"[{c.category}]" if c.category else ""),
                "time": "0",
            })
            if c.skipped:
                ET.SubElement(case, "skipped", {"message": c.message})
            elif not c.passed:
                fail = ET.SubElement(case, "failure", {"message": c.message, "type": "GateCheckFailed"})
                fail.text = (f"{c.label}\nvalue: {fmt(c.value)}\nthreshold: {fmt(c.threshold)}\n"
                             f"{c.message}\n")
            else:
                ET.SubElement(case, "system-out").text = c.message
    ET.indent(root)
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
    os.replace(tmp, out)
    return out


# ----------------------------------------------------------------------------- eval dirs


def read_summary(eval_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``DIR/summary.json`` of an eval directory; UsageError when it is missing or broken."""
    d = Path(eval_dir)
    if not d.is_dir():
        raise UsageError(f"eval directory not found: {d}")
    path = d / "summary.json"
    if not path.is_file():
        raise UsageError(f"{d} has no summary.json (run harness eval --out {d} first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: malformed JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object")
    return data


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def apply_gate(eval_dir: str | os.PathLike[str], gate_path: str | os.PathLike[str]) -> GateResult:
    """Gate an eval directory: record the verdict in summary.json, write junit.xml, re-render
    report.html and summary.md. Raises UsageError for a bad gate file or eval directory."""
    config = load_gate(gate_path)
    d = Path(eval_dir)
    summary = read_summary(d)
    result = evaluate_gate(summary, config)
    evaluated = _now()
    summary["gate"] = result.to_dict() | {"evaluated": evaluated}
    _write_json(d / "summary.json", summary)
    write_junit(result, d / "junit.xml", timestamp=evaluated)
    try:
        from harness.report import write_report

        write_report(d)
    except UsageError:
        raise
    except Exception as exc:  # the verdict stands even if the report cannot be drawn
        print(f"warning: could not render {d / 'report.html'}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
    return result


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def eval_hook(config: Any, result: Any) -> None:
    """``harness eval --gate FILE`` (the seam of :mod:`harness.evaluate`): gate the fresh
    summary in place and write junit.xml; the eval then rewrites summary.json, renders the
    report, prints the gate's verdict after its results table (render_console) and exits 1
    when ``summary["gate"]["passed"]`` is false."""
    gate = load_gate(config.gate)
    gate_result = evaluate_gate(result.summary, gate)
    evaluated = _now()
    result.summary["gate"] = gate_result.to_dict() | {"evaluated": evaluated}
    write_junit(gate_result, Path(result.out) / "junit.xml", timestamp=evaluated)


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
