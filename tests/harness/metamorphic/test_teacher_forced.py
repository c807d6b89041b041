"""Teacher-forced agreement and KL: the batched computation against a direct per-position loop,
on two tiny random models that share a tokenizer; the top-k (prompt logprobs) computation
against it; and the tokenizer check that gates it."""

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
    logprob_stats,
    pooled,
    position_stats,
    scored_logprobs,
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


def _topk(row: list[float], k: int, forced: int) -> dict[int, float]:
    """What an engine reports at one position: the k likeliest tokens and the forced one."""
    top = sorted(range(len(row)), key=lambda i: -row[i])[:k]
    return {i: row[i] for i in {*top, forced}}


def test_topk_stats_are_exact_at_full_k_and_a_lower_bound_below(models: ForcedModels) -> None:
    """From both models' log-softmax rows: with every token reported, agreement and KL are the
    logits path's numbers; with the top k, agreement still is and KL never exceeds them."""
    import torch

    seqs = [s for s in _sequences(models.tokenizer) if s.prompt and s.completion]
    exact = teacher_forced_stats(models.teacher, models.student, seqs)
    for seq, want in zip(seqs, exact, strict=True):
        ids = torch.tensor([list(seq.prompt) + list(seq.completion)])
        with torch.no_grad():
            rows = {name: m(input_ids=ids).logits[0].float().log_softmax(-1)[len(seq.prompt) - 1 : -1].tolist()
                    for name, m in (("t", models.teacher), ("s", models.student))}
        vocab = len(rows["t"][0])
        for k, exact_kl in ((vocab, True), (20, False), (1, False)):
            t = [_topk(r, k, f) for r, f in zip(rows["t"], seq.completion, strict=True)]
            s = [_topk(r, k, f) for r, f in zip(rows["s"], seq.completion, strict=True)]
            got = logprob_stats(t, s)
            assert got.n_tokens == want.n_tokens and got.agree == want.agree, k
            if exact_kl:
                assert got.kl == pytest.approx(want.kl, rel=1e-4, abs=1e-4)
                assert got.covered == pytest.approx(got.n_tokens, rel=1e-5)
            else:
                assert 0.0 <= got.kl <= want.kl + 1e-4
        # a transformers model read at the other's top-k tokens gives the same numbers
        t20 = [_topk(r, 20, f) for r, f in zip(rows["t"], seq.completion, strict=True)]
        (read,) = scored_logprobs(models.student, [seq], [[p.keys() for p in t20]])
        s20 = [_topk(r, 20, f) for r, f in zip(rows["s"], seq.completion, strict=True)]
        mixed, both = logprob_stats(t20, read), logprob_stats(t20, s20)
        assert mixed.agree == want.agree and mixed.n_tokens == want.n_tokens
        assert both.kl - 1e-4 <= mixed.kl <= want.kl + 1e-4  # more tokens known: a tighter bound


def test_position_stats_by_hand() -> None:
    """Teacher (0.7, 0.2, 0.1), student (0.2, 0.7, 0.1): both report the top 2."""
    lt = [math.log(x) for x in (0.7, 0.2, 0.1)]
    ls = [math.log(x) for x in (0.2, 0.7, 0.1)]
    exact = sum(math.exp(a) * (a - b) for a, b in zip(lt, ls, strict=True))
    agree, kl, covered = position_stats({0: lt[0], 1: lt[1], 2: lt[2]}, {0: ls[0], 1: ls[1], 2: ls[2]})
    assert not agree and kl == pytest.approx(exact) and covered == pytest.approx(1.0)
    agree, kl, covered = position_stats({0: lt[0], 1: lt[1]}, {1: ls[1], 0: ls[0]})
    # tokens 0 and 1 known to both, the rest bucket holds 0.1 for each: here the bound is exact
    # (less the 1e-6 of the student's rest mass taken as an upper bound)
    assert kl == pytest.approx(exact, abs=1e-5) and kl <= exact and covered == pytest.approx(0.9)
    agree, kl, _ = position_stats({0: lt[0]}, {1: ls[1]})  # nothing shared: one bucket, KL 0
    assert kl == 0.0 and not agree
    stats = TokenStats(2, 1, 0.5, 1.8, True)
    assert stats.to_dict() == {"top1_agreement": 0.5, "mean_kl": 0.25, "n_tokens": 2, "teacher_mass_covered": 0.9}
