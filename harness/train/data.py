"""Training data: CodeAlpaca records, their prompts and tokenisation with response-only labels.

The loss is taken only on response tokens (and the closing EOS), so prompt tokens get label -100.
Prompt and response are tokenised separately and concatenated: the prompt/response boundary is
then exact, whereas tokenising the joined text can merge tokens across it. Padding is marked by the
attention mask alone, never by token id (pad = eos is common, and the response's own EOS must
count).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Record:
    """One instruction example (CodeAlpaca / Stanford-Alpaca fields)."""

    instruction: str
    input: str
    output: str


def render_prompt(record: Record, template: str) -> str:
    """The prompt text of ``record`` under the named template (the templates generation uses)."""
    from harness.generation.templates import get_training_template

    return get_training_template(template).render_training(record.instruction, record.input)


def _parse_rows(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if not stripped:
        raise UsageError(f"{path}: training data is empty")
    if stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno})") from None
        return list(rows)
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{lineno}: malformed JSON line ({exc.msg})") from None
    return rows


def load_records(path: str | Path, limit: int | None = None) -> list[Record]:
    """Read CodeAlpaca JSON (a list) or JSONL with instruction / input / output fields."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"training data not found: {p}")
    records: list[Record] = []
    for i, row in enumerate(_parse_rows(p)):
        if not isinstance(row, dict):
            raise UsageError(f"{p}: record {i} is not an object")
        instruction, inp, output = row.get("instruction"), row.get("input", ""), row.get("output")
        if not isinstance(instruction, str) or not isinstance(output, str):
            raise UsageError(f"{p}: record {i} needs string fields 'instruction' and 'output'")
        if inp is None:
            inp = ""
        if not isinstance(inp, str):
            raise UsageError(f"{p}: record {i} has a non-string 'input'")
        records.append(Record(instruction, inp, output))
        if limit is not None and len(records) >= limit:
            break
    if not records:
        raise UsageError(f"{p}: no training records")
    return records


def encode_record(
    record: Record, tokenizer: Any, template: str, max_length: int
) -> dict[str, list[int]] | None:
    """Token ids and labels (prompt masked with -100); None when no response token survives."""
    prompt_ids = tokenizer(render_prompt(record, template), add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(record.output, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        response_ids = [*response_ids, tokenizer.eos_token_id]
    ids = (prompt_ids + response_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + response_ids)[:max_length]
    if all(lab == IGNORE_INDEX for lab in labels[1:]):
        return None  # nothing to learn: the prompt alone fills max_length
    return {"input_ids": ids, "labels": labels}


class SFTDataset:
    """A list-backed map-style dataset of encoded records (small enough to pre-tokenise)."""

    def __init__(self, items: list[dict[str, list[int]]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


def build_dataset(
    records: Sequence[Record], tokenizer: Any, template: str, max_length: int
) -> tuple[SFTDataset, int]:
    """Encode all records; returns the dataset and how many were dropped (no response left)."""
    render_prompt(records[0], template)  # validate the template name early
    items = []
    dropped = 0
    for rec in records:
        enc = encode_record(rec, tokenizer, template, max_length)
        if enc is None:
            dropped += 1
        else:
            items.append(enc)
    if not items:
        raise UsageError(
            f"every record's prompt fills --max-length {max_length}: nothing left to train on"
        )
    return SFTDataset(items), dropped


@dataclass
class Collator:
    """Right-pads a batch; padding is flagged by attention_mask = 0 and label -100 by position."""

    pad_token_id: int

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        n = len(features)
        input_ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        for i, f in enumerate(features):
            k = len(f["input_ids"])
            input_ids[i, :k] = torch.tensor(f["input_ids"], dtype=torch.long)
            labels[i, :k] = torch.tensor(f["labels"], dtype=torch.long)
            attention[i, :k] = 1
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
