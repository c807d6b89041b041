"""pass@1 of pre-generated samples through ``harness eval`` equals evalplus 0.3.1's verdicts."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import write_jsonl

TASKS = [f"HumanEval/{i}" for i in range(5)]


def _samples(problems: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """Canonical and broken solutions: plus-only bug, wrong answer, syntax error, no entry point."""
    def full(t: str) -> str:
        return problems[t]["prompt"] + problems[t]["canonical_solution"]

    return [
        {"task_id": "HumanEval/0", "solution": full("HumanEval/0")},
        {"task_id": "HumanEval/0", "solution": full("HumanEval/0").replace("< threshold", "<= threshold")},
        {"task_id": "HumanEval/1", "completion": "    return []\n"},
        {"task_id": "HumanEval/1", "completion": problems["HumanEval/1"]["canonical_solution"]},
        {"task_id": "HumanEval/1", "completion": "    return [paren_string]\n"},
        {"task_id": "HumanEval/2", "completion": problems["HumanEval/2"]["canonical_solution"]},
        {"task_id": "HumanEval/3", "completion": "    balance = 0\n    for op in operations\n        balance += op\n"},
        {"task_id": "HumanEval/4", "solution": "def mad(numbers):\n    return 0.0\n"},
        {"task_id": "HumanEval/4", "solution": full("HumanEval/4")},
    ]


def _evalplus_pass_at_1(samples: Path, override: Path, tmp: Path) -> tuple[dict[str, float], list[tuple[str, bool, bool]]]:
    env = {**os.environ, "HUMANEVAL_OVERRIDE_PATH": str(override), "XDG_CACHE_HOME": str(tmp / "xdg")}
    proc = subprocess.run(
        [sys.executable, "-m", "evalplus.evaluate", "--dataset", "humaneval", "--samples", str(samples),
         "--i-just-wanna-run", "--parallel", "2"],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(samples.with_name(samples.stem + "_eval_results.json").read_text())["eval"]
    base, plus, verdicts = [], [], []
    for tid in TASKS:
        rows = results[tid]
        b = [r["base_status"] == "pass" for r in rows]
        p = [r["base_status"] == r["plus_status"] == "pass" for r in rows]
        base.append(sum(b) / len(rows))
        plus.append(sum(p) / len(rows))
        verdicts += [(tid, bb, pp) for bb, pp in zip(b, p, strict=True)]
    return {"base": sum(base) / len(base), "plus": sum(plus) / len(plus)}, verdicts


@pytest.mark.slow
def test_pass_at_1_equals_evalplus(data_dir: Path, tmp_path: Path) -> None:
    with gzip.open(data_dir / "HumanEvalPlus-v0.1.10.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    problems = {r["task_id"]: r for r in rows if r["task_id"] in TASKS}
    override = tmp_path / "HumanEvalPlus-subset.jsonl"  # evalplus evaluates every task of its dataset
    write_jsonl(override, [problems[t] for t in TASKS])
    student = write_jsonl(tmp_path / "student.jsonl", _samples(problems))
    teacher = write_jsonl(tmp_path / "teacher.jsonl",
                          [{"task_id": t, "completion": problems[t]["canonical_solution"]} for t in TASKS])

    out = tmp_path / "out"
    assert main(["eval", "--student-samples", str(student), "--teacher-samples", str(teacher),
                 "--dataset", "humaneval+", "--out", str(out), "--data-dir", str(data_dir),
                 "--cache-dir", str(tmp_path / "cache"), "--jobs", "2", "--no-progress", "--quiet"]) == 0
    d = json.loads((out / "summary.json").read_text())["datasets"]["humaneval+"]
    assert d["n_tasks"] == len(TASKS)

    expected, verdicts = _evalplus_pass_at_1(student, override, tmp_path)
    assert d["student"]["pass@1"]["base"] == pytest.approx(expected["base"])
    assert d["student"]["pass@1"]["plus"] == pytest.approx(expected["plus"])
    ours = [(r["task_id"], r["base_passed"], r["plus_passed"])
            for r in map(json.loads, (out / "student" / "humaneval+" / "results.jsonl").read_text().splitlines())]
    assert ours == verdicts  # sample by sample, not only on average
    # base and plus differ through the plus-only bug of HumanEval/0
    assert expected["base"] > expected["plus"]
    assert d["teacher"]["pass@1"] == {"base": 1.0, "plus": 1.0}
    assert d["precision_loss"]["plus"] == pytest.approx(1.0 - expected["plus"])
    assert d["regressed"] == ["HumanEval/1", "HumanEval/3"] and d["gained"] == []  # 1/3 < majority
