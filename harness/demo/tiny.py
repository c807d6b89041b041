"""Tiny offline models: a byte-level BPE tokenizer trained on local text and random-init GPT-2 or
GPTBigCode (StarCoder's architecture) checkpoints saved with ``save_pretrained``.

Used by the tests and by ``harness demo``: no weights can be downloaded on an offline machine, yet
the real loading path (``from_pretrained`` on a directory) must be exercised.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"]


def train_tokenizer(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 512) -> Any:
    """Train a byte-level BPE tokenizer on ``texts`` and save it as a fast HF tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return fast


def make_model(
    out_dir: str | Path,
    tokenizer: Any,
    arch: str = "gpt_bigcode",
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_positions: int = 1024,
    seed: int = 0,
) -> Any:
    """Random-init causal LM of the given architecture, saved with its tokenizer to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, GPTBigCodeConfig

    torch.manual_seed(seed)
    common = dict(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if arch == "gpt2":
        config: Any = GPT2Config(**common)
    elif arch == "gpt_bigcode":
        config = GPTBigCodeConfig(multi_query=True, **common)
    else:
        raise ValueError(f"unknown tiny architecture {arch!r} (gpt2, gpt_bigcode)")
    model = AutoModelForCausalLM.from_config(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return model


def corpus_from_data_dir(data_dir: str | Path, limit: int | None = None) -> list[str]:
    """Local code text to train a tokenizer on: HumanEval+ prompts/solutions and CodeAlpaca."""
    import gzip
    import json

    data = Path(data_dir)
    texts: list[str] = []
    he = data / "HumanEvalPlus-v0.1.10.jsonl.gz"
    if he.exists():
        with gzip.open(he, "rt") as fh:
            for line in fh:
                row = json.loads(line)
                texts.append(row["prompt"] + row["canonical_solution"])
    alpaca = data / "code_alpaca_2k.json"
    if alpaca.exists():
        for row in json.loads(alpaca.read_text()):
            texts.append(f"{row['instruction']}\n{row.get('input', '')}\n{row['output']}")
    return texts[:limit] if limit else texts
