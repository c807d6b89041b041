"""Bad input to ``harness eval``: one line on stderr, exit 2, before anything heavy runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import REPO, write_jsonl


@pytest.fixture
def he_samples(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "he.jsonl", [{"task_id": "HumanEval/0", "completion": "    return True\n"}])


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("harness eval: error: ")
    for needle in needles:
        assert needle in err
    return err


@pytest.mark.slow  # a fresh interpreter imports torch to check the model (> 15 s on a loaded machine)
def test_unknown_model_path_subprocess(tmp_path: Path, he_samples: Path, data_dir: Path) -> None:
    """Through the real entry point: a one-line message, no traceback, exit 2."""
    argv = [sys.executable, "-m", "harness", "eval", "--student", str(tmp_path / "no-such-model"),
            "--teacher-samples", str(he_samples), "--dataset", "humaneval", "--out", str(tmp_path / "out"),
            "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-model" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_model_path(capsys: pytest.CaptureFixture[str], tmp_path: Path, he_samples: Path,
                            data_dir: Path) -> None:
    _fails(capsys, ["eval", "--student", str(tmp_path / "no-such-model"), "--teacher-samples", str(he_samples),
                    "--dataset", "humaneval", "--out", str(tmp_path / "o"), "--data-dir", str(data_dir)],
           "model directory not found", "no-such-model")
    assert not (tmp_path / "o").exists()


def test_unknown_dataset(capsys: pytest.CaptureFixture[str], tmp_path: Path, he_samples: Path, data_dir: Path) -> None:
    _fails(capsys, ["eval", "--student-samples", str(he_samples), "--teacher-samples", str(he_samples),
                    "--dataset", "humaneval++", "--out", str(tmp_path / "o"), "--data-dir", str(data_dir)],
           "unknown dataset 'humaneval++'")


def test_samples_of_the_wrong_dataset(capsys: pytest.CaptureFixture[str], tmp_path: Path, he_samples: Path,
                                      data_dir: Path) -> None:
    mbpp = write_jsonl(tmp_path / "mbpp.jsonl", [{"task_id": "Mbpp/2", "solution": "def f():\n    pass\n"}])
    _fails(capsys, ["eval", "--student-samples", str(mbpp), "--teacher-samples", str(he_samples),
                    "--dataset", "humaneval+", "--out", str(tmp_path / "o"), "--data-dir", str(data_dir),
                    "--cache-dir", str(tmp_path / "cache")],
           "--student-samples", "Mbpp/2", "humaneval+")
    assert not (tmp_path / "o").exists()


def test_samples_file_missing_a_requested_dataset(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  he_samples: Path, data_dir: Path) -> None:
    _fails(capsys, ["eval", "--student-samples", str(he_samples), "--teacher-samples", str(he_samples),
                    "--dataset", "humaneval", "--dataset", "mbpp", "--out", str(tmp_path / "o"),
                    "--data-dir", str(data_dir)],
           "no samples for dataset mbpp")


def test_missing_samples_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, he_samples: Path,
                              data_dir: Path) -> None:
    _fails(capsys, ["eval", "--student-samples", str(he_samples), "--teacher-samples", str(tmp_path / "nope.jsonl"),
                    "--dataset", "humaneval", "--out", str(tmp_path / "o"), "--data-dir", str(data_dir)],
           "--teacher-samples", "not found")


def test_malformed_samples_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, he_samples: Path,
                                data_dir: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "HumanEval/0", "completion": "x"}\n{not json\n')
    _fails(capsys, ["eval", "--student-samples", str(bad), "--teacher-samples", str(he_samples),
                    "--dataset", "humaneval", "--out", str(tmp_path / "o"), "--data-dir", str(data_dir)],
           "bad.jsonl:2", "malformed JSON")


def test_a_model_is_required(capsys: pytest.CaptureFixture[str], tmp_path: Path, he_samples: Path,
                             data_dir: Path) -> None:
    _fails(capsys, ["eval", "--student-samples", str(he_samples), "--dataset", "humaneval",
                    "--out", str(tmp_path / "o"), "--data-dir", str(data_dir)],
           "--teacher")


def test_bad_limit_and_missing_gate_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, he_samples: Path,
                                         data_dir: Path) -> None:
    common = ["eval", "--student-samples", str(he_samples), "--teacher-samples", str(he_samples),
              "--dataset", "humaneval", "--out", str(tmp_path / "o"), "--data-dir", str(data_dir)]
    _fails(capsys, [*common, "--limit", "0"], "--limit")
    _fails(capsys, [*common, "--gate", str(tmp_path / "gate.toml")], "gate file not found")


def test_metamorphic_needs_both_models(capsys: pytest.CaptureFixture[str], tmp_path: Path, he_samples: Path,
                                       data_dir: Path) -> None:
    """--metamorphic generates on transformed prompts: samples files alone are a usage error,
    before anything runs."""
    _fails(capsys, ["eval", "--student-samples", str(he_samples), "--teacher-samples", str(he_samples),
                    "--dataset", "humaneval", "--out", str(tmp_path / "o"), "--data-dir", str(data_dir),
                    "--metamorphic"],
           "--metamorphic needs both models")
    assert not (tmp_path / "o").exists()


def test_a_samples_line_with_a_unicode_line_separator_is_one_line(tmp_path: Path) -> None:
    """Outputs are written with ensure_ascii=False: U+2028 inside one must not split its line
    (str.splitlines would, and the file would look stale and be thrown away)."""
    import json

    from harness.pipeline import _drop_stale_generation

    samples = tmp_path / "samples.jsonl"
    row = {"task_id": "HumanEval/0", "completion": "x = 1\u2028y = 2", "gen_hash": "h"}
    samples.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    _drop_stale_generation(samples, "h")
    assert samples.exists()
    _drop_stale_generation(samples, "other")
    assert not samples.exists()
