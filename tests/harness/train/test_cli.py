"""`harness train` on the command line: bad input exits 2 with one line, help stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[3]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(["train", *argv])
    err = capsys.readouterr().err
    return rc, err


def _data(tmp_path: Path) -> Path:
    p = tmp_path / "d.json"
    p.write_text(json.dumps([{"instruction": "add", "input": "", "output": "a + b"}]))
    return p


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; import harness.commands.train as t, argparse; "
        "p = argparse.ArgumentParser(); s = p.add_subparsers(); t.add_parser(s); "
        "p.parse_args(['train', '--method', 'akd', '--student', 's', '--data', 'd', "
        "'--out', 'o']); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False False", out.stderr


def test_unknown_method(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, err = _run(capsys, "--method", "dpo", "--student", "s", "--teacher", "t", "--data",
                   str(_data(tmp_path)), "--out", str(tmp_path / "o"))
    assert rc == 2
    assert "unknown method 'dpo'" in err and len(err.strip().splitlines()) == 1


def test_missing_data_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, err = _run(capsys, "--method", "sft", "--student", "s", "--data",
                   str(tmp_path / "missing.json"), "--out", str(tmp_path / "o"))
    assert rc == 2 and "not found" in err and len(err.strip().splitlines()) == 1


def test_malformed_data(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\nnot json\n')
    rc, err = _run(capsys, "--method", "sft", "--student", "s", "--data", str(bad), "--out",
                   str(tmp_path / "o"))
    assert rc == 2 and "malformed" in err


def test_teacher_required(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, err = _run(capsys, "--method", "akd", "--student", "s", "--data",
                   str(_data(tmp_path)), "--out", str(tmp_path / "o"))
    assert rc == 2 and "--teacher is required" in err


def test_missing_student_checkpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    rc, err = _run(capsys, "--method", "sft", "--student", str(tmp_path / "nope"), "--data",
                   str(_data(tmp_path)), "--out", str(tmp_path / "o"))
    assert rc == 2 and len(err.strip().splitlines()) == 1


def test_vocab_mismatch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from harness.demo.tiny import make_model, train_tokenizer

    texts = [f"def f{i}(x):\n    return x * {i}\n" for i in range(200)]
    tok_a = train_tokenizer(texts, tmp_path / "ta", vocab_size=300)
    tok_b = train_tokenizer(texts + ["class A: pass"] * 5, tmp_path / "tb", vocab_size=330)
    make_model(tmp_path / "s", tok_a, n_layer=1, n_embd=16, n_head=2, n_positions=64)
    make_model(tmp_path / "t", tok_b, n_layer=1, n_embd=16, n_head=2, n_positions=64)
    capsys.readouterr()  # drop make_model's own output
    rc, err = _run(capsys, "--method", "kd", "--student", str(tmp_path / "s"), "--teacher",
                   str(tmp_path / "t"), "--data", str(_data(tmp_path)), "--out",
                   str(tmp_path / "o"))
    assert rc == 2 and "vocabulary" in err and len(err.strip().splitlines()) == 1


def test_model_vocab_check() -> None:
    torch = pytest.importorskip("torch")
    from transformers import GPT2Config, GPT2LMHeadModel

    from harness.core.errors import UsageError
    from harness.train.trainer import check_vocab

    def model(v: int) -> torch.nn.Module:
        return GPT2LMHeadModel(GPT2Config(vocab_size=v, n_layer=1, n_embd=8, n_head=2,
                                          n_positions=16))

    check_vocab(model(50), model(50))
    with pytest.raises(UsageError, match="vocabulary size mismatch: student has 50 tokens, "
                                         "teacher has 64"):
        check_vocab(model(50), model(64))
