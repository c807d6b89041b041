"""Templates, response-only labels, padding and data-file validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import UsageError
from harness.generation.templates import training_templates
from harness.train.data import (
    IGNORE_INDEX,
    Collator,
    Record,
    build_dataset,
    encode_record,
    load_records,
    render_prompt,
)


class CharTokenizer:
    """One token per character; eos = pad = 0 (the common pad = eos setup)."""

    eos_token_id = 0
    pad_token_id = 0

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) % 250 + 1 for c in text]}


def test_alpaca_template_is_stanford_alpaca() -> None:
    with_input = render_prompt(Record("Sum.", "1 2", "3"), "alpaca")
    assert with_input.startswith("Below is an instruction that describes a task, paired with an")
    assert with_input.endswith("### Instruction:\nSum.\n\n### Input:\n1 2\n\n### Response:")
    without = render_prompt(Record("Sum.", "", "3"), "alpaca")
    assert "### Input" not in without and without.endswith("### Response:")
    star = render_prompt(Record("Sum.", "", "3"), "starcoder")
    assert star == "<fim_prefix>Sum.<fim_suffix><fim_middle>"
    assert "Sum." in render_prompt(Record("Sum.", "", "3"), "instruct-eval")
    assert set(training_templates()) == {"alpaca", "starcoder", "instruct-eval", "plain"}
    with pytest.raises(UsageError, match="unknown template 'nope'; available: "):
        render_prompt(Record("a", "", "b"), "nope")
    with pytest.raises(UsageError, match="template 'chat' cannot render training records"):
        render_prompt(Record("a", "", "b"), "chat")


# The training prompts as harness.train.data wrote them before the templates were merged with
# generation's (its own _alpaca, _starcoder, _instruct_eval and _plain), verbatim.
_ALPACA_IN = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{i}\n\n### Input:\n{x}\n\n### Response:"
)
_ALPACA = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{i}\n\n### Response:"
)
_INSTRUCT_EVAL = (
    "Please complete the following Python code without providing any additional tasks such "
    "as testing or explanations\n{t}"
)


def _old_prompt(template: str, instruction: str, inp: str) -> str:
    task = f"{instruction}\n{inp}" if inp else instruction
    if template == "alpaca":
        return (_ALPACA_IN if inp else _ALPACA).format(i=instruction, x=inp)
    if template == "starcoder":
        return f"<fim_prefix>{task}<fim_suffix><fim_middle>"
    if template == "instruct-eval":
        return _INSTRUCT_EVAL.format(t=task)
    return task


@pytest.mark.parametrize("template", ["alpaca", "starcoder", "instruct-eval", "plain"])
@pytest.mark.parametrize(
    ("instruction", "inp"),
    [
        ("Sum.", ""),
        ("Sum.", "1 2"),
        ("  Write a function {x}.\n", "  def f(a):\n    pass\n"),
        ("Ünïcode ### Response:", "\n"),
    ],
)
def test_training_prompts_are_byte_identical(template: str, instruction: str, inp: str) -> None:
    """One template set for generation and training; training prompts did not change."""
    got = render_prompt(Record(instruction, inp, "out"), template)
    assert got == _old_prompt(template, instruction, inp)


def test_labels_cover_only_response_and_eos() -> None:
    tok = CharTokenizer()
    rec = Record("do", "", "xy")
    enc = encode_record(rec, tok, "starcoder", max_length=1000)
    assert enc is not None
    prompt_len = len(render_prompt(rec, "starcoder"))
    assert enc["labels"][:prompt_len] == [IGNORE_INDEX] * prompt_len
    assert enc["labels"][prompt_len:] == enc["input_ids"][prompt_len:]
    assert enc["input_ids"][-1] == tok.eos_token_id  # the closing EOS is learned
    # truncation keeps the prompt and cuts the response; a prompt filling it all is dropped
    cut = encode_record(rec, tok, "starcoder", max_length=prompt_len + 1)
    assert cut is not None and len(cut["input_ids"]) == prompt_len + 1
    assert encode_record(rec, tok, "starcoder", max_length=prompt_len) is None
    ds, dropped = build_dataset([rec, Record("x" * 500, "", "y")], tok, "starcoder", 100)
    assert len(ds) == 1 and dropped == 1


def test_collator_marks_padding_by_position_with_pad_equal_eos() -> None:
    feats = [
        {"input_ids": [5, 6, 0], "labels": [-100, 6, 0]},
        {"input_ids": [5, 6, 7, 8, 0], "labels": [-100, -100, 7, 8, 0]},
    ]
    batch = Collator(pad_token_id=0)(feats)
    assert batch["input_ids"].tolist() == [[5, 6, 0, 0, 0], [5, 6, 7, 8, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    # the real eos keeps its label, the pads (same id) do not
    assert batch["labels"].tolist() == [[-100, 6, 0, -100, -100], [-100, -100, 7, 8, 0]]


def test_load_records_json_and_jsonl(tmp_path: Path) -> None:
    rows = [{"instruction": "a", "input": "", "output": "b"}, {"instruction": "c", "output": "d"}]
    j = tmp_path / "d.json"
    j.write_text(json.dumps(rows))
    jl = tmp_path / "d.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert load_records(j) == load_records(jl) == [Record("a", "", "b"), Record("c", "", "d")]
    assert load_records(j, limit=1) == [Record("a", "", "b")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("[{\"instruction\": 1", "malformed JSON"),
        ('{"instruction": "a", "output": "b"}\n{oops\n', ":2: malformed"),
        ('[{"instruction": "a"}]', "'instruction' and 'output'"),
        ('[["a", "b"]]', "not an object"),
        ("[]", "no training records"),
        ('[{"instruction": "a", "input": 3, "output": "b"}]', "non-string 'input'"),
    ],
)
def test_bad_data_is_a_usage_error(tmp_path: Path, content: str, message: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(UsageError, match=message):
        load_records(p)


def test_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_records(tmp_path / "nope.json")
