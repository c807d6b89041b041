"""harness.analysis.stats against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness.analysis.compare import dataset_summary
from harness.analysis.stats import (
    bootstrap_ci,
    bootstrap_indices,
    mcnemar_exact,
    mean_precision_loss,
    paired_bootstrap,
    per_task_rates,
    precision_loss,
    task_outcomes,
    task_transitions,
)
from harness.data.datasets import Dataset


def test_precision_loss_hand_computed() -> None:
    assert precision_loss(0.5, 0.4) == pytest.approx(0.2)
    assert precision_loss(0.8, 0.8) == 0.0
    assert precision_loss(0.25, 0.5) == pytest.approx(-1.0)  # a student may beat its teacher
    assert precision_loss(0.0, 0.3) is None


def test_mean_precision_loss_skips_undefined() -> None:
    assert mean_precision_loss([0.2, None, 0.4]) == pytest.approx(0.3)
    assert mean_precision_loss([None, None]) is None
    assert mean_precision_loss([]) is None


def test_mcnemar_matches_binomtest() -> None:
    assert mcnemar_exact(3, 10) == pytest.approx(sps.binomtest(3, 13, 0.5).pvalue)
    assert mcnemar_exact(10, 3) == pytest.approx(mcnemar_exact(3, 10))  # symmetric
    # hand: P(X <= 0) + P(X >= 5) for Bin(5, 1/2) = 2 / 32
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(4, 4) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_task_outcomes_majority() -> None:
    assert task_outcomes([0.0, 0.4, 0.5, 2 / 3, 1.0]).tolist() == [False, False, True, True, True]


def test_transitions_and_rates() -> None:
    rows = [
        {"task_id": "T/0", "passed": True}, {"task_id": "T/0", "passed": False},
        {"task_id": "T/0", "passed": False}, {"task_id": "T/1", "passed": True},
    ]
    assert per_task_rates(rows, "passed") == {"T/0": pytest.approx(1 / 3), "T/1": 1.0}
    with pytest.raises(KeyError):
        per_task_rates(rows, "passed", ["T/0", "T/9"])
    teacher = {"a": 1.0, "b": 1.0, "c": 0.0, "d": 0.0}
    student = {"a": 1.0, "b": 0.0, "c": 1.0, "d": 0.0}
    assert task_transitions(teacher, student) == (["b"], ["c"])


def test_bootstrap_constant_tasks_give_zero_width() -> None:
    lo, hi = bootstrap_ci([0.5] * 20)
    assert lo == hi == 0.5
    boot = paired_bootstrap([0.5] * 10, [1.0] * 10)
    assert boot.student == (0.5, 0.5) and boot.teacher == (1.0, 1.0)
    assert boot.precision_loss == (0.5, 0.5)
    assert boot.n_undefined == 0


def test_bootstrap_is_reproducible_and_paired() -> None:
    rng = np.random.default_rng(1)
    s = rng.random(30)
    assert paired_bootstrap(s, s) == paired_bootstrap(s, s)
    # identical models: every resample has zero loss, whatever the spread of the tasks
    assert paired_bootstrap(s, s).precision_loss == (0.0, 0.0)
    idx = bootstrap_indices(30, 2000, 0)
    assert idx.shape == (2000, 30) and idx.min() >= 0 and idx.max() < 30


def test_bootstrap_matches_scipy_percentile_interval() -> None:
    rng = np.random.default_rng(7)
    data = (rng.random(80) < 0.4).astype(float)
    ours = bootstrap_ci(data, n_resamples=2000, seed=3)
    ref = sps.bootstrap((data,), np.mean, n_resamples=2000, method="percentile",
                        confidence_level=0.95, random_state=np.random.default_rng(3)).confidence_interval
    # different resamples, same distribution: agree to Monte Carlo error
    assert ours[0] == pytest.approx(ref.low, abs=0.03)
    assert ours[1] == pytest.approx(ref.high, abs=0.03)
    assert ours[0] < data.mean() < ours[1]


def test_paired_loss_interval_matches_scipy_paired() -> None:
    rng = np.random.default_rng(11)
    teacher = (rng.random(60) < 0.6).astype(float)
    student = teacher * (rng.random(60) < 0.8)  # drops some of the teacher's tasks
    boot = paired_bootstrap(student, teacher, n_resamples=2000, seed=5)

    def loss(s: np.ndarray, t: np.ndarray, axis: int = -1) -> np.ndarray:
        return (t.mean(axis=axis) - s.mean(axis=axis)) / t.mean(axis=axis)

    ref = sps.bootstrap((student, teacher), loss, paired=True, vectorized=True, n_resamples=2000,
                        method="percentile", random_state=np.random.default_rng(5)).confidence_interval
    assert boot.precision_loss is not None
    assert boot.precision_loss[0] == pytest.approx(ref.low, abs=0.04)
    assert boot.precision_loss[1] == pytest.approx(ref.high, abs=0.04)
    point = precision_loss(teacher.mean(), student.mean())
    assert point is not None and boot.precision_loss[0] <= point <= boot.precision_loss[1]


def test_paired_bootstrap_teacher_zero() -> None:
    boot = paired_bootstrap([0.0, 1.0], [0.0, 0.0])
    assert boot.precision_loss is None and boot.n_undefined == 2000


def _rows(outcomes: dict[str, list[tuple[bool, bool]]]) -> list[dict[str, object]]:
    return [
        {"task_id": t, "sample_index": i, "passed": b and p, "base_passed": b, "plus_passed": p,
         "category": None if b and p else "AssertionError:wrong_answer", "complete": True}
        for t, samples in outcomes.items() for i, (b, p) in enumerate(samples)
    ]


def test_dataset_summary_hand_computed() -> None:
    """4 tasks x 2 samples: pass@1, precision loss, McNemar and transitions by hand."""
    ds = Dataset("humaneval+", {}, "v-test", "0" * 64)
    ids = ["T/0", "T/1", "T/2", "T/3"]
    ok, base_only, bad = (True, True), (True, False), (False, False)
    teacher = _rows({"T/0": [ok, ok], "T/1": [ok, ok], "T/2": [ok, bad], "T/3": [bad, bad]})
    student = _rows({"T/0": [ok, ok], "T/1": [base_only, bad], "T/2": [bad, bad], "T/3": [ok, ok]})
    d = dataset_summary(ds, ids, student, teacher)
    # teacher plus: (1 + 1 + .5 + 0) / 4; student plus: (1 + 0 + 0 + 1) / 4
    assert d["teacher"]["pass@1"] == {"base": pytest.approx(0.625), "plus": pytest.approx(0.625)}
    assert d["student"]["pass@1"] == {"base": pytest.approx(0.625), "plus": pytest.approx(0.5)}
    assert d["precision_loss"]["plus"] == pytest.approx((0.625 - 0.5) / 0.625)
    assert d["precision_loss"]["base"] == pytest.approx(0.0)
    assert d["student"]["pass@k"]["pass@2"]["plus"] == pytest.approx(0.5)
    assert d["teacher"]["pass@k"]["pass@2"]["plus"] == pytest.approx(0.75)
    # plus outcomes (>= .5): teacher T0 T1 T2; student T0 T3
    assert d["regressed"] == ["T/1", "T/2"] and d["gained"] == ["T/3"]
    assert d["mcnemar"] == {"metric": "plus", "b": 2, "c": 1,
                            "p_value": pytest.approx(sps.binomtest(2, 3, 0.5).pvalue)}
    for role in ("student", "teacher"):
        for m in ("base", "plus"):
            lo, hi = d[role]["pass@1_ci"][m]
            assert lo <= d[role]["pass@1"][m] <= hi
    assert d["taxonomy"]["diff"] == {"AssertionError:wrong_answer": 4 - 3}
    assert math.isclose(d["n_tasks"], 4)


def test_dataset_summary_without_plus() -> None:
    ds = Dataset("mbpp", {}, "v", "0" * 64)
    teacher = _rows({"M/1": [(True, True)], "M/2": [(False, False)]})
    student = _rows({"M/1": [(False, False)], "M/2": [(False, False)]})
    for r in teacher + student:
        r["plus_passed"] = None
    d = dataset_summary(ds, ["M/1", "M/2"], student, teacher)
    assert d["mcnemar"]["metric"] == "base" and d["primary_metric"] == "base"
    assert d["student"]["pass@1"]["plus"] is None and d["student"]["pass@1_ci"]["plus"] is None
    assert d["precision_loss"] == {"base": 1.0, "plus": None}
    assert d["precision_loss_ci"]["plus"] is None
    assert d["regressed"] == ["M/1"]
