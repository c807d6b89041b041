"""Teacher-forced agreement and KL: the batched computation against a direct per-position loop,
on two tiny random models that share a tokenizer; and the tokenizer check that gates it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from harness.generation import GenerationConfig
from harness.metamorphic.teacher_forced import (
    ForcedModels,
    ForcedSequence,
    TokenStats,
    encode_forced,
    load_models,
    pooled,
    teacher_forced_stats,
    tokenizer_difference,
)
from tests.harness.eval.conftest import (  # noqa: F401  (fixtures)
    _threads,
    foreign_model,
    tiny_models,
    tokenizer_dir,
    workdir,
)

TEXTS = [
    ("def add(a, b):\n", "    return a + b\n"),
    ("from typing import List\n\n\ndef f(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n", "    return sum(xs)\n"),
    ("x = 1\n", ""),  # nothing to score
    ("", "import os\nprint(os.getcwd())\n"),  # no prompt: the first token becomes the prompt
    ("def g():\n    for i in range(10):\n        if i % 2:\n", "            yield i\n"),
]


@pytest.fixture(scope="module")
def models(tiny_models: dict[str, Path]) -> ForcedModels:  # noqa: F811
    loaded = load_models(GenerationConfig(model=str(tiny_models["gpt_bigcode"]), device="cpu"),
                         GenerationConfig(model=str(tiny_models["gpt2"]), device="cpu"))
    assert isinstance(loaded, ForcedModels)
    return loaded


def _sequences(tok: Any) -> list[ForcedSequence]:
    out = []
    for prompt, completion in TEXTS:
        p = tok(prompt, add_special_tokens=False)["input_ids"] if prompt else []
        c = tok(completion, add_special_tokens=False)["input_ids"] if completion else []
        out.append(ForcedSequence(tuple(p), tuple(c)))
    out.append(ForcedSequence(out[0].prompt, out[0].completion + (tok.eos_token_id,)))
    return out


def _naive(teacher: Any, student: Any, seq: ForcedSequence) -> TokenStats:
    """One unpadded forward pass per model, then every position and vocabulary entry by hand."""
    import torch

    tokens = list(seq.prompt) + list(seq.completion)
    n_prompt = len(seq.prompt)
    if n_prompt == 0:
        n_prompt = 1
    if len(tokens) <= n_prompt:
        return TokenStats()
    with torch.no_grad():
        ids = torch.tensor([tokens])
        t_logits = teacher(input_ids=ids).logits[0].double().tolist()
        s_logits = student(input_ids=ids).logits[0].double().tolist()
    stats = TokenStats()
    for pos in range(n_prompt - 1, len(tokens) - 1):
        t, s = t_logits[pos], s_logits[pos]
        t_lse = math.log(sum(math.exp(x) for x in t))
        s_lse = math.log(sum(math.exp(x) for x in s))
        kl = sum(math.exp(a - t_lse) * ((a - t_lse) - (b - s_lse)) for a, b in zip(t, s, strict=True))
        stats.add(TokenStats(1, int(t.index(max(t)) == s.index(max(s))), kl))
    return stats


def test_batched_stats_match_a_direct_loop(models: ForcedModels) -> None:
    seqs = _sequences(models.tokenizer)
    got = teacher_forced_stats(models.teacher, models.student, seqs, batch_size=2, pad_id=7)
    assert len(got) == len(seqs)
    for seq, stats in zip(seqs, got, strict=True):
        want = _naive(models.teacher, models.student, seq)
        assert stats.n_tokens == want.n_tokens
        assert stats.agree == want.agree
        assert stats.kl == pytest.approx(want.kl, rel=1e-4, abs=1e-5)
    assert got[2].n_tokens == 0 and got[2].to_dict()["mean_kl"] is None
    assert got[3].n_tokens == len(seqs[3].completion) - 1
    total = pooled(got).to_dict()
    assert 0.0 <= total["top1_agreement"] <= 1.0 and total["mean_kl"] > 0.0


def test_a_model_against_itself_agrees_fully(models: ForcedModels) -> None:
    stats = pooled(teacher_forced_stats(models.teacher, models.teacher, _sequences(models.tokenizer)))
    assert stats.agree == stats.n_tokens > 0
    assert stats.kl == pytest.approx(0.0, abs=1e-6)


def test_completion_is_cut_to_the_context(models: ForcedModels) -> None:
    """1000 prompt tokens and 100 completion tokens on 1024-position models: 24 are scored."""
    seq = ForcedSequence(tuple([5] * 1000), tuple([6] * 100))
    (stats,) = teacher_forced_stats(models.teacher, models.student, [seq])
    assert stats.n_tokens == 24


def test_encode_forced_uses_the_raw_output_and_its_eos(models: ForcedModels) -> None:
    from harness.generation.templates import get_template

    tok = models.tokenizer
    sample = {"raw": "    return a + b\n", "completion": "ignored", "finish_reason": "eos"}
    seq = encode_forced(tok, get_template("plain"), "def add(a, b):\n", sample, tok.eos_token_id)
    assert seq is not None
    assert list(seq.prompt) == tok("def add(a, b):\n")["input_ids"]
    assert list(seq.completion) == [*tok("    return a + b\n", add_special_tokens=False)["input_ids"], tok.eos_token_id]
    assert encode_forced(tok, get_template("plain"), "x", {"solution": "x"}, None) is None


def test_tokenizers_differ(tiny_models: dict[str, Path], foreign_model: Path) -> None:  # noqa: F811
    from transformers import AutoTokenizer

    same = [AutoTokenizer.from_pretrained(tiny_models[a]) for a in ("gpt2", "gpt_bigcode")]
    assert tokenizer_difference(*same) is None
    why = tokenizer_difference(same[0], AutoTokenizer.from_pretrained(foreign_model))
    assert why is not None and "vocabularies" in why
    loaded = load_models(GenerationConfig(model=str(tiny_models["gpt2"])), GenerationConfig(model=str(foreign_model)))
    assert loaded == why  # the reason, and no weights loaded
