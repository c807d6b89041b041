"""How numbers read, in every output: the terminal, report.html, summary.md, gate messages and junit.xml."""

from __future__ import annotations

from typing import Any

from harness.records import GateResult, interval, num


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


def fmt(x: float | None, digits: int = 4) -> str:
    """A gate number for messages: up to ``digits`` decimals, no trailing zeros."""
    if x is None:
        return "n/a"
    if float(x).is_integer():
        return str(int(x))
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


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
