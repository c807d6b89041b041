"""A tiny model trained to answer two HumanEval tasks: exact outputs, EOS, stops and length."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli import main
from harness.data.datasets import load_dataset

from .conftest import STOP_TAIL


def _generate(model: Path, out: Path, data_dir: Path, *extra: str) -> list[dict[str, object]]:
    argv = [
        "generate",
        "--model",
        str(model),
        "--dataset",
        "humaneval",
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
        "--quiet",
        *extra,
    ]
    assert main(argv) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_emits_the_known_solution_then_eos(
    trained_model: Path, data_dir: Path, tmp_path: Path
) -> None:
    task = load_dataset("humaneval", data_dir).tasks["HumanEval/0"]
    (row,) = _generate(
        trained_model, tmp_path / "a.jsonl", data_dir, "--limit", "1", "--max-new-tokens", "200"
    )
    assert row["completion"] == task.canonical_solution
    assert row["solution"] == task.prompt + task.canonical_solution
    assert row["finish_reason"] == "eos"


def test_stop_sequence_cuts_and_stops_early(
    trained_model: Path, data_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    task = load_dataset("humaneval", data_dir).tasks["HumanEval/2"]
    rows = _generate(
        trained_model,
        tmp_path / "b.jsonl",
        data_dir,
        "--limit",
        "3",
        "--max-new-tokens",
        "200",
        "--batch-size",
        "3",
    )
    row = next(r for r in rows if r["task_id"] == "HumanEval/2")
    # cut before "\ndef extra", keeping the blank line the model wrote after the body
    assert row["completion"] == task.canonical_solution + "\n"
    assert row["finish_reason"] == "stop"
    # stopped as soon as "\ndef " appeared: the rest of the learned text was never generated
    tok = AutoTokenizer.from_pretrained(trained_model)
    learned = len(tok(task.canonical_solution + STOP_TAIL)["input_ids"]) + 1
    assert row["n_tokens"] < learned - 3
    assert "return 0" not in row["raw"]
    assert next(r for r in rows if r["task_id"] == "HumanEval/0")["finish_reason"] == "eos"


def test_batch_exits_when_all_rows_are_done(trained_model: Path, data_dir: Path) -> None:
    """One row ends at EOS, the other at a stop sequence: generate returns right after both,
    far before max_new_tokens."""
    from harness.generation import GenerationConfig, get_template
    from harness.generation.backend import Decoder, eos_token_ids, load_model

    model, tok = load_model(
        GenerationConfig(model=str(trained_model)), __import__("torch").device("cpu")
    )
    tasks = load_dataset("humaneval", data_dir).tasks
    prompts = [tok(tasks[t].prompt)["input_ids"] for t in ("HumanEval/0", "HumanEval/2")]
    rule = get_template("plain").stop_rule("humaneval")
    calls = 0

    def count(*_: object) -> None:
        nonlocal calls
        calls += 1

    model.register_forward_hook(count)
    decoder = Decoder(model, tok, pad_id=tok.pad_token_id, eos_ids=eos_token_ids(model, tok))
    eos_row, stop_row = decoder.generate(prompts, 300, rules=[rule, rule])
    assert (eos_row.finish_reason, stop_row.finish_reason) == ("eos", "stop")
    assert calls == max(eos_row.n_tokens, stop_row.n_tokens) < 300


def test_max_new_tokens_gives_length(trained_model: Path, data_dir: Path, tmp_path: Path) -> None:
    (row,) = _generate(
        trained_model, tmp_path / "c.jsonl", data_dir, "--limit", "1", "--max-new-tokens", "5"
    )
    assert row["finish_reason"] == "length"
    assert row["n_tokens"] == 5
    task = load_dataset("humaneval", data_dir).tasks["HumanEval/0"]
    assert task.canonical_solution.startswith(row["completion"])


def test_row_stopper_detects_closed_fence_and_strings(tokenizer_dir: Path) -> None:
    """Feed the stopper growing sequences, as generate does: it marks a row done at the step
    its stop completes (a closing fence for instruction answers, a stop string otherwise)."""
    import torch
    from transformers import AutoTokenizer

    from harness.generation import get_template
    from harness.generation.backend import RowStopper

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    prompt = tok("### Response:")["input_ids"]
    answers = [
        "Here:\n```python\ndef f(x):\n    return x\n```\nThat is all, more prose follows here.",
        "    return x\n\ndef g():\n    pass\n",
    ]
    rules = [
        get_template("alpaca").stop_rule("humaneval", "f"),
        get_template("plain").stop_rule("humaneval"),
    ]
    ids = [tok(a)["input_ids"] for a in answers]
    n = max(len(i) for i in ids)
    pad = tok.pad_token_id
    rows = [prompt + i + [pad] * (n - len(i)) for i in ids]
    stopper = RowStopper(len(prompt), eos_ids=[], rules=rules, tokenizer=tok)
    for step in range(1, n + 1):
        done = stopper(torch.tensor([r[: len(prompt) + step] for r in rows]), None)
        if bool(done.all()):
            break
    assert stopper.reason == ["stop", "stop"]
    fence_at, string_at = stopper.finished_at
    assert fence_at is not None and string_at is not None
    assert tok.decode(ids[0][:fence_at]).rstrip().endswith("return x\n```")
    assert "\ndef " in tok.decode(ids[1][:string_at])
    assert "\ndef " not in tok.decode(ids[1][: string_at - 1])
