"""Config validation, fingerprints and the samples file (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import UsageError
from harness.generation import GenerationConfig, model_fingerprint
from harness.generation.samples import SampleWriter, canonical, finalize, read_samples, shard_path


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_samples": 0}, "n-samples"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0.0}, "top-p"),
        ({"max_new_tokens": 0}, "max-new-tokens"),
        ({"batch_size": 0}, "batch-size"),
        ({"dtype": "int8"}, "dtype"),
        ({"device": "tpu"}, "device"),
        ({"template": "nope"}, "template"),
        ({"model": " "}, "model"),
    ],
)
def test_impossible_settings(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"model": "m"}
    base.update(kwargs)
    with pytest.raises(UsageError, match=message):
        GenerationConfig(**base).validate()  # type: ignore[arg-type]


def test_output_hash_ignores_speed_settings() -> None:
    a = GenerationConfig(model="m", batch_size=1, n_samples=1, dtype="float32")
    b = GenerationConfig(model="m", batch_size=8, n_samples=5, dtype="bfloat16", device="cpu")
    assert a.output_hash("humaneval") == b.output_hash("humaneval")
    assert a.output_hash("humaneval") != a.output_hash("mbpp")
    assert a.output_hash("humaneval") != GenerationConfig(model="m", template="alpaca").output_hash(
        "humaneval"
    )


def test_fingerprint(tmp_path: Path) -> None:
    assert model_fingerprint("bigcode/starcoderbase-1b", None) == "bigcode/starcoderbase-1b@main"
    assert model_fingerprint("bigcode/starcoderbase-1b", "v1") == "bigcode/starcoderbase-1b@v1"
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    first = model_fingerprint(tmp_path)
    assert first.startswith("sha256:") and first == model_fingerprint(str(tmp_path), "ignored")
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    assert model_fingerprint(tmp_path) != first


def _row(tid: str, k: int) -> dict[str, object]:
    return {"task_id": tid, "sample_index": k, "solution": "x"}


def test_torn_line_is_dropped_and_appending_resumes(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    out.write_text(json.dumps(_row("A/1", 0)) + "\n" + '{"task_id": "A/1", "sam')
    rows, damaged = read_samples(out)
    assert damaged and len(rows) == 1
    with SampleWriter(out) as w:
        w.write([_row("A/1", 1)])
    rows, damaged = read_samples(out)
    assert not damaged and [r["sample_index"] for r in rows] == [0, 1]


def test_canonical_order_and_shard_merge(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    order = ["T/0", "T/1", "T/2"]
    with SampleWriter(out) as w:
        w.write([_row("T/2", 0), _row("T/0", 1)])
    with SampleWriter(shard_path(out, 1, 2)) as w:
        w.write([_row("T/1", 0), _row("T/0", 0), _row("T/2", 0)])
    assert finalize(out, order, [shard_path(out, 1, 2)]) == 4
    rows, _ = read_samples(out)
    assert [(r["task_id"], r["sample_index"]) for r in rows] == [
        ("T/0", 0),
        ("T/0", 1),
        ("T/1", 0),
        ("T/2", 0),
    ]
    assert not shard_path(out, 1, 2).exists()
    assert canonical([_row("X/9", 0), _row("T/1", 0)], order)[0]["task_id"] == "T/1"
