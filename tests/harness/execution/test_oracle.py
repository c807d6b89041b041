"""The byte-identity fast path never changes a verdict: ``judge`` on encoded outputs agrees with
evalplus's comparison on the decoded values, for values whose equality differs from identity
(1 / 1.0 / True, NaN, -0.0, dict and set order, float tolerance) and across sequences of tests
(evalplus's atol, once tightened by a float expectation, stays tightened)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data.datasets import CallTest, Task
from harness.execution.execute import judge
from harness.execution.expected import TaskOracle
from harness.execution.oracle import EvalplusComparator, is_floats
from sandbox import Outcome, Output
from sandbox.runner import decode, encode

LONG = [0.1 * i for i in range(300)]  # packed as doubles on the wire
TRICKY = [
    0, 1, 1.0, True, False, 0.0, -0.0, None, "1", float("nan"), float("inf"),
    [1, 2], [1.0, 2.0], [1.0000001, 2.0], [True, 2], (1, 2), (1, 2.0000001), [1, 2.0000001], [float("nan")],
    {"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1.0, "b": 2},
    {"x", "y", "z"}, {"z", "y", "x"}, frozenset({1, 2}),
    LONG, [*LONG[:-1], LONG[-1] + 1e-9], [*LONG[:-1], LONG[-1] + 1.0], tuple(LONG),
    [*LONG[:10], 3, *LONG[11:]],
]


def _wire(value: object) -> bytes:
    return json.dumps(encode(value), separators=(",", ":")).encode()


def _task(n: int, family: str, entry_point: str = "f") -> Task:
    return Task(task_id="T/0", prompt="", entry_point=entry_point, canonical_solution="", solution_is_full=True,
                base_tests=tuple(CallTest([i], None, "canonical") for i in range(n)), plus_tests=(),
                extra={"family": family})


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TRICKY), st.sampled_from(TRICKY)), min_size=1, max_size=4),
       st.sampled_from(["humaneval", "mbpp"]))
def test_fast_path_agrees_with_evalplus_semantics(pairs, family):
    outs = [o for o, _ in pairs]
    exps = [e for _, e in pairs]
    task = _task(len(pairs), family)
    oracle = TaskOracle(expected=[_wire(e) for e in exps], ref_times=[0.0] * len(exps), canonical_ok=True,
                        floats=[is_floats(e) for e in exps])
    result = Outcome([Output(i, 0.0, False, _wire(o)) for i, o in enumerate(outs)], finished=True)
    row = judge(task, oracle, result, has_plus=True)

    reference = EvalplusComparator(family, "f", 0.0)  # decoded values, no fast path
    first_bad = next((i for i, (o, e) in enumerate(pairs)
                      if not reference(decode(json.loads(_wire(o))), decode(json.loads(_wire(e))), [i])), None)
    assert row["passed"] is (first_bad is None), (pairs, row)
    if first_bad is not None:
        assert row["failed_input_index"] == first_bad


def test_identical_nan_is_a_failure_like_evalplus():
    task = _task(1, "humaneval")
    nan = _wire([float("nan")])
    oracle = TaskOracle(expected=[nan], ref_times=[0.0], canonical_ok=True, floats=[True])
    row = judge(task, oracle, Outcome([Output(0, 0.0, False, nan)], finished=True), has_plus=True)
    assert row["passed"] is False and row["error_type"] == "AssertionError"


def test_forged_output_bytes_fail_without_crashing():
    task = _task(3, "humaneval")
    oracle = TaskOracle(expected=[_wire(1)] * 3, ref_times=[0.0] * 3, canonical_ok=True, floats=[False] * 3)
    for raw in (b"{not json", b'{"$t": 5}', b"[" * 5000 + b"]" * 5000, b'{"$df": [[99], "AAAA"]}'):
        result = Outcome([Output(0, 0.0, False, raw)], finished=True)
        row = judge(task, oracle, result, has_plus=True)
        assert row["passed"] is False and row["failed_input_index"] == 0


def test_special_oracles_compare_decoded_values():
    """find_zero is judged by |poly(xs, out)| <= atol, whatever the reference's exact bytes."""
    task = Task(task_id="HumanEval/32", prompt="", entry_point="find_zero", canonical_solution="",
                solution_is_full=True, base_tests=(CallTest([[-6, 11, -6, 1]], None, "canonical"),), plus_tests=(),
                extra={"family": "humaneval"})
    oracle = TaskOracle(expected=[_wire(1.0)], ref_times=[0.0], canonical_ok=True, floats=[True])
    other_root = Outcome([Output(0, 0.0, False, _wire(3.0))], finished=True)
    assert judge(task, oracle, other_root, has_plus=True)["passed"] is True


def test_identical_float_expectation_still_tightens_atol():
    """evalplus: once an expectation is floats, later inputs are compared with atol 1e-6."""
    task = _task(2, "humaneval")
    exps = [[1.0, 2.0], (1, 2)]
    oracle = TaskOracle(expected=[_wire(e) for e in exps], ref_times=[0.0, 0.0], canonical_ok=True,
                        floats=[True, False])
    events = [Output(0, 0.0, False, _wire([1.0, 2.0])), Output(1, 0.0, False, _wire((1, 2.0000001)))]
    assert judge(task, oracle, Outcome(list(events), finished=True), has_plus=True)["passed"] is True
    fresh = _task(1, "humaneval")
    alone = TaskOracle(expected=[_wire((1, 2))], ref_times=[0.0], canonical_ok=True, floats=[False])
    assert judge(fresh, alone, Outcome([Output(0, 0.0, False, events[1].raw)], finished=True),
                 has_plus=True)["passed"] is False
