"""Robustness and fidelity metrics over per-(task, relation) results: pure functions, no I/O.

* ReCode (Wang et al. 2022): Robust Pass ``RP_s@k``, Robust Drop ``RD_s@k`` and Robust
  Relative ``RR_s@k`` over ``n`` samples on the nominal prompt and on ``s`` perturbed variants
  (sample ``i`` of a variant is paired with sample ``i`` of the nominal prompt).
* Flip rate: how often a verdict changes between the base and the transformed prompt.
* Cohen's kappa: teacher-student agreement on verdicts beyond chance.
* Fidelity violation over teacher-solved pairs (what the harness reports and gates): of the
  pairs whose source prompt the teacher solves, the share where the student's verdict differs
  from the teacher's on the source or on the follow-up. A student that fails everything
  violates every such pair; a rate resting on fewer than ``MIN_FIDELITY_PAIRS`` teacher-solved
  pairs is not measured (None), never 0.
* MetaCompress (Awal et al. 2025) fidelity violation: teacher and student agree on the
  source prompt but disagree on its behaviour-preserving follow-up (``agreement_violation_rate``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from math import comb
from typing import Any


def estimate_at_k(n: int, c: int, k: int) -> float:
    """Unbiased ``1 - C(n - c, k) / C(n, k)``: chance that k of n samples include one of c."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def _check(nominal: Sequence[Sequence[bool]], perturbed: Sequence[Sequence[Sequence[bool]]]) -> None:
    if len(nominal) != len(perturbed):
        raise ValueError("nominal and perturbed cover different numbers of tasks")
    for nom, variants in zip(nominal, perturbed, strict=True):
        if not variants:
            raise ValueError("a task has no perturbed variant")
        if any(len(v) != len(nom) for v in variants):
            raise ValueError("variants must have as many samples as the nominal prompt")


def pass_at_k(nominal: Sequence[Sequence[bool]], k: int = 1) -> float:
    """Nominal pass@k averaged over tasks (``nominal[t][i]``: sample i of task t passed)."""
    if not nominal:
        return 0.0
    return sum(estimate_at_k(len(s), sum(s), k) for s in nominal) / len(nominal)


def robust_pass_at_k(
    nominal: Sequence[Sequence[bool]], perturbed: Sequence[Sequence[Sequence[bool]]], k: int = 1
) -> float:
    """RP_s@k: a sample counts when it passes on every one of the task's s variants
    (``perturbed[t][j][i]``: sample i on variant j of task t)."""
    _check(nominal, perturbed)
    if not nominal:
        return 0.0
    total = 0.0
    for nom, variants in zip(nominal, perturbed, strict=True):
        robust = sum(all(v[i] for v in variants) for i in range(len(nom)))
        total += estimate_at_k(len(nom), robust, k)
    return total / len(nominal)


def robust_drop_at_k(
    nominal: Sequence[Sequence[bool]], perturbed: Sequence[Sequence[Sequence[bool]]], k: int = 1
) -> float:
    """RD_s@k = (pass@k - RP_s@k) / pass@k; 0 when nothing passes nominally."""
    nominal_pass = pass_at_k(nominal, k)
    if nominal_pass == 0:
        return 0.0
    return (nominal_pass - robust_pass_at_k(nominal, perturbed, k)) / nominal_pass


def robust_relative_at_k(
    nominal: Sequence[Sequence[bool]], perturbed: Sequence[Sequence[Sequence[bool]]], k: int = 1
) -> float:
    """RR_s@k: changes in both directions, pass -> fail on some variant plus fail -> pass on
    some variant (ReCode's rc-minus and rc-plus counts)."""
    _check(nominal, perturbed)
    if not nominal:
        return 0.0
    total = 0.0
    for nom, variants in zip(nominal, perturbed, strict=True):
        n = len(nom)
        worse = sum(nom[i] and not all(v[i] for v in variants) for i in range(n))
        better = sum((not nom[i]) and any(v[i] for v in variants) for i in range(n))
        total += estimate_at_k(n, worse, k) + estimate_at_k(n, better, k)
    return total / len(nominal)


def flip_rate(pairs: Iterable[tuple[Any, Any]]) -> float:
    """Share of (base, transformed) verdicts or outputs that differ; 0 for no pairs."""
    items = list(pairs)
    if not items:
        return 0.0
    return sum(a != b for a, b in items) / len(items)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa between two raters' labels (e.g. teacher and student pass/fail).

    Degenerate case: when chance agreement is 1 (both always give the same single label),
    kappa is 1.0 for perfect agreement and 0.0 otherwise.
    """
    if len(a) != len(b):
        raise ValueError("raters labelled different numbers of items")
    n = len(a)
    if n == 0:
        return 0.0
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[label] * cb[label] for label in ca.keys() | cb.keys()) / (n * n)
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class FidelityCase:
    """Teacher and student outcomes (verdicts or output vectors) on a source prompt and on its
    transformed follow-up, for one valid (task, relation) pair."""

    task_id: str
    relation: str
    teacher_source: Any
    student_source: Any
    teacher_followup: Any
    student_followup: Any


@dataclass(frozen=True)
class FidelityResult:
    """``rate`` = violations / cases whose source outcomes agree (0 when none agree)."""

    cases: int
    agreeing_sources: int
    violations: int
    violating: tuple[tuple[str, str], ...]

    @property
    def rate(self) -> float:
        return self.violations / self.agreeing_sources if self.agreeing_sources else 0.0


MIN_FIDELITY_PAIRS = 10
"""Teacher-solved pairs a fidelity-violation rate needs before it is reported (and can pass a gate)."""

FIDELITY_DEFINITION = (
    "the share of teacher-solved pairs (the teacher passes the source prompt) where the student's "
    "verdict differs from the teacher's on the source prompt or on its transformed follow-up; "
    f"not measured below {MIN_FIDELITY_PAIRS} teacher-solved pairs"
)


@dataclass(frozen=True)
class SolvedFidelity:
    """Fidelity over the teacher-solved pairs; ``rate`` is None below ``min_pairs`` of them."""

    cases: int
    pairs: int  # teacher-solved pairs: what the rate rests on
    violations: int
    violating: tuple[tuple[str, str], ...]
    min_pairs: int = MIN_FIDELITY_PAIRS

    @property
    def measurable(self) -> bool:
        return self.pairs >= self.min_pairs

    @property
    def rate(self) -> float | None:
        return self.violations / self.pairs if self.measurable and self.pairs else None


def solved_fidelity(cases: Iterable[FidelityCase], min_pairs: int = MIN_FIDELITY_PAIRS) -> SolvedFidelity:
    """Fidelity violations over the pairs whose source prompt the teacher solves (verdicts:
    ``teacher_source`` is True). A pair violates when the student's verdict differs from the
    teacher's on the source or on the follow-up, so failing everything cannot look faithful."""
    total = 0
    pairs = 0
    violating: list[tuple[str, str]] = []
    for case in cases:
        total += 1
        if case.teacher_source is not True:
            continue
        pairs += 1
        if case.student_source != case.teacher_source or case.student_followup != case.teacher_followup:
            violating.append((case.task_id, case.relation))
    return SolvedFidelity(total, pairs, len(violating), tuple(violating), min_pairs)


def fidelity_violations(
    cases: Iterable[FidelityCase], same: Callable[[Any, Any], bool] | None = None
) -> FidelityResult:
    """MetaCompress fidelity: a violation is a case where teacher and student agree on the
    source but not on the follow-up. ``same`` compares outcomes (default ``==``)."""
    eq = same or (lambda x, y: x == y)
    total = agreeing = 0
    violating: list[tuple[str, str]] = []
    for case in cases:
        total += 1
        if not eq(case.teacher_source, case.student_source):
            continue
        agreeing += 1
        if not eq(case.teacher_followup, case.student_followup):
            violating.append((case.task_id, case.relation))
    return FidelityResult(total, agreeing, len(violating), tuple(violating))
