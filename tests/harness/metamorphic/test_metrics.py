"""Metamorphic metrics against hand-computed values."""

from __future__ import annotations

import pytest

from harness.metamorphic.metrics import (
    FidelityCase,
    cohen_kappa,
    estimate_at_k,
    fidelity_violations,
    flip_rate,
    pass_at_k,
    robust_drop_at_k,
    robust_pass_at_k,
    robust_relative_at_k,
)

T, F = True, False

# Greedy (n = 1), three tasks, two variants each.
NOMINAL = [[T], [T], [F]]
PERTURBED = [
    [[T], [T]],  # robust
    [[T], [F]],  # pass -> fail on one variant
    [[F], [T]],  # fail -> pass on one variant
]


def test_greedy_recode_metrics() -> None:
    assert pass_at_k(NOMINAL) == pytest.approx(2 / 3)
    assert robust_pass_at_k(NOMINAL, PERTURBED) == pytest.approx(1 / 3)
    # (2/3 - 1/3) / (2/3)
    assert robust_drop_at_k(NOMINAL, PERTURBED) == pytest.approx(0.5)
    # task 2 changes pass -> fail, task 3 fail -> pass: (0 + 1 + 1) / 3
    assert robust_relative_at_k(NOMINAL, PERTURBED) == pytest.approx(2 / 3)


def test_sampled_recode_metrics() -> None:
    # One task, n = 4 samples, s = 2 variants.
    nominal = [[T, T, F, F]]
    perturbed = [[[T, F, F, T], [T, T, F, F]]]
    # robust samples: only sample 0 -> rc = 1; RP@1 = 1/4, RP@2 = 1 - C(3,2)/C(4,2) = 1/2
    assert robust_pass_at_k(nominal, perturbed, 1) == pytest.approx(0.25)
    assert robust_pass_at_k(nominal, perturbed, 2) == pytest.approx(0.5)
    # pass@2 = 1 - C(2,2)/C(4,2) = 5/6; RD@2 = (5/6 - 1/2) / (5/6) = 0.4
    assert robust_drop_at_k(nominal, perturbed, 2) == pytest.approx(0.4)
    # worse: sample 1 (passes nominally, fails variant 0) -> 1; better: sample 3 -> 1
    # RR@1 = 1/4 + 1/4
    assert robust_relative_at_k(nominal, perturbed, 1) == pytest.approx(0.5)


def test_estimator_edges() -> None:
    assert estimate_at_k(5, 0, 1) == 0.0
    assert estimate_at_k(5, 5, 3) == 1.0
    assert estimate_at_k(5, 4, 2) == 1.0  # n - c < k
    with pytest.raises(ValueError):
        estimate_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        robust_pass_at_k([[T]], [[[T, F]]])
    assert robust_drop_at_k([[F]], [[[F]]]) == 0.0


def test_flip_rate() -> None:
    assert flip_rate([(T, T), (T, F), (F, T), (F, F)]) == 0.5
    assert flip_rate([(("1", "2"), ("1", "2")), (("1",), ("3",))]) == 0.5
    assert flip_rate([]) == 0.0


def test_cohen_kappa_hand_computed() -> None:
    teacher = [T, T, T, F, F, T, F, T, T, F]
    student = [T, T, F, F, F, T, T, T, F, F]
    # observed 7/10; teacher 6 T/4 F, student 5 T/5 F: expected .6*.5 + .4*.5 = .5
    assert cohen_kappa(teacher, student) == pytest.approx((0.7 - 0.5) / 0.5)
    assert cohen_kappa([T, T], [T, T]) == 1.0
    assert cohen_kappa([T, T], [F, F]) == 0.0
    assert cohen_kappa([T, F], [F, T]) == pytest.approx(-1.0)


def test_fidelity_violations() -> None:
    cases = [
        FidelityCase("A", "r", T, T, T, T),  # agree, agree
        FidelityCase("B", "r", T, T, T, F),  # agree -> disagree: violation
        FidelityCase("C", "r", T, F, T, T),  # source disagrees: not counted
        FidelityCase("D", "s", F, F, T, F),  # violation
        FidelityCase("E", "s", [1, 2], [1, 2], [1, 2], [1, 3]),  # outputs: violation
    ]
    result = fidelity_violations(cases)
    assert (result.cases, result.agreeing_sources, result.violations) == (5, 4, 3)
    assert result.rate == pytest.approx(0.75)
    assert result.violating == (("B", "r"), ("D", "s"), ("E", "s"))
    loose = fidelity_violations(cases, same=lambda a, b: bool(a) == bool(b))
    assert loose.violations == 2
    assert fidelity_violations([]).rate == 0.0


def test_a_student_that_fails_everything_is_not_faithful() -> None:
    """The demo's original student: pass@1 0, teacher solves every source and flips on many
    follow-ups. MetaCompress's agreement-conditioned rate reads 0 (the two never agree on a
    source the teacher solves); over the teacher-solved pairs every pair is a violation."""
    from harness.metamorphic.metrics import MIN_FIDELITY_PAIRS, solved_fidelity

    cases = [FidelityCase(f"T{i}", "r", T, F, i % 6 != 0, F) for i in range(12)]
    assert fidelity_violations(cases).rate == 0.0
    fid = solved_fidelity(cases)
    assert (fid.pairs, fid.violations) == (12, 12)
    assert fid.rate == 1.0
    copy = [FidelityCase(c.task_id, "r", T, T, c.teacher_followup, c.teacher_followup) for c in cases]
    assert solved_fidelity(copy).rate == 0.0
    few = solved_fidelity(cases[: MIN_FIDELITY_PAIRS - 1] + [FidelityCase("X", "r", F, F, T, F)])
    assert fid.measurable and not few.measurable
    assert few.pairs == MIN_FIDELITY_PAIRS - 1 and few.rate is None
