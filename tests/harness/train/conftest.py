"""Tiny offline assets shared by the trainer tests: a BPE tokenizer, a 2-layer teacher that is
first SFT-trained (so it is not uniform), a smaller 1-layer student and short CodeAlpaca data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[4] / "shared" / "data"
if not DATA_DIR.is_dir():
    DATA_DIR = Path("/work/shared/data")
ALPACA = DATA_DIR / "code_alpaca_2k.json"

TEMPLATE = "starcoder"  # the shortest prompts: fewer tokens, faster tests
MAX_LENGTH = 96


@dataclass
class Tiny:
    root: Path
    tokenizer_dir: Path
    teacher_init: Path
    student: Path
    train_json: Path
    train_jsonl: Path
    heldout: list[dict]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if not ALPACA.is_file():
        pytest.skip(f"CodeAlpaca sample not found at {ALPACA}")
    from harness.demo.tiny import corpus_from_data_dir, make_model, train_tokenizer

    root = tmp_path_factory.mktemp("train_tiny")
    tok = train_tokenizer(corpus_from_data_dir(DATA_DIR, limit=800), root / "tok", 1024)
    make_model(root / "teacher0", tok, n_layer=2, n_embd=64, n_head=4, n_positions=256, seed=1)
    make_model(root / "student0", tok, n_layer=1, n_embd=32, n_head=2, n_positions=256, seed=2)
    rows = json.loads(ALPACA.read_text())
    short = sorted(
        (r for r in rows if not r.get("input")),
        key=lambda r: len(r["instruction"]) + len(r["output"]),
    )
    train_rows, heldout = short[:48:2], short[1:48:2][:8]  # interleaved: same distribution
    train_json = root / "train.json"
    train_json.write_text(json.dumps(train_rows))
    train_jsonl = root / "train.jsonl"
    train_jsonl.write_text("".join(json.dumps(r) + "\n" for r in train_rows))
    return Tiny(root, root / "tok", root / "teacher0", root / "student0", train_json,
                train_jsonl, heldout)


@pytest.fixture(scope="session")
def teacher(tiny: Tiny) -> Path:
    """The tiny teacher after a short, high-lr SFT run: peaked, non-uniform distributions."""
    from harness.train import TrainConfig, train

    out = tiny.root / "teacher"
    train(TrainConfig(
        method="sft", student=str(tiny.teacher_init), data=str(tiny.train_json), out=str(out),
        template=TEMPLATE, max_length=MAX_LENGTH, max_steps=20, batch_size=8, lr=5e-3,
        lr_scheduler="constant", progress=False, device="cpu",
    ))
    return out
