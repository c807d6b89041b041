"""Output comparison, outside the process that ran the candidate.

Mirrors evalplus 0.3.1's ``unsafe_execute`` comparison (exact equality, float atol/rtol, the
special oracles of MBPP+ and HumanEval/32) on values decoded from the sandbox's plain-data
encoding: a candidate-defined object never reaches ``==`` (it decodes to an ``Opaque`` that is
equal to nothing), which is the strict type check on top of evalplus.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from evalplus.eval._special_oracle import (
    MBPP_OUTPUT_NOT_NONE_TASKS,
    MBPP_OUTPUT_SET_EQ_TASKS,
    _digit_distance_nums,
    _poly,
    _surface_Area,
)

from sandbox.runner import Opaque, decode


def is_floats(x: Any) -> bool:
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False


class NotNone:
    """Encoded ``out is not None`` for MBPP+'s not-none tasks (their outputs are match objects)."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value


def decode_output(raw: Any) -> Any:
    if isinstance(raw, dict) and len(raw) == 1 and "$nn" in raw:
        return NotNone(bool(raw["$nn"]))
    return decode(raw)


def decode_raw(raw: bytes) -> Any:
    """An output as the runner sent it (encoded JSON bytes); malformed bytes equal nothing."""
    try:
        return decode_output(json.loads(raw))
    except Exception:  # ValueError, RecursionError, TypeError from a forged encoding
        return Opaque("malformed output")


_MBPP_SPECIAL = frozenset(MBPP_OUTPUT_NOT_NONE_TASKS) | frozenset(MBPP_OUTPUT_SET_EQ_TASKS) | {
    "are_equivalent", "sum_div", "surface_Area", "digit_distance_nums"}


class EvalplusComparator:
    """Stateful per sample, like evalplus: a float expectation tightens ``atol`` for later inputs."""

    def __init__(self, family: str, entry_point: str, atol: float) -> None:
        self.family = family
        self.entry_point = entry_point
        self.atol = atol
        self.special = (entry_point == "find_zero" if family == "humaneval"
                        else family == "mbpp" and entry_point in _MBPP_SPECIAL)

    def identical(self, exp_floats: bool) -> bool:
        """An output byte-identical to a plain expectation: a pass, with evalplus's bookkeeping."""
        if self.special:
            raise ValueError("special oracles compare decoded values")
        if self.atol == 0 and exp_floats:
            self.atol = 1e-6
        return True

    def __call__(self, out: Any, exp: Any, inp: list[Any], exp_floats: bool | None = None) -> bool:
        """``exp_floats``: evalplus's ``is_floats`` of the expectation, when known from the reference run."""
        try:
            return self._compare(out, exp, inp, exp_floats)
        except Exception:
            return False

    def _compare(self, out: Any, exp: Any, inp: list[Any], exp_floats: bool | None = None) -> bool:
        if isinstance(out, Opaque):
            return False
        entry = self.entry_point
        if isinstance(exp, NotNone):
            exp = exp.value
        if self.family == "mbpp" and entry in MBPP_OUTPUT_NOT_NONE_TASKS:
            if isinstance(out, NotNone):
                return bool(exp == out.value)
            return bool(isinstance(out, bool) and out == exp)
        if isinstance(out, NotNone):
            return False
        exact_match = out == exp
        if self.family == "mbpp":
            if entry == "are_equivalent":  # Mbpp/164
                exact_match = True
            elif entry == "sum_div":  # Mbpp/295
                exact_match = exact_match or out == 0
            elif entry == "surface_Area":  # Mbpp/581
                exact_match = exact_match or abs(out - _surface_Area(*inp)) <= self.atol
            elif entry == "digit_distance_nums":  # Mbpp/558
                exact_match = exact_match or out == _digit_distance_nums(*inp)
            elif entry in MBPP_OUTPUT_SET_EQ_TASKS:
                exact_match = set(out) == set(exp)
        if self.family == "humaneval" and entry == "find_zero":
            return bool(abs(_poly(*inp, out)) <= self.atol)
        if self.atol == 0 and (is_floats(exp) if exp_floats is None else exp_floats):
            self.atol = 1e-6
        if not exact_match and self.atol != 0:
            if type(out) is not type(exp):
                return False
            if isinstance(exp, (list, tuple)) and len(out) != len(exp):
                return False
            return bool(np.allclose(out, exp, rtol=1e-07, atol=self.atol))
        return bool(exact_match)


def compare_assert(op: str, out: Any, expected: Any) -> bool:
    """Assert-derived tests: the operator the original assert used."""
    try:
        if isinstance(out, (Opaque, NotNone)):
            return False
        if op == "eq":
            return bool(out == expected)
        if op == "is_true":
            return out is True
        if op == "is_false":
            return out is False
        if op == "truthy":
            return bool(out)
        if op == "falsy":
            return not out
    except Exception:
        return False
    raise ValueError(f"unknown assert op {op!r}")
