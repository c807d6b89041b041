"""End to end: every labelled fixture solution runs in the real sandbox and gets its label.

This is the acceptance check of the error taxonomy: the classifier sees only what
``harness execute`` wrote (results.jsonl plus the program), exactly as in a real run, and
``harness classify`` re-labels the same directory to the same categories.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.harness.taxonomy_fixtures import FIXTURES

pytestmark = pytest.mark.slow

DATA_DIR = Path(
    os.environ.get("HARNESS_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
BENCHMARKS = {"HumanEval": "humaneval+", "Mbpp": "mbpp+"}


def _execute(tmp_path: Path, dataset: str, fixtures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    execute = pytest.importorskip("harness.execution.execute")
    from sandbox import SandboxUnavailable

    samples = tmp_path / "samples.jsonl"
    with samples.open("w", encoding="utf-8") as fh:
        for fx in fixtures:
            sample = {"task_id": fx["task_id"], "solution": fx["solution"]}
            if "finish_reason" in fx:
                sample["finish_reason"] = fx["finish_reason"]
            fh.write(json.dumps(sample) + "\n")
    out = tmp_path / "out"
    config = execute.ExecuteConfig(
        dataset=dataset,
        samples=samples,
        out=out,
        backend="local",
        jobs=2,
        data_dir=str(DATA_DIR),
        progress=False,
    )
    try:
        result = execute.execute_samples(config)
    except SandboxUnavailable as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"sandbox unavailable: {exc}")
    return list(result.rows)


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason="offline data not found")
@pytest.mark.parametrize("family", sorted(BENCHMARKS))
def test_fixtures_classify_as_labelled_through_the_sandbox(tmp_path: Path, family: str) -> None:
    from harness.cli import main

    dataset = BENCHMARKS[family]
    fixtures = [fx for fx in FIXTURES if fx["task_id"].startswith(family + "/")]
    rows = _execute(tmp_path, dataset, fixtures)
    assert len(rows) == len(fixtures)

    def mismatches(rows: list[dict[str, Any]]) -> list[str]:
        return [
            f"{fx['id']}: expected {fx['category']}, got {row.get('category')} "
            f"({row.get('error_type')}: {row.get('error_message')!r})"
            for fx, row in zip(fixtures, rows, strict=True)
            if row.get("category") != fx["category"] or row.get("passed")
        ]

    assert mismatches(rows) == []
    for fx, row in zip(fixtures, rows, strict=True):
        assert row["error_type"] == fx["error_type"], fx["id"]

    # Re-labelling the directory from disk gives the same categories.
    out = tmp_path / "out"
    (tmp_path / "samples.jsonl").replace(out / "samples.jsonl")
    for line_row in rows:
        line_row["category"] = None
    assert main(["classify", str(out), "--data-dir", str(DATA_DIR)]) == 0
    relabelled = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert mismatches(relabelled) == []
