"""Typed records round-trip to the exact JSON the harness writes (shared/DESIGN.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.results.records import (
    Comparison,
    EvalSummary,
    ForcedTokens,
    GateCheck,
    GateConfig,
    GateResult,
    Intervals,
    McNemar,
    Metamorphic,
    MetamorphicMetrics,
    MetamorphicOverall,
    ModelBlock,
    ModelInfo,
    Rates,
    RelationResult,
    ResultRow,
    RoleRobustness,
    RunSummary,
    Taxonomy,
    TeacherForced,
    pass_at_k,
)
from harness.results.store import RunDir, match_samples

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "expected"

fraction = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
maybe_fraction = st.none() | fraction
text = st.text(max_size=12)
ident = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_/0123456789+", min_size=1, max_size=12)
pair = st.tuples(fraction, fraction).map(lambda t: (min(t), max(t)))
rates = st.builds(Rates, maybe_fraction, maybe_fraction)
intervals = st.builds(Intervals, st.none() | pair, st.none() | pair)
pass_k = st.dictionaries(st.integers(1, 100), rates, max_size=3)
counts = st.dictionaries(ident, st.integers(-50, 50), max_size=4)
table = st.fixed_dictionaries({"total": st.integers(0, 9), "categories": counts})
extra = st.dictionaries(st.sampled_from(["notes", "x_extra", "dataset_hash"]), st.none() | text, max_size=2)

rows = st.builds(
    ResultRow, task_id=ident, sample_index=st.integers(0, 5), passed=st.booleans(),
    base_passed=st.none() | st.booleans(), plus_passed=st.none() | st.booleans(),
    error_type=st.none() | text, error_message=st.none() | text, error_in=st.none() | text,
    exception_chain=st.none() | st.lists(text, max_size=3), failed_input_index=st.none() | st.integers(0, 9),
    failed_in=st.none() | st.sampled_from(["base", "plus"]),
    over_limit=st.none() | st.fixed_dictionaries({"input": st.integers(0, 9), "timed_out": st.booleans()}),
    category=st.none() | text,
    complete=st.none() | st.booleans(), duration_s=st.none() | fraction, attempts=st.none() | st.integers(1, 3),
    extra=st.dictionaries(st.sampled_from(["output", "finish_reason", "n_tokens"]), text, max_size=2),
)
run_summaries = st.builds(
    RunSummary, dataset=ident, dataset_version=st.none() | text, dataset_hash=st.none() | text,
    n_tasks=st.integers(0, 9), n_samples=st.integers(0, 9), n_passed=st.integers(0, 9),
    pass_at_k=pass_k, error_types=st.dictionaries(ident, st.integers(0, 9), max_size=3), taxonomy=table,
    sandbox=st.none() | st.fixed_dictionaries({"backend": ident}), extra=st.just({}),
)
blocks = st.builds(ModelBlock, rates, intervals, pass_k, st.none() | st.integers(0, 99), st.just({}))
count = st.none() | st.integers(0, 20)
metric = st.none() | fraction | st.integers(0, 1)  # an int stays an int
roles = st.builds(RoleRobustness, metric, metric, metric, metric, metric, st.none() | st.floats(0, 2),
                  extra=st.dictionaries(st.just("spread"), fraction, max_size=1))
forced_tokens = st.one_of(
    st.builds(ForcedTokens, maybe_fraction, st.none() | st.floats(0, 9), st.integers(0, 99)),
    st.builds(ForcedTokens, maybe_fraction, st.none() | st.floats(0, 9), st.integers(0, 99), maybe_fraction,
              st.just(True)))
forced = st.none() | st.builds(TeacherForced, forced_tokens, forced_tokens, st.integers(0, 9),
                               st.none() | st.just("prompt_logprobs"), st.none() | st.integers(1, 20),
                               extra=st.just({}))


def _metrics(complete: bool) -> st.SearchStrategy[MetamorphicMetrics]:
    """A set of pairs written whole (``partial_pairs`` set), or an empty / hand-made one."""
    return st.builds(
        MetamorphicMetrics, pairs=count, partial_pairs=st.integers(0, 9) if complete else st.none(),
        teacher=st.none() | roles, student=st.none() | roles, kappa=st.none() | st.floats(-1, 1),
        fidelity_violation_rate=maybe_fraction, fidelity_pairs=count, fidelity_min_pairs=count,
        fidelity_violations=st.none() | st.lists(st.tuples(ident, ident), max_size=2),
        agreement_violation_rate=maybe_fraction, agreeing_pairs=count,
        robustness_gap=st.none() | st.floats(-1, 5), output_agreement=maybe_fraction, teacher_forced=forced,
        extra=st.dictionaries(st.sampled_from(["n_tasks", "x_metric"]), st.integers(0, 9), max_size=1))


metrics = _metrics(True) | _metrics(False)
sections = st.builds(
    Metamorphic,
    relations=st.dictionaries(ident, st.builds(RelationResult, st.none() | st.sampled_from(["strict", "soft"]),
                                               count, metrics), min_size=1, max_size=2),
    overall=st.none() | st.builds(MetamorphicOverall, metrics,
                                  st.none() | st.dictionaries(st.sampled_from(["strict", "soft"]), metrics),
                                  st.none() | text),
    fidelity_violation_rate=maybe_fraction, fidelity_pairs=count, fidelity_definition=st.none() | text,
    validity=st.none() | st.just({"r": {"group": "strict", "tasks": 3, "valid": 2, "share": 0.5}}),
    partial_nominal_tasks=count, teacher_forced_reason=st.none() | text,
    extra=st.dictionaries(st.just("notes"), text, max_size=1),
)
metamorphic = st.none() | sections
comparisons = st.builds(
    Comparison, n_tasks=st.none() | st.integers(0, 9), dataset_version=st.none() | text,
    primary_metric=st.none() | st.sampled_from(["base", "plus"]), student=blocks, teacher=blocks,
    precision_loss=rates, precision_loss_ci=intervals,
    mcnemar=st.none() | st.builds(McNemar, st.none() | st.sampled_from(["base", "plus"]),
                                  st.none() | st.integers(0, 9), st.none() | st.integers(0, 9), maybe_fraction),
    regressed=st.lists(ident, max_size=3), gained=st.lists(ident, max_size=3),
    taxonomy=st.none() | st.builds(Taxonomy, st.none() | table, st.none() | table, st.none() | counts),
    metamorphic=metamorphic, extra=extra,
)
checks = st.builds(GateCheck, name=ident, dataset=ident, value=maybe_fraction, threshold=maybe_fraction,
                   passed=st.booleans(), message=text, skipped=st.booleans(),
                   metric=st.none() | st.sampled_from(["base", "plus"]), category=st.none() | text,
                   p_value=maybe_fraction, margin=st.none() | st.floats(-1, 1))
gates = st.builds(GateResult, st.booleans(), st.lists(checks, max_size=3),
                  st.builds(GateConfig, maybe_fraction, maybe_fraction, st.none() | st.integers(0, 9),
                            maybe_fraction, st.booleans(), st.none() | text),
                  st.none() | text)
summaries = st.builds(
    EvalSummary, harness_version=st.none() | text, created=st.none() | text,
    models=st.dictionaries(st.sampled_from(["student", "teacher"]),
                           st.builds(ModelInfo, st.none() | text, st.none() | text, st.none() | text,
                                     st.none() | text, st.just({})), max_size=2),
    settings=st.fixed_dictionaries({"n_samples": st.integers(1, 5)}),
    datasets=st.dictionaries(ident, comparisons, max_size=2), mean_precision_loss=rates,
    cache=st.none() | st.just({"student": {}}), gate=st.none() | gates, extra=st.just({}),
)


def _json(data: Any) -> Any:
    return json.loads(json.dumps(data))


def _round_trip(record: Any, cls: Any) -> None:
    data = _json(record.to_dict())
    back = cls.from_dict(data)
    assert back == record
    assert json.dumps(back.to_dict()) == json.dumps(data)  # the same keys in the same order


@settings(max_examples=30, deadline=None)
@given(rows)
def test_result_row_round_trips(row: ResultRow) -> None:
    _round_trip(row, ResultRow)


@settings(max_examples=30, deadline=None)
@given(run_summaries)
def test_run_summary_round_trips(summary: RunSummary) -> None:
    _round_trip(summary, RunSummary)


@settings(max_examples=30, deadline=None)
@given(comparisons)
def test_comparison_round_trips(comparison: Comparison) -> None:
    _round_trip(comparison, Comparison)


@settings(max_examples=30, deadline=None)
@given(gates)
def test_gate_result_round_trips(gate: GateResult) -> None:
    _round_trip(gate, GateResult)


@settings(max_examples=50, deadline=None)
@given(sections)
def test_metamorphic_section_round_trips(section: Metamorphic) -> None:
    _round_trip(section, Metamorphic)


@settings(max_examples=20, deadline=None)
@given(summaries)
def test_eval_summary_round_trips(summary: EvalSummary) -> None:
    _round_trip(summary, EvalSummary)


def test_golden_files_read_back_to_the_same_bytes() -> None:
    """What the harness wrote (the golden files) reads into records and writes back unchanged."""
    text = (GOLDEN / "eval" / "summary.json").read_text()
    assert json.dumps(EvalSummary.from_dict(json.loads(text)).to_dict(), indent=2) + "\n" == text
    for path in [GOLDEN / "execute" / "summary.json", *GOLDEN.glob("eval/*/*/summary.json")]:
        text = path.read_text()
        assert json.dumps(RunSummary.from_dict(json.loads(text)).to_dict(), indent=2) == text
    for path in [GOLDEN / "execute" / "results.jsonl", *GOLDEN.glob("eval/*/*/results.jsonl")]:
        for line in path.read_text().replace('"<DURATION>"', "0.25").replace('"<ATTEMPTS>"', "1").splitlines():
            assert json.dumps(ResultRow.from_dict(json.loads(line)).to_dict()) == line


def test_tolerant_reading_of_hand_made_summaries() -> None:
    """Older or hand-made shapes: intervals as {lo, hi}, pass@k beside pass@1, flip rates by name,
    a top-level metamorphic block keyed by dataset; non-numbers read as missing."""
    ds = Comparison.from_dict({"student": {"pass@1": {"base": "x"}, "pass@3": {"base": 0.5}},
                               "precision_loss_ci": {"base": {"lo": 0.1, "hi": 0.2}}})
    assert ds.student.pass_at_1.base is None and ds.student.pass_at_k[3].base == 0.5
    assert ds.precision_loss_ci.base == (0.1, 0.2) and ds.primary("mbpp") == "base"
    spelled = {"teacher_flip_rate": 0.1, "student": {"flip_rate": 0.3}}, {"flip_rate": {"teacher": 0.1, "student": 0.3}}
    for metrics in spelled:
        assert MetamorphicMetrics.from_dict(metrics).flip_rates() == (0.1, 0.3)
    summary = EvalSummary.from_dict({"datasets": {"mbpp+": {}}, "metamorphic": {
        "mbpp+": {"relations": {"r": {"fidelity_violation_rate": 0.4}}}}})
    meta = summary.metamorphic("mbpp+")
    assert meta is not None and meta.fidelity_rate() == (0.4, "worst relation, r")
    # Relations at the top level beside the overall numbers, and the evidence count at the top.
    older = Metamorphic.from_dict({"r": {"group": "soft", "n_tasks": 3, "student_flip_rate": 0.5},
                                   "fidelity_violation_rate": 0.2, "fidelity_pairs": 12})
    assert older is not None and older.fidelity_rate() == (0.2, "overall")
    assert older.fidelity_evidence() == (12, None)
    assert older.relations["r"].to_dict() == {"group": "soft", "student": {"flip_rate": 0.5}, "n_tasks": 3}


def test_pass_at_k_is_unbiased_over_tasks() -> None:
    made = [ResultRow("a", 0, True, True, False), ResultRow("a", 1, False, False, False),
            ResultRow("b", 0, False, False, False), ResultRow("b", 1, False, False, False)]
    ks = pass_at_k(made, has_plus=True)
    assert ks[1] == Rates(0.25, 0.0) and ks[2] == Rates(0.5, 0.0)
    assert pass_at_k(made, has_plus=False, task_ids=["a", "b", "c"]) == {}  # c has no sample


def test_match_samples_pairs_by_task_and_index(tmp_path: Path) -> None:
    samples = [{"task_id": "a", "solution": "1"}, {"task_id": "b", "solution": "2"},
               {"task_id": "a", "solution": "3"}]
    results = [{"task_id": "a", "sample_index": 1, "passed": True}, {"task_id": "b", "passed": False}]
    matched = match_samples(results, samples)
    assert [(r.task_id, r.sample_index, s and s["solution"]) for r, s in matched] == [("a", 1, "3"), ("b", 0, "2")]
    run = RunDir(tmp_path)
    assert run.read_rows() == [] and run.read_summary() is None and not run.update_summary("x", 1)
