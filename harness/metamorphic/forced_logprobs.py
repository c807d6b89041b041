"""Teacher forcing where a model is scored by its engine: top-k prompt logprobs, not logits.

A model behind an OpenAI-compatible server, or quantized or with a LoRA adapter in vLLM, has no
weights transformers could load, but its engine can score a given token sequence: the logprobs
of the k likeliest tokens at each position (vLLM: ``prompt_logprobs``; its server: ``echo`` with
``logprobs``). Each such model is scored that way; a model whose weights do load is run in
transformers and read at the same tokens. The statistics are those of ``teacher_forced`` (top-1
agreement exact, KL a lower bound there documented). The tokenizer of a served model is loaded
from what the server says it serves (vLLM's ``root`` in ``/v1/models``), for the same token-by-
token check and encoding as with local weights. What a server refuses is a reason
(``teacher_forced: null``), never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.core.errors import InfraError, UsageError
from harness.generation.config import GenerationConfig
from harness.metamorphic.teacher_forced import (
    ForcedSequence,
    Logprobs,
    TokenStats,
    fit,
    logprob_stats,
    scored_logprobs,
    tokenizer_difference,
)

#: Top logprobs asked per position by default: vLLM's default --max-logprobs.
DEFAULT_TOP_K = 20


@dataclass
class _Side:
    """One model as teacher forcing scores it: through its engine or with its weights."""

    config: GenerationConfig
    engine: Any = None  # a started engine that reports prompt logprobs
    model: Any = None  # transformers weights
    tokenizer: Any = None
    source: str | None = None  # where tokenizer and generation defaults load from
    limit: int | None = None  # context length

    @property
    def label(self) -> str:
        return f"{self.config.model} ({self.config.engine} engine)"


@dataclass
class Scorers:
    """Teacher and student ready to score forced sequences; ``close`` ends engines opened here."""

    teacher: _Side
    student: _Side
    owned: list[Any] = field(default_factory=list)

    @property
    def tokenizer(self) -> Any:
        return self.teacher.tokenizer

    def eos_id(self) -> int | None:
        """The teacher's first EOS id, as the weights path takes it."""
        from harness.generation.backend import eos_token_ids
        from harness.generation.vllm_engine import _GenerationDefaults

        side = self.teacher
        holder = side.model if side.model is not None else _GenerationDefaults(str(side.source), None)
        return next(iter(eos_token_ids(holder, side.tokenizer)), None)

    def close(self) -> None:
        while self.owned:
            self.owned.pop().close()

    def stats(self, sequences: Sequence[ForcedSequence], k: int, *, batch_size: int = 8) -> list[TokenStats] | str:
        """Per sequence, top-k teacher-forced stats (or why the engine gave none)."""
        limits = [n for n in (self.teacher.limit, self.student.limit) if n]
        fitted = [fit(s, min(limits) if limits else None) for s in sequences]
        todo = [i for i, s in enumerate(fitted) if s.completion]
        scored: dict[str, list[list[Logprobs]]] = {}
        for role, side in (("teacher", self.teacher), ("student", self.student)):
            if side.engine is None:
                continue
            got = side.engine.prompt_logprobs([fitted[i].prompt + fitted[i].completion for i in todo], k)
            if isinstance(got, str):
                return f"{side.label}: {got}"
            rows: list[list[Logprobs]] = []
            for i, positions in zip(todo, got, strict=True):
                n = len(fitted[i].prompt)
                here = positions[n : n + len(fitted[i].completion)]
                if len(here) != len(fitted[i].completion) or any(p is None for p in here):
                    return f"{side.label}: prompt logprobs missing at some positions"
                rows.append([p for p in here if p is not None])
            scored[role] = rows
        for role, side, other in (("teacher", self.teacher, "student"), ("student", self.student, "teacher")):
            if role in scored:
                continue
            pad = side.tokenizer.pad_token_id if side.tokenizer.pad_token_id is not None else 0
            wanted = [[p.keys() for p in row] for row in scored[other]]
            scored[role] = scored_logprobs(side.model, [fitted[i] for i in todo], wanted,
                                           batch_size=batch_size, pad_id=int(pad))
        out = [TokenStats(bounded=True) for _ in fitted]
        for j, i in enumerate(todo):
            out[i] = logprob_stats(scored["teacher"][j], scored["student"][j])
        return out


def open_scorers(teacher: GenerationConfig, student: GenerationConfig) -> Scorers | str:
    """Both models ready for top-k teacher forcing (at least one scored by its engine), or why
    not: a server that does not say what it serves, a tokenizer that does not load, tokenizers
    that differ. Engines started here are closed by :meth:`Scorers.close` (pooled ones stay)."""
    from harness.generation.engine import forced_scoring, open_engine
    from harness.generation.loading import load_tokenizer

    sides = [_Side(teacher), _Side(student)]
    scorers = Scorers(sides[0], sides[1])
    try:
        for side in sides:
            if forced_scoring(side.config) == "prompt_logprobs":
                engine = open_engine(side.config, quiet=True)
                if not engine.pooled:
                    scorers.owned.append(engine)
                engine.start()
                side.engine, side.source = engine, engine.forced_source()
                limit = getattr(engine, "max_model_len", None)  # one new token must fit after it
                side.limit = int(limit) - 1 if limit else None
                if side.source is None:
                    scorers.close()
                    return (f"{side.label}: the server does not say which model it serves (no root in "
                            "/v1/models), so its tokenizer is unknown here")
                revision = side.config.revision if side.config.engine != "openai" else None
            else:
                side.source, revision = side.config.model, side.config.revision
            try:
                side.tokenizer = load_tokenizer(side.source, revision)
            except (UsageError, InfraError) as exc:
                scorers.close()
                return f"{side.label}: its tokenizer ({side.source}) does not load here: {exc}"
        why = tokenizer_difference(scorers.teacher.tokenizer, scorers.student.tokenizer)
        if why is not None:
            scorers.close()
            return why
        _load_weights(sides)
    except BaseException:
        scorers.close()
        raise
    return scorers


def _load_weights(sides: list[_Side]) -> None:
    """Weights of the sides no engine scores, loaded as the generation backend loads them."""
    from harness.generation.backend import context_length, load_model, resolve_device

    for side in sides:
        if side.engine is None:
            side.model, _ = load_model(side.config, resolve_device(side.config.device))
            side.limit = context_length(side.model)


__all__ = ["DEFAULT_TOP_K", "Scorers", "open_scorers"]
