"""Statistics for comparing a student with its teacher on the same tasks.

Everything here is a pure function of per-task numbers, so that the numbers in ``summary.json``
can be recomputed (and checked) from ``results.jsonl`` alone.

Why these choices:

* **Per-task pass rates, not per-sample verdicts.** Samples of one task are not independent
  (they share the prompt and its difficulty), so the unit of resampling and of the paired test
  is the task; a task's pass@1 estimate is the fraction of its samples that pass.
* **Paired bootstrap.** Student and teacher answer the *same* tasks, and their successes are
  strongly correlated (easy tasks are easy for both). Resampling tasks jointly keeps that
  correlation, which makes the interval of the precision loss far narrower (and honest) compared
  with resampling each model on its own.
* **Percentile interval, fixed seed.** The percentile interval needs no assumption about the
  shape of the distribution and stays inside the statistic's range; the fixed seed makes every
  report reproducible byte for byte.
* **Exact McNemar test.** With a few hundred tasks the number of discordant tasks is often
  small, where the chi-square approximation is poor; the exact binomial test on the discordant
  pairs is valid at any size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from harness.analysis.metrics import precision_loss

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "PairedBootstrap",
    "bootstrap_ci",
    "bootstrap_indices",
    "mcnemar_exact",
    "mean_precision_loss",
    "paired_bootstrap",
    "per_task_rates",
    "precision_loss",
    "task_outcomes",
    "task_transitions",
]

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95

Interval = tuple[float, float]


# ----------------------------------------------------------------------------- per-task rates


def per_task_rates(
    rows: Iterable[Mapping[str, object]], key: str, task_ids: Sequence[str] | None = None
) -> dict[str, float]:
    """Fraction of each task's samples whose ``key`` verdict is true (the task's pass@1 estimate).

    ``task_ids`` fixes the order and the set (a task without rows raises KeyError: a paired
    comparison must not silently drop tasks); without it, tasks appear in first-seen order.
    """
    counts: dict[str, list[int]] = {}
    for row in rows:
        n_c = counts.setdefault(str(row["task_id"]), [0, 0])
        n_c[0] += 1
        n_c[1] += bool(row.get(key))
    order = list(task_ids) if task_ids is not None else list(counts)
    return {t: counts[t][1] / counts[t][0] for t in order}


def task_outcomes(rates: Sequence[float] | ArrayLike, threshold: float = 0.5) -> NDArray[np.bool_]:
    """A task counts as solved when its pass@1 estimate is at least ``threshold``: with one sample
    that is its verdict, with several the majority (ties count as solved)."""
    return np.asarray(rates, dtype=float) >= threshold


def task_transitions(
    teacher: Mapping[str, float], student: Mapping[str, float], threshold: float = 0.5
) -> tuple[list[str], list[str]]:
    """``(regressed, gained)`` task ids: solved by the teacher but not the student, and the
    reverse, in the teacher mapping's order. Only tasks present in both are compared."""
    regressed: list[str] = []
    gained: list[str] = []
    for tid, t_rate in teacher.items():
        if tid not in student:
            continue
        t_ok, s_ok = t_rate >= threshold, student[tid] >= threshold
        if t_ok and not s_ok:
            regressed.append(tid)
        elif s_ok and not t_ok:
            gained.append(tid)
    return regressed, gained


# ----------------------------------------------------------------------------- McNemar


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts.

    ``b``: tasks only the teacher solves; ``c``: tasks only the student solves. Under the null
    hypothesis (both models equally good) each discordant task is a fair coin, so the p-value is
    the two-sided binomial test of ``b`` successes in ``b + c`` trials at 0.5. No discordant
    task means no evidence of a difference: p = 1.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0 (got b={b}, c={c})")
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(int(b), int(b + c), 0.5, alternative="two-sided").pvalue)


# ----------------------------------------------------------------------------- bootstrap


def bootstrap_indices(n: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> NDArray[np.intp]:
    """``n_resamples`` x ``n`` task indices drawn with replacement from a fixed-seed generator.

    Drawing the indices once and applying them to every per-task array is what makes the
    bootstrap paired: each resample is one alternative benchmark, seen by both models.
    """
    if n < 1:
        raise ValueError("bootstrap needs at least one task")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_resamples, n))


def _percentile(values: NDArray[np.float64], confidence: float) -> Interval:
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.percentile(values, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(lo), float(hi)


def bootstrap_ci(
    values: Sequence[float] | ArrayLike,
    statistic: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
    indices: NDArray[np.intp] | None = None,
) -> Interval:
    """Percentile bootstrap interval of ``statistic`` (default: the mean) over tasks.

    ``statistic`` receives a (resamples x tasks) array and returns one value per row. Pass
    ``indices`` from :func:`bootstrap_indices` to pair this interval with others.
    """
    data = np.asarray(values, dtype=float)
    if indices is None:
        indices = bootstrap_indices(len(data), n_resamples, seed)
    stat = statistic or (lambda a: a.mean(axis=1))
    return _percentile(np.asarray(stat(data[indices]), dtype=float), confidence)


@dataclass(frozen=True)
class PairedBootstrap:
    """Intervals from one set of paired task resamples."""

    student: Interval  # student's pass@1
    teacher: Interval  # teacher's pass@1
    precision_loss: Interval | None  # None when no resample has a teacher score above 0
    n_resamples: int
    confidence: float
    #: Resamples where the teacher scored 0 (precision loss undefined); left out of its interval.
    n_undefined: int


def paired_bootstrap(
    student: Sequence[float] | ArrayLike,
    teacher: Sequence[float] | ArrayLike,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> PairedBootstrap:
    """Percentile intervals of each model's pass@1 and of the precision loss
    ``(teacher - student) / teacher``, from the same resamples of tasks.

    ``student[i]`` and ``teacher[i]`` are the two models' pass@1 estimates on task ``i``. The
    precision loss is a ratio of means (the same statistic as the point estimate), computed
    per resample; resamples where the teacher's mean is 0 have no defined loss and are left
    out (their count is returned), which conditions the interval on the teacher solving
    something, exactly as the point estimate is.
    """
    s = np.asarray(student, dtype=float)
    t = np.asarray(teacher, dtype=float)
    if s.shape != t.shape or s.ndim != 1:
        raise ValueError(f"paired samples need equal 1-d shapes (got {s.shape} and {t.shape})")
    idx = bootstrap_indices(len(s), n_resamples, seed)
    s_means = s[idx].mean(axis=1)
    t_means = t[idx].mean(axis=1)
    defined = t_means > 0
    loss: Interval | None = None
    if defined.any():
        losses = (t_means[defined] - s_means[defined]) / t_means[defined]
        loss = _percentile(losses, confidence)
    return PairedBootstrap(
        student=_percentile(s_means, confidence),
        teacher=_percentile(t_means, confidence),
        precision_loss=loss,
        n_resamples=n_resamples,
        confidence=confidence,
        n_undefined=int((~defined).sum()),
    )


# ----------------------------------------------------------------------------- aggregation


def mean_precision_loss(losses: Iterable[float | None]) -> float | None:
    """Unweighted mean of the per-dataset precision losses that are defined (None if none is).

    Unweighted because each benchmark is one view of the model; weighting by task count would
    let MBPP+ (399 tasks) drown HumanEval+ (164).
    """
    defined = [float(x) for x in losses if x is not None]
    return float(np.mean(defined)) if defined else None
