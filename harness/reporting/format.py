"""How numbers read, in every output: the terminal, report.html, summary.md, gate messages and junit.xml.

Fractions (pass@1, precision loss, fidelity-violation rates, gate thresholds) read as percentages
with one decimal, differences of fractions as percentage points, p-values with three decimals
(``< 0.001`` below that), counts as integers.
"""

from __future__ import annotations

from typing import Any

from harness.results.records import GateResult, interval, num


def pct(x: Any, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.25`` -> ``25.0%``."""
    v = num(x)
    return "n/a" if v is None else f"{100 * v:.{digits}f}%"


def pct_interval(x: Any, digits: int = 1) -> str:
    """An interval of fractions in percent: ``[8.3, 41.7]``."""
    iv = interval(x)
    return "" if iv is None else f"[{100 * iv[0]:.{digits}f}, {100 * iv[1]:.{digits}f}]"


def p_value(x: Any) -> str:
    v = num(x)
    if v is None:
        return "n/a"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def number(x: Any, digits: int = 3) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    v = num(x)
    if v is None:
        return "n/a" if x is None else str(x)
    return f"{v:.{digits}f}"


def signed(n: Any) -> str:
    if isinstance(n, int) and not isinstance(n, bool):
        return f"{n:+d}" if n else "0"
    return number(n)


def points(x: float | None) -> str:
    """A difference of two fractions in percentage points: ``0.15`` -> ``15.0 points``."""
    if x is None:
        return "n/a"
    text = f"{100 * x:.1f}"
    if text in ("0.0", "-0.0") and x:
        text = f"{100 * x:.2g}"  # a miss too small for one decimal still shows
    return f"{text} points"


def check_value(name: str, x: Any) -> str:
    """A gate check's value or threshold as the page shows it: a count for
    ``max_category_increase``, a percentage for the others."""
    if name == "max_category_increase" and num(x) is not None:
        return str(int(num(x) or 0))
    return pct(x)


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
