"""A long stateless sample runs its inputs in slices, side by side: the verdicts of one process."""

from __future__ import annotations

import pytest

from harness.data.datasets import load_dataset
from harness.data.samples import Sample
from harness.execution import execute
from harness.execution.execute import Judge, plan_slices, run_samples
from harness.execution.expected import CACHE_ENV, compute_expected
from sandbox.local import LocalBackend

TID = "HumanEval/0"
VERDICT = ("passed", "base_passed", "plus_passed", "error_type", "error_in", "failed_input_index", "failed_in",
           "category")

CORRECT = """
def has_close_elements(numbers, threshold):
    s = sorted(numbers)
    return any(b - a < threshold for a, b in zip(s, s[1:]))
"""


def _at(args) -> str:
    return f"numbers == {args[0]!r} and threshold == {args[1]!r}"


def _programs(task) -> dict[str, str]:
    late = task.plus_tests[700].args  # in the last slice
    first = task.base_tests[0].args
    return {
        "correct": CORRECT,
        "wrong late": CORRECT.replace("    s = sorted", f"    if {_at(late)}:\n        return None\n    s = sorted"),
        "raises late": CORRECT.replace("    s = sorted", f"    if {_at(late)}:\n        raise KeyError(1)\n    s = sorted"),
        # Wrong everywhere, and slow on every input: no slice can finish before input 0 is judged.
        "wrong first": "def has_close_elements(numbers, threshold):\n    s = 0\n    for k in range(300000):\n"
                       "        s += k\n    return None\n",
        "syntax error": "def has_close_elements(numbers, threshold)\n    return None\n",
        "loops late": CORRECT.replace("    s = sorted", f"    while {_at(late)}:\n        pass\n    s = sorted"),
        # Right only when its first call is base input 0, as in one process: it must not be sliced.
        "stateful": "started = False\n" + CORRECT.replace(
            "    s = sorted", f"    global started\n    if not started and not ({_at(first)}):\n        return None\n"
                             "    started = True\n    s = sorted"),
    }


@pytest.fixture(scope="module")
def sliced_and_whole(data_dir, tmp_path_factory):
    """Every program run twice on the same two runners: in slices, and in one process each."""
    mp = pytest.MonkeyPatch()
    mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
    ds = load_dataset("humaneval+", data_dir).select(task_ids=[TID])
    programs = _programs(ds.tasks[TID])
    samples = [Sample(i, TID, i, code) for i, code in enumerate(programs.values())]
    try:
        with LocalBackend(jobs=2) as backend:
            oracles = compute_expected(ds, backend)
            mp.setattr(execute, "SLICE_MIN_CPU", 0.0)
            mp.setattr(execute, "SLICE_CPU", 1e-6)
            mp.setattr(execute, "SLICE_SHARE", 0.0)
            plan = plan_slices(ds, oracles, samples, backend.jobs)
            sliced = {s.position: row for s, row in run_samples(backend, ds, oracles, samples)}
            mp.setattr(execute, "SLICE_MIN_CPU", float("inf"))
            whole = {s.position: row for s, row in run_samples(backend, ds, oracles, samples)}
    finally:
        mp.undo()
    names = list(programs)
    return ({names[p]: row for p, row in sliced.items()}, {names[p]: row for p, row in whole.items()},
            {names[p]: bounds for p, bounds in plan.items()}, ds, oracles)


def test_a_long_stateless_sample_is_cut_where_the_reference_time_is_even(sliced_and_whole):
    _, _, plan, ds, _ = sliced_and_whole
    assert "stateful" not in plan and "syntax error" not in plan
    bounds = plan["correct"]
    n = len(ds.tasks[TID].base_tests) + len(ds.tasks[TID].plus_tests)
    assert len(bounds) == 4 and bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a < b == c for (a, b), (c, _) in zip(bounds, bounds[1:], strict=False))


def test_slices_give_the_verdicts_of_one_process(sliced_and_whole):
    sliced, whole, _, _, _ = sliced_and_whole
    for name in sliced:
        assert {k: sliced[name][k] for k in VERDICT} == {k: whole[name][k] for k in VERDICT}, name
    assert sliced["correct"]["passed"] and sliced["correct"]["processes"] == 4
    assert "processes" not in whole["correct"]
    late = (sliced["wrong late"]["failed_in"], sliced["wrong late"]["failed_input_index"])
    assert late == ("plus", 700) and sliced["wrong late"]["error_type"] == "AssertionError"
    assert (sliced["raises late"]["error_type"], sliced["raises late"]["failed_input_index"]) == ("KeyError", 700)
    assert (sliced["loops late"]["error_type"], sliced["loops late"]["failed_input_index"]) == ("TimeoutError", 700)
    assert sliced["wrong first"]["failed_input_index"] == 0
    assert sliced["syntax error"]["error_type"] == "SyntaxError"


def test_a_stateful_sample_runs_in_one_process(sliced_and_whole):
    sliced, _, _, _, _ = sliced_and_whole
    assert sliced["stateful"]["passed"] and "processes" not in sliced["stateful"]


def test_slices_of_a_decided_sample_stop_or_never_start(sliced_and_whole):
    """Wrong on input 0 (and slow on every input): of its 4 slices, the one the other runner took
    at the same time is stopped at its next output; the two left are never started (each runner
    asks for more work only after its slice has ended, and input 0 is judged by then)."""
    sliced, _, _, _, _ = sliced_and_whole
    assert sliced["wrong first"]["processes"] in (1, 2)


def test_a_sliced_run_keeps_evalplus_s_cap_on_the_whole_run(sliced_and_whole):
    """No slice sees a whole run: the judge adds their inputs' CPU and stops where one process
    would have been stopped (correct outputs, each under its limit)."""
    _, _, _, ds, oracles = sliced_and_whole
    from sandbox.protocol import Outcome, Output

    task, oracle = ds.tasks[TID], oracles[TID]
    n_base = len(task.base_tests)
    judge = Judge(task, oracle, True, [1.0] * len(oracle.expected), [(0, n_base, 0.25), (n_base, 20, 0.5)])
    judge.feed([Output(i, 0.1, False, oracle.expected[i]) for i in range(20)])
    assert judge.decided()
    row = judge.verdict(Outcome())
    assert (row["error_type"], row["failed_in"], row["failed_input_index"]) == ("TimeoutError", "base", 2)
    assert row["over_limit"]["budget"] == "run" and row["over_limit"]["limit_s"] == 0.25
