"""Property tests: every relation keeps the canonical program's outputs on the dataset's base
inputs, for random seeds and tasks of HumanEval+ and MBPP+, and is deterministic per seed.

Programs run through the ``run_outputs`` seam (conftest: a subprocess runner; the harness can
route it through its sandbox).
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.metamorphic import REGISTRY, RunOutputs, SimpleTask, full_program
from harness.metamorphic._cst import analyse

from .conftest import sample

SETTINGS = settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_BASELINE: dict[str, list[object] | None] = {}


def _baseline(task: SimpleTask, run_outputs: RunOutputs) -> list[object] | None:
    if task.task_id not in _BASELINE:
        [_BASELINE[task.task_id]] = run_outputs(
            [(task.task_id, full_program(task), task.entry_point)]
        )
    return _BASELINE[task.task_id]


@cache
def _applicable(relation: str, dataset: str) -> tuple[SimpleTask, ...]:
    """Sample tasks the relation applies to (with seed 0; other seeds may still decline)."""
    return tuple(t for t in sample(dataset) if REGISTRY[relation].apply(t, 0) is not None)


@pytest.mark.parametrize("dataset", ["humaneval+", "mbpp+"])
@pytest.mark.parametrize("relation", sorted(REGISTRY))
def test_transformed_program_keeps_outputs(
    relation: str, dataset: str, run_outputs: RunOutputs
) -> None:
    tasks = _applicable(relation, dataset)
    if not tasks:
        pytest.skip(f"{relation} applies to no sampled {dataset} task")
    rel = REGISTRY[relation]

    @SETTINGS
    @given(seed=st.integers(0, 2**31 - 1), index=st.integers(0, len(tasks) - 1))
    def check(seed: int, index: int) -> None:
        task = tasks[index]
        t = rel.apply(task, seed)
        if t is None:
            return
        base = _baseline(task, run_outputs)
        assert base is not None, f"original {task.task_id} failed to run"
        [outs] = run_outputs([(t.task_id, t.program, t.entry_point)])
        assert outs == base, f"{relation} changed {task.task_id} (seed {seed}):\n{t.program}"

    check()


@pytest.mark.parametrize("relation", sorted(REGISTRY))
@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), index=st.integers(0, 9))
def test_same_seed_same_output(relation: str, seed: int, index: int) -> None:
    tasks = sample("humaneval+") + sample("mbpp+")
    task = tasks[index * 3 % len(tasks)]
    first = REGISTRY[relation].apply(task, seed)
    analyse.cache_clear()  # no state may leak between applications
    second = REGISTRY[relation].apply(task, seed)
    assert first == second
