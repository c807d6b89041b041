"""Statistics: unbiased pass@k (Chen et al. 2021), precision loss, bootstrap, McNemar."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STANDARD_KS = (1, 2, 5, 10, 20, 25, 50, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimator 1 - C(n-c, k) / C(n, k), as a stable product."""
    if n < k:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """Mean over tasks of pass@k, from (n, c) per task."""
    if not counts:
        return 0.0
    return float(np.mean([pass_at_k(n, c, k) for n, c in counts]))


def supported_ks(counts: Sequence[tuple[int, int]]) -> list[int]:
    """The ks every task supports (k <= its number of samples)."""
    if not counts:
        return []
    n_min = min(n for n, _ in counts)
    ks = [k for k in STANDARD_KS if k <= n_min]
    if n_min not in ks and n_min > 0:
        ks.append(n_min)
    return ks


def precision_loss(teacher: float, student: float) -> float | None:
    """(teacher - student) / teacher; None when the teacher solves nothing."""
    if teacher == 0:
        return None
    return (teacher - student) / teacher
