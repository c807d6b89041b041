"""Release gate: gate files, checks, and ``harness gate DIR --config FILE`` exit codes."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.analysis.gate import GateConfig, GateResult, evaluate_gate, load_gate
from harness.core.errors import UsageError
from tests.harness.reporting import report_fixtures as rf

FULL_GATE = """\
[gate]
max_precision_loss = 0.30
min_student_pass_at_1 = 0.10
max_category_increase = 10
max_fidelity_violation = 0.25
require_significance = false
"""


def _gate(tmp_path: Path, text: str, name: str = "gate.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _by_name(result: GateResult, name: str, dataset: str = "humaneval+") -> list:
    return [c for c in result.checks if c.name == name and c.dataset == dataset]


# ----------------------------------------------------------------------------- gate files


def test_load_full_gate_file(tmp_path):
    cfg = load_gate(_gate(tmp_path, FULL_GATE))
    assert cfg == GateConfig(0.30, 0.10, 10, 0.25, False)
    assert cfg.source == str(tmp_path / "gate.toml")


def test_every_key_is_optional_and_ints_are_numbers(tmp_path):
    assert load_gate(_gate(tmp_path, "[gate]\n")) == GateConfig()
    cfg = load_gate(_gate(tmp_path, "[gate]\nmax_precision_loss = 0\nmin_student_pass_at_1 = 1\n"))
    assert cfg.max_precision_loss == 0.0 and isinstance(cfg.max_precision_loss, float)
    assert cfg.min_student_pass_at_1 == 1.0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[gate\nmax_precision_loss = 0.3\n", "malformed TOML"),
        ("[gate]\nmax_precision_loss = \n", "malformed TOML"),
        ("[gate]\nmax_precision_los = 0.3\n", "unknown key 'max_precision_los'"),
        ("[gate]\nmax_precision_loss = '0.3'\n", "max_precision_loss must be a number"),
        ("[gate]\nmax_precision_loss = true\n", "max_precision_loss must be a number"),
        ("[gate]\nmax_precision_loss = nan\n", "max_precision_loss must be a number"),
        ("[gate]\nmin_student_pass_at_1 = 1.5\n", "between 0 and 1"),
        ("[gate]\nmax_fidelity_violation = -0.1\n", "between 0 and 1"),
        ("[gate]\nmax_category_increase = 2.5\n", "non-negative integer"),
        ("[gate]\nmax_category_increase = -1\n", "non-negative integer"),
        ("[gate]\nmax_category_increase = false\n", "non-negative integer"),
        ("[gate]\nrequire_significance = 1\n", "true or false"),
        ("max_precision_loss = 0.3\n", "no [gate] table"),
        ("", "no [gate] table"),
        ("gate = 1\n", "must be a table"),
        ("[gate]\n[release]\nx = 1\n", "unknown top-level key 'release'"),
    ],
)
def test_bad_gate_files_are_usage_errors(tmp_path, text, needle):
    with pytest.raises(UsageError) as err:
        load_gate(_gate(tmp_path, text))
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_or_binary_gate_file(tmp_path):
    with pytest.raises(UsageError, match="gate file not found"):
        load_gate(tmp_path / "nope.toml")
    with pytest.raises(UsageError, match="not a file"):
        load_gate(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[gate]")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_gate(tmp_path / "bin.toml")


# ----------------------------------------------------------------------------- checks


def test_passing_summary_passes_every_check():
    summary = rf.synthetic_summary(loss=0.2, student=0.6, metamorphic=rf.METAMORPHIC)
    result = evaluate_gate(summary, GateConfig(0.3, 0.1, 10, 0.25, False))
    assert result.passed and result.exit_code == 0
    assert not result.failed
    # humaneval has no metamorphic block: its fidelity check is skipped, not failed.
    skipped = result.skipped
    assert [(c.name, c.dataset) for c in skipped] == [("max_fidelity_violation", "humaneval")]
    assert "did not run" in skipped[0].message
    # Checks cover both datasets, on their primary metric.
    assert _by_name(result, "max_precision_loss")[0].metric == "plus"
    assert _by_name(result, "max_precision_loss", "humaneval")[0].metric == "base"
    assert _by_name(result, "max_fidelity_violation")[0].value == pytest.approx(0.178)


def test_precision_loss_fails_with_the_margin():
    result = evaluate_gate(rf.synthetic_summary(loss=0.45), GateConfig(max_precision_loss=0.3))
    assert not result.passed and result.exit_code == 1
    check = _by_name(result, "max_precision_loss")[0]
    assert not check.passed and check.value == pytest.approx(0.45) and check.threshold == 0.3
    assert check.margin == pytest.approx(0.15)
    assert "exceeds the maximum 30.0% by 15.0 points" in check.message
    assert "(plus)" in check.message


def test_loss_exactly_at_the_threshold_passes_despite_float_noise():
    summary = rf.synthetic_summary()
    for ds in summary["datasets"].values():
        ds["precision_loss"] = {"base": (1.0 - 0.7) / 1.0, "plus": (1.0 - 0.7) / 1.0}
    assert (1.0 - 0.7) / 1.0 > 0.3  # the float is a hair above
    assert evaluate_gate(summary, GateConfig(max_precision_loss=0.3)).passed


def test_require_significance_excuses_a_non_significant_loss():
    gate = GateConfig(max_precision_loss=0.3, require_significance=True)
    not_sig = evaluate_gate(rf.synthetic_summary(loss=0.45, p_value=0.2), gate)
    assert not_sig.passed
    check = _by_name(not_sig, "max_precision_loss")[0]
    assert check.passed and "not significant" in check.message and check.p_value == 0.2
    sig = evaluate_gate(rf.synthetic_summary(loss=0.45, p_value=0.01), gate)
    assert not sig.passed
    assert "McNemar p = 0.010 < 0.05" in _by_name(sig, "max_precision_loss")[0].message
    # Without require_significance the p-value does not matter.
    assert not evaluate_gate(rf.synthetic_summary(loss=0.45, p_value=0.2),
                             GateConfig(max_precision_loss=0.3)).passed


def test_min_student_pass_at_1_reads_plus_on_plus_datasets():
    summary = rf.synthetic_summary(student=0.3)
    summary["datasets"]["humaneval+"]["student"]["pass@1"] = {"base": 0.5, "plus": 0.05}
    result = evaluate_gate(summary, GateConfig(min_student_pass_at_1=0.1))
    plus = _by_name(result, "min_student_pass_at_1")[0]
    assert not plus.passed and plus.metric == "plus" and plus.value == 0.05
    assert "below the minimum 10.0% by 5.0 points" in plus.message
    assert _by_name(result, "min_student_pass_at_1", "humaneval")[0].passed


def test_category_increase_is_checked_per_category():
    result = evaluate_gate(rf.synthetic_summary(), GateConfig(max_category_increase=2))
    cats = {c.category: c for c in _by_name(result, "max_category_increase")}
    assert set(cats) == {"AssertionError:wrong_answer", "NameError:missing_import", "SyntaxError:invalid_syntax"}
    assert not cats["NameError:missing_import"].passed
    assert "3 more failures than the teacher, 1 over the maximum increase 2" in cats["NameError:missing_import"].message
    assert cats["AssertionError:wrong_answer"].passed and cats["SyntaxError:invalid_syntax"].passed
    assert cats["SyntaxError:invalid_syntax"].value == -1


def test_fidelity_violation_fails_over_the_threshold():
    result = evaluate_gate(rf.synthetic_summary(metamorphic=rf.METAMORPHIC),
                           GateConfig(max_fidelity_violation=0.1))
    check = _by_name(result, "max_fidelity_violation")[0]
    assert not check.passed and "exceeds the maximum 10.0% by 7.8 points" in check.message
    # A top-level metamorphic block keyed by dataset counts as well.
    summary = rf.synthetic_summary(with_base_dataset=False)
    summary["metamorphic"] = {"humaneval+": {"overall": {"fidelity_violation_rate": 0.5}}}
    assert not evaluate_gate(summary, GateConfig(max_fidelity_violation=0.25)).passed


def test_missing_numbers_fail_instead_of_passing():
    summary = rf.synthetic_summary()
    ds = summary["datasets"]["humaneval+"]
    ds["teacher"]["pass@1"]["plus"] = 0.0
    ds["precision_loss"]["plus"] = None
    del ds["taxonomy"]
    result = evaluate_gate(summary, GateConfig(max_precision_loss=0.3, max_category_increase=5))
    loss = _by_name(result, "max_precision_loss")[0]
    assert not loss.passed and "teacher's plus pass@1 is 0" in loss.message
    assert not _by_name(result, "max_category_increase")[0].passed


def test_summary_without_datasets_is_a_usage_error():
    with pytest.raises(UsageError):
        evaluate_gate({"datasets": {}}, GateConfig())


def test_result_round_trips_through_json():
    result = evaluate_gate(rf.synthetic_summary(loss=0.45), GateConfig(0.3, 0.1, 2, 0.25, True))
    again = GateResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.passed == result.passed
    assert [c.to_dict() for c in again.checks] == [c.to_dict() for c in result.checks]
    assert again.config == result.config


# ----------------------------------------------------------------------------- CLI


def _summary_gate(d: Path) -> dict:
    return json.loads((d / "summary.json").read_text())["gate"]


def test_cli_gate_passes_with_exit_0(tmp_path):
    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(loss=0.2, metamorphic=rf.METAMORPHIC))
    proc = rf.run_harness("gate", d, "--config", _gate(tmp_path, FULL_GATE), cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert "gate PASSED" in proc.stdout
    assert _summary_gate(d)["passed"] is True
    suites = ET.parse(d / "junit.xml").getroot()
    assert suites.get("failures") == "0"
    cases = suites.findall(".//testcase")
    assert len(cases) == len(_summary_gate(d)["checks"]) and cases
    assert not suites.findall(".//failure")
    assert "GATE PASSED" in (d / "report.html").read_text()
    assert "Release gate: ✅ PASSED" in (d / "summary.md").read_text()


def test_cli_gate_fails_with_exit_1_and_names_the_check(tmp_path):
    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(loss=0.45))
    proc = rf.run_harness("gate", d, "--config", _gate(tmp_path, FULL_GATE), cache=tmp_path / "c")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "gate FAILED" in out
    assert "FAIL humaneval+: max_precision_loss: precision loss (plus) 45.0% exceeds the maximum 30.0% by 15.0 points" in out
    assert "FAIL humaneval: max_precision_loss" in out
    assert "Traceback" not in proc.stderr
    gate = _summary_gate(d)
    assert gate["passed"] is False
    failed = [c for c in gate["checks"] if c["status"] == "failed"]
    assert {c["dataset"] for c in failed} == {"humaneval+", "humaneval"}
    root = ET.parse(d / "junit.xml").getroot()
    assert root.get("failures") == "2"
    fails = [(case.get("classname"), case.get("name"), case.find("failure"))
             for case in root.iter("testcase") if case.find("failure") is not None]
    assert [(c, n) for c, n, _ in fails] == [("gate.humaneval+", "max_precision_loss"),
                                               ("gate.humaneval", "max_precision_loss")]
    assert "by 15.0 points" in fails[0][2].get("message")
    md = (d / "summary.md").read_text()
    assert "Release gate: ❌ FAILED" in md and "max_precision_loss" in md
    assert "GATE FAILED" in (d / "report.html").read_text()


def test_cli_gate_category_failure_is_one_junit_case(tmp_path):
    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(), samples=False)
    gate = _gate(tmp_path, "[gate]\nmax_category_increase = 2\n")
    proc = rf.run_harness("gate", d, "--config", gate, cache=tmp_path / "c")
    assert proc.returncode == 1
    assert "max_category_increase[NameError:missing_import]" in proc.stdout
    names = [c.get("name") for c in ET.parse(d / "junit.xml").getroot().iter("testcase") if c.find("failure") is not None]
    assert names == ["max_category_increase[NameError:missing_import]"] * 2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[gate\nmax_precision_loss = 0.3\n", "malformed TOML"),
        ("[gate]\nmax_precison_loss = 0.3\n", "unknown key 'max_precison_loss'"),
        ("[gate]\nmax_category_increase = 'ten'\n", "max_category_increase must be"),
    ],
)
def test_cli_bad_gate_file_exits_2_with_one_line(tmp_path, text, needle):
    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(), samples=False)
    proc = rf.run_harness("gate", d, "--config", _gate(tmp_path, text), cache=tmp_path / "c")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness gate: error: ") and needle in lines[0]
    assert "gate" not in json.loads((d / "summary.json").read_text())  # nothing recorded


def test_cli_gate_bad_eval_dir_exits_2(tmp_path):
    gate = _gate(tmp_path, FULL_GATE)
    for target, needle in ((tmp_path / "missing", "eval directory not found"),
                           (tmp_path, "has no summary.json")):
        proc = rf.run_harness("gate", target, "--config", gate, cache=tmp_path / "c")
        assert proc.returncode == 2 and needle in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    (tmp_path / "summary.json").write_text("{not json")
    proc = rf.run_harness("gate", tmp_path, "--config", gate, cache=tmp_path / "c")
    assert proc.returncode == 2 and "malformed JSON" in proc.stderr
    proc = rf.run_harness("gate", tmp_path, cache=tmp_path / "c")  # --config is required
    assert proc.returncode == 2


def test_run_gate_for_eval_returns_the_exit_code(tmp_path, capsys):
    from harness.analysis.gate import run_gate_for_eval

    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(loss=0.2), samples=False)
    assert run_gate_for_eval(d, _gate(tmp_path, FULL_GATE)) == 0
    assert run_gate_for_eval(d, _gate(tmp_path, "[gate]\nmax_precision_loss = 0.1\n", "strict.toml")) == 1
    out = capsys.readouterr().out
    assert "gate PASSED" in out and "gate FAILED" in out
    # The second verdict replaced the first.
    assert _summary_gate(d)["passed"] is False
    assert (d / "summary.md").read_text().count("<!-- harness-gate:start -->") == 1


# ----------------------------------------------------------------------------- real eval directory


@pytest.mark.slow
def test_gate_on_a_real_eval_directory(tmp_path, tmp_path_factory, data_dir):
    real = rf.shared_eval_dir(tmp_path_factory, data_dir)
    d = rf.copy_eval_dir(real, tmp_path / "eval")
    loose = _gate(tmp_path, "[gate]\nmax_precision_loss = 0.9\nmin_student_pass_at_1 = 0.2\n"
                            "max_category_increase = 3\nmax_fidelity_violation = 0.5\n", "loose.toml")
    proc = rf.run_harness("gate", d, "--config", loose, cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    strict = _gate(tmp_path, "[gate]\nmax_category_increase = 0\n", "strict.toml")
    proc = rf.run_harness("gate", d, "--config", strict, cache=tmp_path / "c")
    assert proc.returncode == 1
    # The student's own failures (a missing import, a wrong entry-point name) are named.
    assert "max_category_increase[NameError:missing_import]" in proc.stdout
    assert "max_category_increase[NameError:wrong_function_name]" in proc.stdout
    junit = (d / "junit.xml").read_text()
    assert 'name="max_category_increase[NameError:missing_import]"' in junit and "<failure" in junit


@pytest.mark.slow
def test_eval_with_gate_exits_1_and_writes_junit(tmp_path, tmp_path_factory, data_dir):
    rf.shared_eval_dir(tmp_path_factory, data_dir)
    if not rf.eval_available():
        pytest.skip("harness eval is not built yet")
    shared = rf.shared_work()
    work, cache = shared["work"], shared["cache"]
    gate = _gate(tmp_path, "[gate]\nmax_precision_loss = 0.3\n")
    out = tmp_path / "eval"
    proc = rf.run_harness("eval", "--student-samples", work / "student.jsonl", "--teacher-samples",
                          work / "teacher.jsonl", "--dataset", "humaneval+", "--data-dir", work / "data",
                          "--out", out, "--jobs", "2", "--no-progress", "--quiet",
                          "--cache-dir", cache / "models", "--gate", gate, cache=cache)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL humaneval+: max_precision_loss" in proc.stdout
    assert _summary_gate(out)["passed"] is False
    assert "<failure" in (out / "junit.xml").read_text()
    assert "GATE FAILED" in (out / "report.html").read_text()
    assert "Release gate: ❌ FAILED" in (out / "summary.md").read_text()


def test_fidelity_resting_on_too_few_teacher_solved_pairs_fails_for_lack_of_evidence():
    """A 0% violation rate over 3 teacher-solved pairs (10 needed) must not pass a release gate,
    and neither must an unmeasured (null) rate."""
    summary = rf.synthetic_summary(metamorphic={
        "relations": {}, "overall": {"fidelity_violation_rate": 0.0, "fidelity_pairs": 3,
                                     "fidelity_min_pairs": 10}})
    check = _by_name(evaluate_gate(summary, GateConfig(max_fidelity_violation=0.25)),
                     "max_fidelity_violation")[0]
    assert not check.passed and not check.skipped
    assert check.message == ("not enough evidence: the fidelity-violation rate rests on 3 "
                             "teacher-solved pairs (at least 10 needed)")
    summary["datasets"]["humaneval+"]["metamorphic"]["overall"]["fidelity_violation_rate"] = None
    check = _by_name(evaluate_gate(summary, GateConfig(max_fidelity_violation=0.25)),
                     "max_fidelity_violation")[0]
    assert not check.passed and check.message.startswith("not enough evidence")
    summary["datasets"]["humaneval+"]["metamorphic"]["overall"].update(
        fidelity_violation_rate=0.1, fidelity_pairs=40)
    assert _by_name(evaluate_gate(summary, GateConfig(max_fidelity_violation=0.25)),
                    "max_fidelity_violation")[0].passed


def test_gate_numbers_read_as_on_the_page(tmp_path):
    """Issue 17 item 12: the gate's messages, its table and junit.xml give a fraction as the page
    does (a percentage), a McNemar p as the page does, and the margin in percentage points."""
    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(loss=0.45))
    gate = _gate(tmp_path, "[gate]\nmax_precision_loss = 0.3\nrequire_significance = true\n")
    from harness.analysis.gate import apply_gate

    result = apply_gate(d, gate)
    check = _by_name(result, "max_precision_loss")[0]
    page = (d / "report.html").read_text()
    assert "45.0%" in page and "45.0%" in check.message and "0.45" not in check.message
    p_text = re.search(r"McNemar p = (\S+) <", check.message)
    assert p_text is not None and p_text.group(1) in page  # the page's p-value, digit for digit
    failure = ET.parse(d / "junit.xml").getroot().find(".//failure")
    assert failure is not None and "value: 45.0%\nthreshold: 30.0%" in (failure.text or "")
    assert "| 45.0% | 30.0% |" in (d / "summary.md").read_text()
