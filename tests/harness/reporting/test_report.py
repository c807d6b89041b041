"""Release report: a real eval directory rendered and opened in headless Chromium, graceful
rendering of partial summaries, summary.md, and ``harness report DIR``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.reporting.report import (
    GATE_END,
    GATE_START,
    gate_markdown,
    update_gate_section,
    write_report,
)
from tests.harness.reporting import report_fixtures as rf

SECTIONS = ("gate", "pass-at-1", "tasks", "errors", "metamorphic", "provenance")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
#: Any reference that would make the browser fetch something from elsewhere.
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster|data|xlink:href)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)|(?:@import)""",
    re.I,
)


def chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser",
                 "google-chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


def run_chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    binary = chromium()
    assert binary is not None
    profile.mkdir(parents=True, exist_ok=False)
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )


def assert_self_contained(text: str) -> None:
    """No external requests: no http(s):// or protocol-relative URL in src/href/url(), no
    stylesheet links or script sources, and every image inline."""
    assert not EXTERNAL.search(text), EXTERNAL.search(text)
    assert "<link" not in text.lower()
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    for tag in re.findall(r"<img\b[^>]*>", text, re.I):
        src = re.search(r"""\bsrc\s*=\s*["']?([^"'\s>]+)""", tag)
        assert src and src.group(1).startswith("data:"), tag


def chart_svgs(text: str) -> tuple[int, int]:
    """(figures, figures whose chart is an inline SVG)."""
    figures = re.findall(r'<figure class="chart">(.*?)</figure>', text, re.S)
    return len(figures), sum(bool(re.match(r'\s*<svg\b[^>]*class="chart-svg"', f)) and "</svg>" in f
                             for f in figures)


# ----------------------------------------------------------------------------- real eval, Chromium


@pytest.mark.slow
def test_real_eval_report_renders_in_chromium(tmp_path, tmp_path_factory, data_dir):
    if chromium() is None:
        pytest.skip("chromium not installed (apt-get install chromium; CI's .ci/run installs it)")
    real = rf.shared_eval_dir(tmp_path_factory, data_dir)
    d = rf.copy_eval_dir(real, tmp_path / "eval")
    gate = tmp_path / "gate.toml"
    gate.write_text("[gate]\nmax_precision_loss = 0.3\nmin_student_pass_at_1 = 0.1\n"
                    "max_category_increase = 1\nmax_fidelity_violation = 0.25\n")
    proc = rf.run_harness("gate", d, "--config", gate, cache=tmp_path / "c")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the student loses 60%
    report = d / "report.html"
    text = report.read_text(encoding="utf-8")

    # Self-contained, every chart an inline SVG, and model output escaped.
    assert_self_contained(text)
    n_fig, n_svg = chart_svgs(text)
    # pass@1, per dataset the categories and Table 13, metamorphic on humaneval+.
    assert n_fig == n_svg == 6
    assert rf.MARKUP not in text and "<script>alert" not in text
    assert "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;alert(" in text

    # Chromium: a screenshot next to the report, and the DOM it built.
    shot = d / "report.png"
    run = run_chromium(report, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,4000")
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 20_000
    _assert_not_blank(shot)
    run = run_chromium(report, tmp_path / "profile-dom", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert "</html>" in dom
    for section in SECTIONS:
        assert re.search(rf'<section id="{section}"', dom), section
    assert 'class="verdict failed"' in dom and "GATE FAILED" in dom
    assert dom.count('class="chart-svg"') == 6
    assert not re.findall(r"<img\b", dom)  # the injected <img onerror> stayed text
    assert "alert('pwned')" in dom  # ... shown verbatim as code
    assert not re.search(r"<script>alert", dom)
    for word in ("Traceback", "Undefined", "jinja2", "{{", "{%"):
        assert word not in dom, word
    # Every regressed task of the student is there, with the teacher's and the student's code.
    summary = json.loads((d / "summary.json").read_text())
    for name, ds in summary["datasets"].items():
        for tid in ds["regressed"]:
            anchor = f'{name.replace("+", "plus")}-{tid.lower().replace("/", "-")}-regressed'
            assert f'id="{anchor}"' in dom, anchor
    assert "NameError:missing_import" in dom and "TimeoutError:timeout" in dom
    assert "param_rename" in dom and "fidelity_violation_rate" in dom
    assert "v0.1.10" in dom and "openai-human-eval" in dom


def _assert_not_blank(png: Path) -> None:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - matplotlib brings Pillow
        return
    with Image.open(png) as im:
        assert im.size == (1280, 4000)
        colors = im.convert("RGB").resize((64, 200)).getcolors(64 * 200)
        assert colors is not None and len(colors) > 20  # text, charts and colour, not a blank page


# ----------------------------------------------------------------------------- partial summaries


def test_minimal_summary_renders_gracefully(tmp_path):
    summary = rf.synthetic_summary(ci=False, with_base_dataset=False)
    ds = summary["datasets"]["humaneval+"]
    for key in ("taxonomy", "mcnemar", "precision_loss_ci"):
        del ds[key]
    del summary["settings"], summary["mean_precision_loss"]
    d = rf.write_eval_dir(tmp_path / "eval", summary, samples=False)
    out = write_report(d)
    assert out == d / "report.html"
    text = out.read_text()
    assert_self_contained(text)
    for section in SECTIONS:
        assert f'<section id="{section}"' in text
    assert "No release gate applied" in text
    assert "Metamorphic testing did not run" in text
    assert "No taxonomy counts" in text
    assert "Samples or results of a model are missing" in text
    assert not (d / "junit.xml").exists()
    n_fig, n_svg = chart_svgs(text)
    assert n_fig == n_svg == 1  # pass@1 only
    md = (d / "summary.md").read_text()
    assert md.startswith("<!-- generated by harness report")
    assert GATE_START not in md and "| humaneval+ | plus (primary) |" in md


def test_full_synthetic_report(tmp_path):
    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(metamorphic=rf.METAMORPHIC))
    text = write_report(d).read_text()
    assert_self_contained(text)
    n_fig, n_svg = chart_svgs(text)
    assert n_fig == n_svg == 6
    assert "org/student-1b" in text and "org/teacher-7b" in text
    # Code is escaped and shown side by side, the differing lines marked.
    assert "&lt;b&gt;bold&lt;/b&gt;" in text and "<b>bold</b>" not in text
    assert '<span class="l del">' in text and '<span class="l add">' in text
    assert "[50.0, 70.0]" in text  # student pass@1 interval, in percent
    assert "< 0.001" not in text and "0.010" in text  # McNemar p
    # Unique ids across the inline SVGs.
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))


def test_long_task_lists_are_collapsed(tmp_path, monkeypatch):
    import harness.reporting.report as report

    monkeypatch.setattr(report, "MAX_TASKS_SHOWN", 1)
    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(with_base_dataset=False))
    text = write_report(d).read_text()
    assert text.count('<details class="task"') == 2  # one regressed, one gained
    assert "1 more regressed tasks" in text and "<code>HumanEval/2</code>" in text


# ----------------------------------------------------------------------------- summary.md


def test_gate_section_goes_into_the_eval_commands_summary_md(tmp_path):
    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(loss=0.45), samples=False)
    theirs = "## Distillation eval: student vs teacher\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    (d / "summary.md").write_text(theirs)
    gate = tmp_path / "gate.toml"
    gate.write_text("[gate]\nmax_precision_loss = 0.3\n")
    from harness.analysis.gate import apply_gate

    apply_gate(d, gate)
    md = (d / "summary.md").read_text()
    assert md.endswith(theirs) and md.startswith(GATE_START)
    assert "## Release gate: ❌ FAILED" in md
    apply_gate(d, gate)  # again: replaced, not duplicated
    md2 = (d / "summary.md").read_text()
    assert md2.count(GATE_START) == 1 and md2.count(GATE_END) == 1 and md2.endswith(theirs)


def test_update_gate_section_after_a_title():
    section = f"{GATE_START}\nG\n{GATE_END}\n"
    text = "# Title\n\nbody\n"
    once = update_gate_section(text, section)
    assert once == f"# Title\n\n{section}\n\nbody\n"
    assert update_gate_section(once, section) == once
    removed = update_gate_section(once, "")
    assert GATE_START not in removed and removed.startswith("# Title\n") and "body" in removed


def test_gate_markdown_lists_failed_and_skipped_checks():
    from harness.analysis.gate import GateConfig, evaluate_gate

    result = evaluate_gate(rf.synthetic_summary(loss=0.45), GateConfig(max_precision_loss=0.3,
                                                                          max_fidelity_violation=0.2))
    md = gate_markdown(result)
    assert md.startswith(GATE_START) and md.rstrip().endswith(GATE_END)
    assert "❌ FAILED" in md and "exceeds the maximum 30.0% by 15.0 points" in md
    assert "Skipped:" in md and "metamorphic testing did not run" in md
    assert gate_markdown(result.to_dict()) == md


# ----------------------------------------------------------------------------- harness report


def test_cli_report_rerenders_an_eval_directory(tmp_path):
    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(metamorphic=rf.METAMORPHIC))
    first = write_report(d).read_text()
    (d / "report.html").unlink()
    proc = rf.run_harness("report", d, cache=tmp_path / "c")
    assert proc.returncode == 0 and "report.html" in proc.stdout
    assert (d / "report.html").read_text() == first  # deterministic
    # A gate verdict recorded in summary.json shows up on the next render, with junit.xml.
    summary = json.loads((d / "summary.json").read_text())
    summary["gate"] = {"passed": False, "checks": [
        {"name": "max_precision_loss", "dataset": "humaneval+", "value": 0.4, "threshold": 0.3,
         "passed": False, "message": "precision loss (plus) 0.4 exceeds the maximum 0.3 by 0.1"}]}
    (d / "summary.json").write_text(json.dumps(summary))
    write_report(d)
    assert "GATE FAILED" in (d / "report.html").read_text()
    assert 'name="max_precision_loss"' in (d / "junit.xml").read_text()


@pytest.mark.parametrize("case", ["missing-dir", "no-summary", "bad-json", "not-eval"])
def test_cli_report_bad_directory_exits_2(tmp_path, case):
    d = tmp_path / "eval"
    if case != "missing-dir":
        d.mkdir()
    if case == "bad-json":
        (d / "summary.json").write_text("{")
    if case == "not-eval":
        (d / "summary.json").write_text(json.dumps({"dataset": "humaneval+", "pass@1": {"base": 1}}))
    proc = rf.run_harness("report", d, cache=tmp_path / "c")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness report: error:")


def test_report_defines_fidelity_and_says_what_a_rate_rests_on(tmp_path):
    meta = {"relations": {"param_rename": {"group": "strict", "fidelity_violation_rate": None,
                                           "fidelity_pairs": 4, "fidelity_min_pairs": 10}},
            "overall": {"fidelity_violation_rate": None, "fidelity_pairs": 4, "fidelity_min_pairs": 10}}
    d = rf.write_eval_dir(tmp_path / "eval", rf.synthetic_summary(metamorphic=meta))
    text = write_report(d).read_text()
    assert "teacher-solved pairs" in text and "fewer than 10 is not measured" in text
    assert "not measured</strong>: it would rest on 4 teacher-solved pairs (at least 10 needed)" in text
    assert "fidelity_pairs" in text
    md = (d / "summary.md").read_text()
    assert "fidelity-violation rate not measured: 4 teacher-solved pairs" in md


def test_error_chart_legend_covers_no_bar_and_no_label():
    """Long bars in every row (the student fails everything the same way): the legend used to
    sit in the lower right, on top of the bars and their value labels."""
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from harness.reporting.report import Charts

    rows = [{"category": f"Error{i}:other", "teacher": 18 + i, "student": 20 + i} for i in range(5)]
    fig = Charts().categories_figure(rows)
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    drawn = [p.get_window_extent(renderer) for p in ax.patches] + [t.get_window_extent(renderer) for t in ax.texts]
    assert len(drawn) == 20
    assert not [b for b in drawn if legend.overlaps(b)]


def test_provenance_shows_what_was_used_in_human_units(tmp_path):
    """Default jobs are the sandbox's actual runner count, generated samples say where they were
    kept, and limits read as sizes and seconds, not 4294967296."""
    summary = rf.synthetic_summary(with_base_dataset=False)
    summary["settings"].update(jobs=None, limits={"memory_bytes": 4 * 1024**3, "tmpfs_bytes": 256 * 1024**2,
                                                  "min_time_limit": 1.0, "time_limit_factor": 4.0,
                                                  "open_files": 64})
    d = rf.write_eval_dir(tmp_path / "eval", summary)
    (d / "student" / "humaneval+" / "summary.json").write_text(json.dumps({"sandbox": {"backend": "local",
                                                                                        "jobs": 2}}))
    text = write_report(d).read_text()
    prov = text[text.index('<section id="provenance"'):]
    assert "<th>jobs</th><td class=\"mono\">2</td>" in prov
    assert "None" not in prov and "4294967296" not in prov
    assert "<th>limits.memory_bytes</th><td class=\"mono\">4 GiB</td>" in prov
    assert "<th>limits.tmpfs_bytes</th><td class=\"mono\">256 MiB</td>" in prov
    assert "<th>limits.min_time_limit</th><td class=\"mono\">1 s</td>" in prov
    assert "<th>limits.time_limit_factor</th><td class=\"mono\">4x</td>" in prov
    assert "generated: student/humaneval+/samples.jsonl" in prov
