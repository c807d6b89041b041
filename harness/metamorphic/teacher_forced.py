"""Teacher-forced agreement between teacher and student, where the two share a tokenizer.

Pass/fail verdicts say whether the student's *program* changed under a relation; teacher forcing
says whether its *next-token distribution* did, on exactly the tokens the teacher produced. Both
models read the same sequence (prompt, then the teacher's own completion), and over the
completion tokens we measure the share of positions where their argmax tokens agree and the mean
KL(teacher || student) in nats per token. That only means something when both models read the
same token ids, hence the tokenizer check first.

A model that only an engine can score (behind an OpenAI-compatible server, or quantized or with
a LoRA adapter in vLLM) reports top-k *prompt logprobs* instead of logits: the logprobs of the
k likeliest tokens (and of the forced one) at each position. Top-1 agreement is then exact (the
argmax is the first of the top k). KL is computed over the tokens both models report plus one
bucket for the rest of the vocabulary: by the data-processing inequality that is a lower bound
of the full KL, equal to it when the reported tokens carry all of the probability (k at least
the vocabulary), and ``teacher_mass_covered`` says how much of the teacher's mass the reported
tokens hold.

torch and transformers are imported inside the functions, so ``harness --help`` stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Encoded by both tokenizers as a cheap check that they also split text alike.
_PROBE = 'def f(xs: list[int]) -> int:\n    """Sum ß ü 😀."""\n\treturn sum(x ** 2 for x in xs)  # ok\n'
#: Padded tokens per forward pass; bounds the logits held at once (rows x length x vocab).
MAX_BATCH_TOKENS = 8192
#: Probability mass below which the rest bucket of a top-k KL is rounding, not probability
#: (summed fp32 logprobs of up to a vocabulary of tokens miss 1 by ~1e-7).
REST_EPS = 1e-6

#: Logprobs a model reports at one position: token id -> logprob (top k and the forced token).
Logprobs = dict[int, float]


@dataclass(frozen=True)
class ForcedSequence:
    """Token ids of a prompt and of the completion forced after it (scored positions)."""

    prompt: tuple[int, ...]
    completion: tuple[int, ...]


@dataclass
class TokenStats:
    """Sums over scored completion tokens; pooled across sequences by :meth:`add`."""

    n_tokens: int = 0
    agree: int = 0
    kl: float = 0.0
    covered: float = 0.0  # teacher mass on the tokens both models reported (top-k scoring)
    bounded: bool = False  # KL from top-k logprobs: a lower bound

    def add(self, other: TokenStats) -> None:
        self.n_tokens += other.n_tokens
        self.agree += other.agree
        self.kl += other.kl
        self.covered += other.covered
        self.bounded = self.bounded or other.bounded

    def to_dict(self) -> dict[str, Any]:
        """Token-weighted means (None with no tokens): a pair with a long completion weighs more."""
        n = self.n_tokens
        out = {"top1_agreement": self.agree / n if n else None,
               "mean_kl": self.kl / n if n else None, "n_tokens": n}
        if self.bounded:
            out["teacher_mass_covered"] = self.covered / n if n else None
        return out


def pooled(stats: Iterable[TokenStats]) -> TokenStats:
    out = TokenStats()
    for s in stats:
        out.add(s)
    return out


# ----------------------------------------------------------------------------- tokenizers


def _specials(tok: Any) -> dict[str, Any]:
    return {"map": dict(getattr(tok, "special_tokens_map", {}) or {}),
            "ids": sorted(getattr(tok, "all_special_ids", []) or [])}


def tokenizer_difference(teacher: Any, student: Any) -> str | None:
    """Why the two tokenizers cannot be compared token by token, or None when they are the same
    (same vocabulary, same special tokens, same split of a probe text)."""
    va, vb = teacher.get_vocab(), student.get_vocab()
    if va != vb:
        if len(va) != len(vb):
            return f"teacher and student tokenizers differ (vocabularies of {len(va)} and {len(vb)} tokens)"
        return f"teacher and student tokenizers differ (vocabularies of {len(va)} tokens with other entries)"
    if _specials(teacher) != _specials(student):
        return "teacher and student tokenizers differ (special tokens)"
    a = teacher(_PROBE, add_special_tokens=False)["input_ids"]
    b = student(_PROBE, add_special_tokens=False)["input_ids"]
    if list(a) != list(b):
        return "teacher and student tokenizers differ (same vocabulary, but they split text differently)"
    return None


def load_tokenizer(model: str, revision: str | None) -> Any:
    """A model's tokenizer alone (no weights), with the generation backend's error mapping."""
    from transformers import AutoTokenizer

    from harness.generation.loading import check_model_source
    from harness.generation.loading import model_error as _model_error

    source = check_model_source(model)
    try:
        return AutoTokenizer.from_pretrained(source, revision=revision)
    except (OSError, ValueError, KeyError) as exc:
        raise _model_error(model, exc) from exc


@dataclass
class ForcedModels:
    """Teacher and student on one device, and the tokenizer they share."""

    teacher: Any
    student: Any
    tokenizer: Any


def load_models(teacher: Any, student: Any) -> ForcedModels | str:
    """Both models, loaded as the generation backend loads them (``GenerationConfig``s give
    model, revision, dtype and device), or why they do not share a tokenizer (then no weights
    are loaded)."""
    why = tokenizer_difference(load_tokenizer(teacher.model, teacher.revision),
                               load_tokenizer(student.model, student.revision))
    if why is not None:
        return why
    from harness.generation.backend import load_model, resolve_device

    device = resolve_device(teacher.device)
    t_model, tokenizer = load_model(teacher, device)
    s_model, _ = load_model(student, device)
    return ForcedModels(t_model, s_model, tokenizer)


# ----------------------------------------------------------------------------- scoring


def context_limit(*models: Any) -> int | None:
    """The smallest context length of the models (None when none says)."""
    from harness.generation.backend import context_length

    limits = [n for n in (context_length(m) for m in models) if n]
    return min(limits) if limits else None


def fit(seq: ForcedSequence, limit: int | None) -> ForcedSequence:
    """Cut the completion to the context; a prompt-less sequence gives its first token up as the
    prompt (the first token has no position that predicts it)."""
    prompt, completion = seq.prompt, seq.completion
    if not prompt and completion:
        prompt, completion = completion[:1], completion[1:]
    if limit is not None:
        completion = completion[: max(0, limit - len(prompt))]
    return ForcedSequence(prompt, completion)


def _batches(order: list[int], lengths: list[int], rows: int, max_tokens: int) -> list[list[int]]:
    """Consecutive (length-sorted) indices in batches of at most ``rows`` rows and ``max_tokens``
    padded tokens (a single longer row gets a batch of its own)."""
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        width = max([lengths[j] for j in cur] + [lengths[i]])
        if cur and (len(cur) >= rows or width * (len(cur) + 1) > max_tokens):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def _logits(model: Any, ids: Any, mask: Any) -> Any:
    device = model.device
    return model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits


def _score_batch(teacher: Any, student: Any, seqs: list[ForcedSequence], pad_id: int) -> list[TokenStats]:
    """One forward pass per model over right-padded rows (causal attention: padding after a row's
    tokens cannot change the logits before it, and positions stay 0..n-1)."""
    import torch

    width = max(len(s.prompt) + len(s.completion) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    scored = torch.zeros((len(seqs), width), dtype=torch.bool)  # positions predicting a completion token
    for r, s in enumerate(seqs):
        tokens = list(s.prompt) + list(s.completion)
        ids[r, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        mask[r, : len(tokens)] = 1
        scored[r, len(s.prompt) - 1 : len(tokens) - 1] = True
    t_logits = _logits(teacher, ids, mask)
    s_logits = _logits(student, ids, mask)
    vocab = min(t_logits.shape[-1], s_logits.shape[-1])  # padded embedding rows are no tokens
    t = t_logits[scored.to(t_logits.device)][:, :vocab].float().log_softmax(-1)
    s = s_logits[scored.to(s_logits.device)][:, :vocab].to(t.device).float().log_softmax(-1)
    kl = (t.exp() * (t - s)).sum(-1).clamp_min(0.0)  # >= 0 in exact arithmetic; drop rounding
    agree = t.argmax(-1) == s.argmax(-1)
    counts = scored.sum(1).tolist()
    out = []
    for k, a in zip(kl.split(counts), agree.split(counts), strict=True):
        out.append(TokenStats(len(k), int(a.sum()), float(k.sum())))
    return out


def teacher_forced_stats(
    teacher: Any,
    student: Any,
    sequences: Sequence[ForcedSequence],
    *,
    batch_size: int = 8,
    pad_id: int = 0,
    max_batch_tokens: int = MAX_BATCH_TOKENS,
) -> list[TokenStats]:
    """Per sequence: over its completion tokens, how many argmax tokens of the two models agree
    and the summed KL(teacher || student) (fp32 log-softmax, nats). Both models read the same
    ids; completions are cut to the smaller context. Batched by length, without gradients."""
    import torch

    limit = context_limit(teacher, student)
    fitted = [fit(s, limit) for s in sequences]
    out = [TokenStats() for _ in fitted]
    todo = [i for i, s in enumerate(fitted) if s.completion]
    lengths = [len(s.prompt) + len(s.completion) for s in fitted]
    todo.sort(key=lambda i: lengths[i])
    with torch.no_grad():
        for batch in _batches(todo, lengths, max(1, batch_size), max_batch_tokens):
            for i, stats in zip(batch, _score_batch(teacher, student, [fitted[i] for i in batch], pad_id),
                                strict=True):
                out[i] = stats
    return out


# ----------------------------------------------------------------------------- top-k logprobs


def position_stats(teacher: Logprobs, student: Logprobs) -> tuple[bool, float, float]:
    """At one position: whether the argmax tokens agree, KL(teacher || student) over the tokens
    both report plus a rest bucket (a lower bound of the full KL, see the module docstring), and
    the teacher's mass on the shared tokens."""
    agree = max(teacher, key=teacher.__getitem__) == max(student, key=student.__getitem__)
    kl = covered_t = covered_s = 0.0
    for token in teacher.keys() & student.keys():
        lt, ls = teacher[token], student[token]
        p = math.exp(lt)
        kl += p * (lt - ls)
        covered_t += p
        covered_s += math.exp(ls)
    rest_t = 1.0 - covered_t
    if rest_t > REST_EPS:  # an upper bound of the student's rest mass keeps the bound a bound
        kl += rest_t * (math.log(rest_t) - math.log(max(1.0 - covered_s, 0.0) + REST_EPS))
    return agree, max(kl, 0.0), min(covered_t, 1.0)


def logprob_stats(teacher: Sequence[Logprobs], student: Sequence[Logprobs]) -> TokenStats:
    """Top-k teacher-forced stats of one sequence from both models' logprobs at its scored
    positions."""
    out = TokenStats(bounded=True)
    for t, s in zip(teacher, student, strict=True):
        agree, kl, covered = position_stats(t, s)
        out.add(TokenStats(1, int(agree), kl, covered, True))
    return out


def scored_logprobs(
    model: Any,
    sequences: Sequence[ForcedSequence],
    wanted: Sequence[Sequence[Iterable[int]]],
    *,
    batch_size: int = 8,
    pad_id: int = 0,
    max_batch_tokens: int = MAX_BATCH_TOKENS,
) -> list[list[Logprobs]]:
    """A transformers model's logprobs at each scored position (those predicting a completion
    token) of already fitted sequences: of its argmax token and of the ``wanted`` ids there (the
    other model's top k), so it can be compared with a model that reports top-k logprobs."""
    import torch

    out: list[list[Logprobs]] = [[] for _ in sequences]
    lengths = [len(s.prompt) + len(s.completion) for s in sequences]
    todo = sorted((i for i, s in enumerate(sequences) if s.completion), key=lambda i: lengths[i])
    with torch.no_grad():
        for batch in _batches(todo, lengths, max(1, batch_size), max_batch_tokens):
            width = max(lengths[i] for i in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                s = sequences[i]
                ids[r, : lengths[i]] = torch.tensor(list(s.prompt) + list(s.completion), dtype=torch.long)
                mask[r, : lengths[i]] = 1
            logits = _logits(model, ids, mask)
            for r, i in enumerate(batch):
                start = len(sequences[i].prompt) - 1
                lp = logits[r, start : lengths[i] - 1].float().log_softmax(-1).cpu()
                top = lp.argmax(-1).tolist()
                for j, want in enumerate(wanted[i]):
                    tokens = {int(top[j]), *want}
                    row = lp[j]
                    out[i].append({t: float(row[t]) for t in tokens if 0 <= t < row.shape[0]})
    return out


# ----------------------------------------------------------------------------- encoding


def encode_forced(tokenizer: Any, template: Any, prompt: str, sample: dict[str, Any],
                  eos_id: int | None) -> ForcedSequence | None:
    """The rendered prompt as generation encoded it, then the teacher's output on it: its raw
    text (what followed the rendered prompt) and its EOS when it stopped there. Falls back to
    ``completion`` for samples without ``raw``; None when the sample holds neither."""
    text = sample.get("raw")
    if not isinstance(text, str):
        text = sample.get("completion")
    if not isinstance(text, str):
        return None
    rendered = template.render(prompt, tokenizer)
    prompt_ids = tokenizer(rendered, add_special_tokens=template.add_special_tokens)["input_ids"]
    completion = list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []
    if sample.get("finish_reason") == "eos" and eos_id is not None:
        completion.append(eos_id)
    return ForcedSequence(tuple(prompt_ids), tuple(completion))


__all__ = [
    "ForcedModels",
    "ForcedSequence",
    "TokenStats",
    "context_limit",
    "encode_forced",
    "fit",
    "logprob_stats",
    "load_models",
    "load_tokenizer",
    "pooled",
    "position_stats",
    "scored_logprobs",
    "teacher_forced_stats",
    "tokenizer_difference",
]
