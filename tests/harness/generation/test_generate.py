"""``harness generate`` end to end on tiny offline models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.core.errors import UsageError

KEYS = {
    "task_id",
    "sample_index",
    "solution",
    "completion",
    "raw",
    "n_tokens",
    "n_prompt_tokens",
    "finish_reason",
    "model",
    "revision",
    "template",
    "dataset",
    "temperature",
    "top_p",
    "max_new_tokens",
    "seed",
    "gen_hash",
    "prompt_hash",
}


def generate(
    model: Path, out: Path, data_dir: Path, *extra: str, dataset: str = "humaneval"
) -> int:
    argv = [
        "generate",
        "--model",
        str(model),
        "--dataset",
        dataset,
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
        "--quiet",
        *extra,
    ]
    return main(argv)


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("arch", ["gpt2", "gpt_bigcode"])
def test_humaneval_jsonl_is_well_formed(
    arch: str, tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.jsonl"
    assert (
        generate(
            tiny_models[arch],
            out,
            data_dir,
            "--limit",
            "3",
            "--max-new-tokens",
            "12",
            "--batch-size",
            "2",
        )
        == 0
    )
    got = rows(out)
    assert [r["task_id"] for r in got] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    from harness.data.datasets import load_dataset

    tasks = load_dataset("humaneval", data_dir).tasks
    for r in got:
        assert set(r) == KEYS
        assert r["sample_index"] == 0
        assert r["solution"] == tasks[r["task_id"]].prompt + r["completion"]
        assert r["raw"].startswith(r["completion"])
        assert 1 <= r["n_tokens"] <= 12
        assert r["finish_reason"] in ("stop", "eos", "length")
        assert (r["model"], r["template"], r["dataset"]) == (
            str(tiny_models[arch]),
            "plain",
            "humaneval",
        )


def test_mbpp_plus(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    assert (
        generate(
            tiny_models["gpt_bigcode"],
            out,
            data_dir,
            "--limit",
            "2",
            "--max-new-tokens",
            "8",
            dataset="mbpp+",
        )
        == 0
    )
    got = rows(out)
    assert [r["task_id"] for r in got] == ["Mbpp/2", "Mbpp/3"]
    assert all(set(r) == KEYS and r["dataset"] == "mbpp+" for r in got)


@pytest.mark.parametrize("arch", ["gpt2", "gpt_bigcode"])
def test_greedy_is_deterministic_and_batch_size_invariant(
    arch: str, tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path
) -> None:
    common = ("--limit", "5", "--max-new-tokens", "16")
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert generate(tiny_models[arch], a, data_dir, *common, "--batch-size", "1") == 0
    assert generate(tiny_models[arch], b, data_dir, *common, "--batch-size", "4") == 0
    assert generate(tiny_models[arch], c, data_dir, *common, "--batch-size", "4") == 0
    assert a.read_text() == b.read_text() == c.read_text()
    assert len({r["raw"] for r in rows(a)}) > 1  # outputs depend on the prompt


def test_resume_appends_only_missing(
    tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    common = ("--max-new-tokens", "8", "--n-samples", "2", "--temperature", "0.8")
    assert generate(tiny_models["gpt2"], out, data_dir, "--limit", "2", *common) == 0
    first = rows(out)
    assert len(first) == 4
    # Tamper with a line: a resumed run must keep it, not regenerate it.
    first[0]["raw"] = "KEEP ME"
    text = "".join(json.dumps(r) + "\n" for r in first)
    out.write_text(text + '{"task_id": "HumanEval/2", "sample_in')  # torn last line
    assert generate(tiny_models["gpt2"], out, data_dir, "--limit", "3", *common) == 0
    second = rows(out)
    keys = [(r["task_id"], r["sample_index"]) for r in second]
    assert keys == [(f"HumanEval/{t}", k) for t in range(3) for k in range(2)]
    assert second[0]["raw"] == "KEEP ME"
    assert second[:4] == first
    # Nothing missing: a third run changes nothing.
    before = out.read_text()
    assert generate(tiny_models["gpt2"], out, data_dir, "--limit", "3", *common) == 0
    assert out.read_text() == before


def test_resume_refuses_other_settings(
    tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.jsonl"
    assert (
        generate(tiny_models["gpt2"], out, data_dir, "--limit", "1", "--max-new-tokens", "4") == 0
    )
    assert (
        generate(tiny_models["gpt2"], out, data_dir, "--limit", "1", "--max-new-tokens", "5") == 2
    )
    assert "other settings" in capsys.readouterr().err


def test_sampling_n_samples_and_seed(
    tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path
) -> None:
    common = (
        "--limit",
        "2",
        "--max-new-tokens",
        "10",
        "--n-samples",
        "3",
        "--temperature",
        "1.0",
        "--top-p",
        "0.9",
    )
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert generate(tiny_models["gpt2"], a, data_dir, *common, "--seed", "7") == 0
    assert generate(tiny_models["gpt2"], b, data_dir, *common, "--seed", "7") == 0
    got = rows(a)
    assert [(r["task_id"], r["sample_index"]) for r in got] == [
        (f"HumanEval/{t}", k) for t in range(2) for k in range(3)
    ]
    assert a.read_text() == b.read_text()
    assert len({r["raw"] for r in got}) > 1  # sampling differs between samples


def test_greedy_n_samples_repeat_one_output(
    tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "g.jsonl"
    assert (
        generate(
            tiny_models["gpt2"],
            out,
            data_dir,
            "--limit",
            "1",
            "--max-new-tokens",
            "6",
            "--n-samples",
            "3",
        )
        == 0
    )
    got = rows(out)
    assert [r["sample_index"] for r in got] == [0, 1, 2]
    assert len({r["raw"] for r in got}) == 1


def test_chat_template(chat_model: Path, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    assert (
        generate(
            chat_model, out, data_dir, "--limit", "2", "--max-new-tokens", "8", "--template", "chat"
        )
        == 0
    )
    got = rows(out)
    assert all(r["template"] == "chat" for r in got)
    # the answer is code-extracted, and the prompt's imports are carried over into the program
    assert got[0]["solution"].startswith("from typing import List")
    assert get_chat_prompt(chat_model).startswith(
        "<|user|>\nPlease provide a self-contained Python script"
    )


def get_chat_prompt(model: Path) -> str:
    from transformers import AutoTokenizer

    from harness.generation import get_template

    return get_template("chat").render("def f():\n    pass\n", AutoTokenizer.from_pretrained(model))


@pytest.mark.parametrize("template", ["starcoder", "instruct-eval", "alpaca"])
def test_other_templates_run(
    template: str, tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "t.jsonl"
    assert (
        generate(
            tiny_models["gpt_bigcode"],
            out,
            data_dir,
            "--limit",
            "1",
            "--max-new-tokens",
            "6",
            "--template",
            template,
        )
        == 0
    )
    (row,) = rows(out)
    assert row["template"] == template and set(row) == KEYS


def test_api_with_transformed_prompts(
    tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path
) -> None:
    from harness.data.datasets import load_dataset
    from harness.generation import GenerationConfig, generate_samples

    ds = load_dataset("humaneval", data_dir)
    renamed = ds.tasks["HumanEval/3"].prompt.replace("below_zero", "under_zero")
    cfg = GenerationConfig(model=str(tiny_models["gpt2"]), max_new_tokens=4, batch_size=2)
    out = generate_samples(
        ds, cfg, tmp_path / "p.jsonl", prompts={"HumanEval/3": renamed}, quiet=True
    )
    (row,) = rows(out)
    assert row["task_id"] == "HumanEval/3" and row["solution"].startswith(renamed)
    # the same file cannot be resumed with another transformation of the prompt
    with pytest.raises(UsageError, match="another prompt"):
        generate_samples(ds, cfg, out, prompts={"HumanEval/3": renamed + "\n"}, quiet=True)
    with pytest.raises(UsageError, match="unknown task id"):
        generate_samples(ds, cfg, tmp_path / "q.jsonl", prompts={"HumanEval/999": "x"}, quiet=True)
    with pytest.raises(UsageError, match="unknown task id"):
        generate_samples(ds, cfg, tmp_path / "q.jsonl", task_ids=["Nope/1"], quiet=True)


def test_leftover_shards_are_merged(
    tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path
) -> None:
    """Shards of an interrupted multi-process run count as done and end up in the file."""
    from harness.generation.samples import shard_path

    full = tmp_path / "full.jsonl"
    assert (
        generate(tiny_models["gpt2"], full, data_dir, "--limit", "3", "--max-new-tokens", "6") == 0
    )
    done = rows(full)
    out = tmp_path / "out.jsonl"
    shard = shard_path(out, 1, 2)
    done[1]["raw"] = "FROM SHARD"
    shard.write_text(json.dumps(done[1]) + "\n")
    assert (
        generate(tiny_models["gpt2"], out, data_dir, "--limit", "3", "--max-new-tokens", "6") == 0
    )
    got = rows(out)
    assert [r["task_id"] for r in got] == [r["task_id"] for r in done]
    assert got[1]["raw"] == "FROM SHARD" and got[0] == done[0] and got[2] == done[2]
    assert not shard.exists()


def test_static_cache_matches_dynamic(
    tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path
) -> None:
    """The static-cache path (used and compiled on CUDA) yields the same greedy samples."""
    from harness.data.datasets import load_dataset
    from harness.generation import GenerationConfig, generate_samples

    ds = load_dataset("humaneval", data_dir)
    texts = []
    for static in (False, True):
        cfg = GenerationConfig(
            model=str(tiny_models["gpt_bigcode"]),
            max_new_tokens=12,
            batch_size=3,
            static_cache=static,
        )
        out = generate_samples(ds, cfg, tmp_path / f"s{static}.jsonl", limit=4, quiet=True)
        texts.append(out.read_text())
    assert texts[0] == texts[1]
