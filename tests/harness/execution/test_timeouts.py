"""Time-outs that do not depend on the load: a test over its CPU limit is confirmed (run again
alone) before it becomes a verdict; one killed at the grace is a time-out at once; a run (base or
plus) that spends evalplus's per-run cap in CPU time is stopped there."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.data.datasets import load_dataset
from harness.execution.execute import ExecuteConfig, Judge, execute_samples
from sandbox import Limits, Outcome, Output, Timeout
from sandbox.protocol import RUN_SLACK, TIME_GRACE
from tests.conftest import write_jsonl

BODY = """    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
"""


def _burning(loops: int) -> str:
    """has_close_elements, correct, that spends ``loops`` iterations of work on its first call."""
    return (f"_first = [True]\ndef has_close_elements(numbers, threshold):\n"
            f"    if _first[0]:\n        _first[0] = False\n        s = 0\n"
            f"        for k in range({loops}):\n            s += k * k\n" + BODY)


def _loops_for(cpu_seconds: float) -> int:
    """Iterations of the burning loop that take ``cpu_seconds`` of CPU in this Python, alone."""
    n = 2_000_000
    code = (f"import time\ndef burn():\n    s = 0\n    for k in range({n}):\n        s += k * k\n"
            "t = time.process_time()\nburn()\nprint(time.process_time() - t)")
    best = min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
               for _ in range(3))
    return int(n * cpu_seconds / best)


def _row(data_dir: Path, tmp_path: Path, programs: list[str], name: str, jobs: int = 2,
         limits: Limits | None = None) -> list[dict]:
    path = write_jsonl(tmp_path / f"{name}.jsonl", [{"task_id": "HumanEval/0", "solution": p} for p in programs])
    return execute_samples(ExecuteConfig("humaneval+", path, tmp_path / name, data_dir=str(data_dir), jobs=jobs,
                                         progress=False, limits=limits or Limits())).rows


def _judge(data_dir: Path) -> Judge:
    task = load_dataset("humaneval+", data_dir).tasks["HumanEval/0"]
    n = len(task.base_tests) + len(task.plus_tests)
    from harness.execution.expected import compute_expected
    from sandbox.local import LocalBackend

    with LocalBackend(jobs=1) as backend:
        oracle = compute_expected(load_dataset("humaneval+", data_dir).select(task_ids=[task.task_id]), backend)
    judge = Judge(task, oracle[task.task_id], True, [1.0] * n)
    judge.feed([Output(i, 1.2 if i == 0 else 0.0, False, oracle[task.task_id].expected[i]) for i in range(n)])
    return judge


def test_over_the_limit_is_confirmed_by_a_run_alone(data_dir):
    """Over its limit once, within it in a run alone: passes; over it in both runs alone: a
    time-out at that input; killed at the grace alone: a time-out at once."""
    judge = _judge(data_dir)
    assert judge.unconfirmed == 0
    judge.confirm(Outcome([Output(0, 0.8, False, b"")], finished=True))
    row = judge.verdict(Outcome(finished=True))
    assert row["passed"] and row["over_limit"] == {"input": 0, "in": "base", "budget": "test", "limit_s": 1.0,
                                                   "cpu_s": [1.2, 0.8],
                                                   "over": 0.8, "timed_out": False}
    judge = _judge(data_dir)
    judge.confirm(Outcome([Output(0, 1.1, False, b"")], finished=True))
    assert judge.unconfirmed == 0  # over it once alone: run alone once more
    judge.confirm(Outcome([Output(0, 0.9, False, b"")], finished=True))
    row = judge.verdict(Outcome(finished=True))
    assert row["passed"] and row["over_limit"]["cpu_s"] == [1.2, 1.1, 0.9]
    judge = _judge(data_dir)
    judge.confirm(Outcome([Output(0, 1.1, False, b"")], finished=True))
    judge.confirm(Outcome([Output(0, 1.05, False, b"")], finished=True))
    row = judge.verdict(Outcome(finished=True))
    assert (row["error_type"], row["failed_input_index"], row["over_limit"]["cpu_s"]) == ("TimeoutError", 0,
                                                                                          [1.2, 1.1, 1.05])
    assert row["over_limit"]["over"] == 1.05 and row["over_limit"]["timed_out"]
    judge = _judge(data_dir)
    judge.confirm(Outcome(timeout=Timeout("tests", 0, 1.5, 1.6, 1.0)))
    assert judge.verdict(Outcome(finished=True))["error_type"] == "TimeoutError"


def test_slow_samples_and_infinite_loops(data_dir, tmp_path):
    """Twice over its limit: a time-out; an infinite loop: killed at the grace, never run again."""
    slow = _burning(_loops_for(1.25))
    loop = "def has_close_elements(numbers, threshold):\n    while True:\n        pass\n"
    rows = _row(data_dir, tmp_path, [slow, loop], "slow")
    assert [(r["error_type"], r["failed_input_index"]) for r in rows] == [("TimeoutError", 0)] * 2
    assert all(c > 1.0 for c in rows[0]["over_limit"]["cpu_s"])
    over = rows[1]["over_limit"]
    assert len(over["cpu_s"]) == 1 and over["timed_out"]
    assert 1.0 + TIME_GRACE <= over["cpu_s"][0] < 2 * (1.0 + TIME_GRACE)  # about one limit, in CPU seconds


@pytest.mark.slow
def test_borderline_sample_passes_every_time_on_a_busy_machine(data_dir, tmp_path):
    """Correct, 80 % of its 1 s limit alone, run 10 times while every core is kept busy."""
    import os

    program = _burning(_loops_for(0.8))
    _row(data_dir, tmp_path, [program], "warm", jobs=1)  # reference outputs cached before the load
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        time.sleep(0.5)
        rows = _row(data_dir, tmp_path, [program] * 10, "busy")
    finally:
        for p in hogs:
            p.kill()
            p.wait()
    assert [r["passed"] for r in rows] == [True] * 10, [r.get("over_limit") for r in rows]


def _slow_on_calls(loops: int, calls: int) -> str:
    """has_close_elements, correct, that spends ``loops`` iterations of work on each of its first
    ``calls`` calls: slow but finite, each call well within its 1 s limit."""
    return (f"_calls = [0]\ndef has_close_elements(numbers, threshold):\n"
            f"    _calls[0] += 1\n    if _calls[0] <= {calls}:\n        s = 0\n"
            f"        for k in range({loops}):\n            s += k * k\n" + BODY)


def test_a_run_stops_at_its_budget_like_evalplus(data_dir, tmp_path):
    """evalplus caps each run (base, plus) at min(60 s, sum of its limits) + 2 s and calls it a
    time-out; here the cap is min(max_total, ...) + RUN_SLACK in CPU seconds. With max_total
    0.5 s (a budget of 2.5 s per run): 0.1 s on every call passes the 7 base inputs and is
    stopped in the plus run at its budget, after about 25 of its 999 inputs; the same on the
    first 10 calls only stays within both budgets and passes."""
    limits = Limits(max_total=0.5)
    budget = limits.max_total + RUN_SLACK
    loops = _loops_for(0.1)
    rows = _row(data_dir, tmp_path, [_slow_on_calls(loops, 10**9), _slow_on_calls(loops, 10)], "budget",
                limits=limits)
    slow, within = rows
    assert (slow["base_passed"], slow["plus_passed"], slow["error_type"], slow["failed_in"]) == \
        (True, False, "TimeoutError", "plus")
    assert "time budget of the plus run" in slow["error_message"]
    over = slow["over_limit"]
    assert (over["budget"], over["in"], over["limit_s"], over["timed_out"]) == ("run", "plus", budget, True)
    assert over["input"] == slow["failed_input_index"] and 10 <= over["input"] < 999
    assert budget <= over["cpu_s"][0] < budget + 0.5  # it cost the budget, in CPU seconds, not the 999 inputs
    assert within["passed"] and within.get("over_limit") is None
