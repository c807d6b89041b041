"""``harness eval --metamorphic`` end to end with tiny offline models: every metric per relation
and overall, partial-code relations against their partial-code nominal, teacher forcing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.core.errors import UsageError
from harness.pipeline import EvalConfig, evaluate
from harness.results.records import Metamorphic, MetamorphicMetrics
from tests.conftest import read_jsonl

#: Two relations that vary ReCode's partial-code prompt, one on the task prompt, one soft.
RELATIONS = ("param_rename", "local_rename", "comparison_swap", "docstring_typos")
PARTIAL = ("local_rename", "comparison_swap")
ROLE_KEYS = {"flip_rate", "pass@1", "nominal_pass@1", "RP@1", "RD@1", "RR@1"}


def _fraction(x: Any) -> bool:
    return isinstance(x, (int, float)) and 0.0 <= x <= 1.0


def _check_block(block: dict[str, Any]) -> None:
    """The metrics of one relation, group or the overall block, in range."""
    assert block["pairs"] > 0
    for role in ("teacher", "student"):
        assert set(block[role]) >= ROLE_KEYS
        assert all(_fraction(block[role][k]) for k in ROLE_KEYS - {"RR@1"})
        assert 0.0 <= block[role]["RR@1"] <= 2.0  # worse + better, each at most 1
    assert -1.0 <= block["kappa"] <= 1.0
    assert _fraction(block["output_agreement"])
    rate = block["fidelity_violation_rate"]  # null below the minimum of teacher-solved pairs
    assert _fraction(rate) if block["fidelity_pairs"] >= block["fidelity_min_pairs"] else rate is None
    assert block["agreeing_pairs"] <= block["pairs"] and block["fidelity_pairs"] <= block["pairs"]
    assert "robustness_gap" in block
    tf = block["teacher_forced"]
    assert tf["n_pairs"] == block["pairs"]
    for side in ("original", "transformed"):
        assert tf[side]["n_tokens"] > 0
        assert _fraction(tf[side]["top1_agreement"])
        assert tf[side]["mean_kl"] >= 0.0


@pytest.fixture(scope="module")
def meta_eval(tiny_models: dict[str, Path], data_dir: Path, tmp_path_factory: pytest.TempPathFactory,
              ) -> tuple[Path, dict[str, Any]]:
    """One CLI eval: GPT-2 student vs GPTBigCode teacher, one shared tokenizer."""
    out = tmp_path_factory.mktemp("meta") / "out"
    argv = ["eval", "--student", str(tiny_models["gpt2"]), "--teacher", str(tiny_models["gpt_bigcode"]),
            "--out", str(out), "--dataset", "humaneval+", "--limit", "5", "--max-new-tokens", "12",
            "--batch-size", "8", "--jobs", "2", "--data-dir", str(data_dir), "--cache-dir",
            str(out.parent / "cache"), "--no-progress", "--quiet", "--device", "cpu",
            "--metamorphic-relations", ",".join(RELATIONS)]
    assert main(argv) == 0
    return out, json.loads((out / "summary.json").read_text())


def test_every_metric_per_relation_and_overall(meta_eval: tuple[Path, dict[str, Any]]) -> None:
    _, summary = meta_eval
    meta = summary["datasets"]["humaneval+"]["metamorphic"]
    assert set(meta["relations"]) == set(RELATIONS)
    assert "not_evaluated" not in meta and "teacher_forced_reason" not in meta
    for rel in RELATIONS:
        _check_block(meta["relations"][rel])
    _check_block(meta["overall"])
    assert meta["overall"]["by_group"]["soft"]["pairs"] == meta["relations"]["docstring_typos"]["pairs"]
    assert meta["fidelity_violation_rate"] == meta["overall"]["fidelity_violation_rate"]
    assert meta["fidelity_pairs"] == meta["overall"]["fidelity_pairs"]
    assert "teacher-solved" in meta["fidelity_definition"]


def test_partial_relations_use_the_partial_nominal(meta_eval: tuple[Path, dict[str, Any]]) -> None:
    """local_rename and comparison_swap are generated on, and compared with both models' verdicts
    on the untransformed partial-code prompt (one run per task, shared by both relations)."""
    out, summary = meta_eval
    meta = summary["datasets"]["humaneval+"]["metamorphic"]
    partial_tasks: set[str] = set()
    for rel in PARTIAL:
        block = meta["relations"][rel]
        assert block["pairs"] == block["valid_tasks"] == block["partial_pairs"] > 0
        tasks = {r["task_id"] for r in read_jsonl(out / "teacher" / "humaneval+" / "metamorphic" / rel / "samples.jsonl")}
        partial_tasks |= tasks
    assert meta["relations"]["param_rename"]["partial_pairs"] == 0
    assert meta["overall"]["partial_pairs"] == sum(meta["relations"][r]["pairs"] for r in PARTIAL)
    assert meta["partial_nominal_tasks"] == len(partial_tasks)
    for role in ("teacher", "student"):
        nominal = out / role / "humaneval+" / "metamorphic" / "_partial_nominal"
        samples = read_jsonl(nominal / "samples.jsonl")
        assert sorted(r["task_id"] for r in samples) == sorted(partial_tasks)  # once per task
        verdict = {r["task_id"]: r["plus_passed"] for r in read_jsonl(nominal / "results.jsonl")}
        for rel in PARTIAL:
            tasks = {r["task_id"] for r in read_jsonl(out / role / "humaneval+" / "metamorphic" / rel / "samples.jsonl")}
            expected = sum(verdict[t] for t in tasks) / len(tasks)
            assert meta["relations"][rel][role]["nominal_pass@1"] == pytest.approx(expected)


def test_report_renders_the_section(meta_eval: tuple[Path, dict[str, Any]]) -> None:
    out, _ = meta_eval
    html = (out / "report.html").read_text()
    assert "local_rename" in html and "teacher_forced" in html


def test_teacher_forced_is_null_when_tokenizers_differ(tiny_models: dict[str, Path], foreign_model: Path,
                                                       data_dir: Path, tmp_path: Path) -> None:
    config = EvalConfig(out=tmp_path / "out", student=str(foreign_model), teacher=str(tiny_models["gpt2"]),
                        datasets=["humaneval+"], limit=2, max_new_tokens=4, batch_size=4, device="cpu", jobs=2,
                        data_dir=str(data_dir), cache_dir=tmp_path / "cache", metamorphic=True,
                        metamorphic_relations=["param_rename"], progress=False, quiet=True)
    meta = evaluate(config).summary["datasets"]["humaneval+"]["metamorphic"]
    assert meta["relations"]["param_rename"]["pairs"] > 0
    assert meta["relations"]["param_rename"]["teacher_forced"] is None
    assert meta["overall"]["teacher_forced"] is None
    assert "tokenizers differ" in meta["teacher_forced_reason"]
    assert meta["overall"]["teacher_forced_reason"] == meta["teacher_forced_reason"]


def _reads_back_exactly(meta: dict[str, Any]) -> Metamorphic:
    """The section the harness wrote is its typed record's ``to_dict()``: same keys, same order,
    same values."""
    record = Metamorphic.from_dict(meta)
    assert record is not None and json.dumps(record.to_dict()) == json.dumps(meta)
    return record


def test_section_is_the_typed_record(meta_eval: tuple[Path, dict[str, Any]]) -> None:
    meta = meta_eval[1]["datasets"]["humaneval+"]["metamorphic"]
    record = _reads_back_exactly(meta)
    assert list(record.relations) == list(RELATIONS) and record.overall is not None
    for name, rel in record.relations.items():
        tf = rel.metrics.teacher_forced
        assert tf is not None and tf.n_pairs == rel.metrics.pairs and tf.source is None
        written = meta["relations"][name]
        assert rel.metrics.flip_rates() == (written["teacher"]["flip_rate"], written["student"]["flip_rate"])
    assert record.overall.by_group is not None and record.overall.metrics == record.overall.by_group["strict"]
    assert record.teacher_forced_reason is None and record.overall.teacher_forced_reason is None


def test_section_without_teacher_forcing_or_soft_pairs_is_the_typed_record(
        tiny_models: dict[str, Path], foreign_model: Path, data_dir: Path, tmp_path: Path) -> None:
    """teacher_forced null with its reason (also in overall, after by_group), an empty soft group."""
    config = EvalConfig(out=tmp_path / "out", student=str(foreign_model), teacher=str(tiny_models["gpt2"]),
                        datasets=["humaneval+"], limit=2, max_new_tokens=4, batch_size=4, device="cpu", jobs=2,
                        data_dir=str(data_dir), cache_dir=tmp_path / "cache", metamorphic=True,
                        metamorphic_relations=["param_rename"], progress=False, quiet=True)
    evaluate(config)
    meta = json.loads((tmp_path / "out" / "summary.json").read_text())["datasets"]["humaneval+"]["metamorphic"]
    record = _reads_back_exactly(meta)
    assert record.overall is not None and record.overall.by_group is not None
    assert record.overall.by_group["soft"] == MetamorphicMetrics(pairs=0)
    assert record.teacher_forced_reason == record.overall.teacher_forced_reason
    assert "tokenizers differ" in (record.teacher_forced_reason or "")


def test_unknown_relation_fails_before_anything_runs(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "--student", str(tiny_models["gpt2"]), "--teacher", str(tiny_models["gpt_bigcode"]),
            "--out", str(tmp_path / "out"), "--dataset", "humaneval+", "--data-dir", str(data_dir),
            "--metamorphic-relations", "param_rename,no_such_relation"]
    assert main(argv) == 2
    assert "no_such_relation" in capsys.readouterr().err
    config = EvalConfig(out=tmp_path / "out", student=str(tiny_models["gpt2"]), teacher=str(tiny_models["gpt_bigcode"]),
                        datasets=["humaneval+"], data_dir=str(data_dir), metamorphic=True,
                        metamorphic_relations=["no_such_relation"])
    with pytest.raises(UsageError, match="no_such_relation"):
        evaluate(config)
    assert not (tmp_path / "out").exists()
