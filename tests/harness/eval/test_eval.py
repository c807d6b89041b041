"""``harness eval`` end to end with tiny offline models: layout, summary keys, caching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.pipeline import EvalConfig, evaluate
from tests.conftest import read_jsonl

RUN_FILES = {"samples.jsonl", "results.jsonl", "summary.json"}
MODEL_KEYS = {"id", "fingerprint", "revision", "samples_file"}
DATASET_KEYS = {"n_tasks", "dataset_version", "student", "teacher", "precision_loss",
                "precision_loss_ci", "mcnemar", "regressed", "gained", "taxonomy"}
SIDE_KEYS = {"pass@1", "pass@1_ci", "pass@k"}


def _argv(student: Path, teacher: Path, out: Path, cache: Path, data_dir: Path, *extra: str) -> list[str]:
    return ["eval", "--student", str(student), "--teacher", str(teacher), "--out", str(out),
            "--dataset", "humaneval", "--limit", "5", "--max-new-tokens", "12", "--batch-size", "5",
            "--jobs", "2", "--data-dir", str(data_dir), "--cache-dir", str(cache), "--no-progress",
            *extra]


@pytest.fixture(scope="module")
def first_eval(tiny_models: dict[str, Path], data_dir: Path, tmp_path_factory: pytest.TempPathFactory,
               ) -> tuple[Path, Path, int]:
    base = tmp_path_factory.mktemp("eval")
    out, cache = base / "out", base / "cache"
    rc = main(_argv(tiny_models["gpt2"], tiny_models["gpt_bigcode"], out, cache, data_dir))
    return out, cache, rc


def test_layout_and_summary_keys(first_eval: tuple[Path, Path, int], tiny_models: dict[str, Path],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out, _, rc = first_eval
    assert rc == 0
    for role in ("student", "teacher"):
        assert {p.name for p in (out / role / "humaneval").iterdir()} >= RUN_FILES
        rows = read_jsonl(out / role / "humaneval" / "results.jsonl")
        assert len(rows) == 5 and [r["task_id"] for r in rows] == [f"HumanEval/{i}" for i in range(5)]
        samples = read_jsonl(out / role / "humaneval" / "samples.jsonl")
        assert len(samples) == 5 and all("solution" in s for s in samples)
    assert "\n# Distillation report: " in (out / "summary.md").read_text()
    s = json.loads((out / "summary.json").read_text())
    assert set(s) >= {"harness_version", "created", "models", "settings", "datasets", "mean_precision_loss"}
    assert set(s["models"]["student"]) >= MODEL_KEYS and set(s["models"]["teacher"]) >= MODEL_KEYS
    assert s["models"]["student"]["id"] == str(tiny_models["gpt2"])
    assert s["models"]["student"]["fingerprint"].startswith("sha256:")
    assert s["models"]["student"]["fingerprint"] != s["models"]["teacher"]["fingerprint"]
    assert s["models"]["teacher"]["samples_file"] is None
    assert {"backend", "jobs", "limits", "max_new_tokens", "n_samples", "temperature", "template"} <= set(s["settings"])
    assert s["settings"]["max_new_tokens"] == 12 and s["settings"]["limit"] == 5
    assert list(s["datasets"]) == ["humaneval"]
    d = s["datasets"]["humaneval"]
    assert set(d) >= DATASET_KEYS
    assert d["n_tasks"] == 5
    for role in ("student", "teacher"):
        assert set(d[role]) >= SIDE_KEYS
        assert 0.0 <= d[role]["pass@1"]["base"] <= 1.0 and d[role]["pass@1"]["plus"] is None
        lo, hi = d[role]["pass@1_ci"]["base"]
        assert lo <= d[role]["pass@1"]["base"] <= hi
        assert d[role]["pass@1_ci"]["plus"] is None
        assert d["taxonomy"][role]["total"] == 5
    assert d["mcnemar"]["metric"] == "base" and set(d["mcnemar"]) == {"metric", "b", "c", "p_value"}
    assert d["mcnemar"]["b"] == len(d["regressed"]) and d["mcnemar"]["c"] == len(d["gained"])
    assert set(d["precision_loss"]) == {"base", "plus"} and d["precision_loss"]["plus"] is None
    assert set(s["mean_precision_loss"]) == {"base", "plus"}


def test_teacher_cache_hit_with_another_student(first_eval: tuple[Path, Path, int], tiny_models: dict[str, Path],
                                                other_student: Path, data_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out1, cache, _ = first_eval
    teacher_results = out1 / "teacher" / "humaneval" / "results.jsonl"
    summary1 = json.loads((out1 / "summary.json").read_text())
    teacher_key = summary1["cache"]["teacher"]["humaneval"]["key"]
    cached = cache / teacher_key / "humaneval" / "results.jsonl"
    mtimes = (cached.stat().st_mtime_ns, (cached.parent / "samples.jsonl").stat().st_mtime_ns)

    import harness.execution.execute
    import harness.generation.backend

    generated, executed = [], []
    real_generate, real_execute = harness.generation.backend.generate_samples, harness.execution.execute.execute_samples

    def spy_generate(dataset, config, *a, **kw):  # type: ignore[no-untyped-def]
        generated.append(config.model)
        return real_generate(dataset, config, *a, **kw)

    def spy_execute(config, *a, **kw):  # type: ignore[no-untyped-def]
        executed.append(str(config.samples))
        return real_execute(config, *a, **kw)

    monkeypatch.setattr(harness.generation.backend, "generate_samples", spy_generate)
    monkeypatch.setattr(harness.execution.execute, "execute_samples", spy_execute)
    config = EvalConfig(out=tmp_path / "out2", student=str(other_student), teacher=str(tiny_models["gpt_bigcode"]),
                        datasets=("humaneval",), limit=5, max_new_tokens=12, batch_size=5, jobs=2,
                        data_dir=str(data_dir), cache_dir=cache, progress=False)
    result = evaluate(config)
    assert result.cache_hits == {"student": {"humaneval": False}, "teacher": {"humaneval": True}}
    teacher_run = result.runs["teacher"]["humaneval"]
    assert not teacher_run.generated and not teacher_run.executed
    assert generated == [str(other_student)]  # the teacher was neither generated ...
    assert len(executed) == 1 and str(teacher_run.cache_path) not in executed[0]  # ... nor executed
    assert "teacher humaneval: cache hit" in capsys.readouterr().err
    assert (cached.stat().st_mtime_ns, (cached.parent / "samples.jsonl").stat().st_mtime_ns) == mtimes
    copied = tmp_path / "out2" / "teacher" / "humaneval" / "results.jsonl"
    assert copied.read_bytes() == teacher_results.read_bytes()
    assert result.summary["models"]["teacher"] == summary1["models"]["teacher"]
    assert result.summary["datasets"]["humaneval"]["teacher"] == summary1["datasets"]["humaneval"]["teacher"]

    # the same eval again: both models come from the cache
    generated.clear()
    executed.clear()
    again = evaluate(config)
    assert again.cache_hits == {"student": {"humaneval": True}, "teacher": {"humaneval": True}}
    assert generated == [] and executed == []
    assert again.summary["datasets"] == result.summary["datasets"]


def test_trained_student_passes_in_the_sandbox(trained_model: Path, tiny_models: dict[str, Path],
                                               data_dir: Path, tmp_path: Path) -> None:
    """A tiny model trained to emit HumanEval/0's canonical solution: its sample passes."""
    out = tmp_path / "out"
    argv = _argv(trained_model, tiny_models["gpt2"], out, tmp_path / "cache", data_dir)
    argv[argv.index("--limit") + 1] = "1"
    argv[argv.index("--max-new-tokens") + 1] = "200"
    assert main(argv) == 0
    (row,) = read_jsonl(out / "student" / "humaneval" / "results.jsonl")
    assert row["task_id"] == "HumanEval/0"
    assert row["passed"] is True and row["error_type"] is None, row
    d = json.loads((out / "summary.json").read_text())["datasets"]["humaneval"]
    assert d["student"]["pass@1"]["base"] == 1.0
    assert d["teacher"]["pass@1"]["base"] == 0.0  # the random teacher fails
    assert d["precision_loss"]["base"] is None and d["precision_loss_ci"]["base"] is None
    assert d["gained"] == ["HumanEval/0"] and d["regressed"] == []
    assert d["mcnemar"] == {"metric": "base", "b": 0, "c": 1, "p_value": 1.0}
