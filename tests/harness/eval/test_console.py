"""What ``harness eval --gate`` prints: the results table, then the gate's verdict once, then a
last line naming every file a CI job picks up (report.html, junit.xml)."""

from __future__ import annotations

from pathlib import Path

from tests.harness.reporting import report_fixtures as rf


def test_gate_verdict_once_after_the_table_and_the_files_named_last(tmp_path: Path, data_dir: Path) -> None:
    data = rf.make_data_dir(tmp_path / "data", data_dir)
    teacher, student = rf.make_samples(data, tmp_path)
    gate = tmp_path / "gate.toml"
    gate.write_text("[gate]\nmin_student_pass_at_1 = 1.0\n")
    out = tmp_path / "eval"
    proc = rf.run_harness("eval", "--student-samples", student, "--teacher-samples", teacher, "--dataset",
                          "humaneval+", "--data-dir", data, "--out", out, "--jobs", "2", "--no-progress",
                          "--quiet", "--cache-dir", tmp_path / "cache" / "models", "--gate", gate,
                          cache=tmp_path / "cache")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.strip().splitlines()
    table = next(i for i, x in enumerate(lines) if x.startswith("dataset "))
    verdicts = [i for i, x in enumerate(lines) if "FAILED" in x]
    assert len(verdicts) == 1 and verdicts[0] > table, proc.stdout
    assert lines[verdicts[0]].startswith("gate FAILED: 0 of 1 checks passed, 1 failed")
    assert lines[verdicts[0] + 1].startswith("  FAIL humaneval+: min_student_pass_at_1")
    assert lines[-1] == (f"wrote {out / 'report.html'}, {out / 'summary.md'}, {out / 'summary.json'} "
                         f"and {out / 'junit.xml'}")
    assert (out / "report.html").is_file() and (out / "junit.xml").is_file()
