"""The transformers generation engine (in-process; the default).

Speed comes from three things, because generation dominates an evaluation:
- length bucketing: rows are sorted by prompt length so a batch pads little;
- early exit: a stopping criterion marks each row done at its first stop sequence or EOS, and
  ``generate`` returns as soon as every row of the batch is done;
- on CUDA, a static KV cache, which ``generate`` compiles with ``torch.compile`` (falling back to
  the dynamic cache if that fails; on CPU the dynamic cache is used).
Left padding with an attention mask keeps greedy outputs identical across batch sizes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import GenerationConfig as HFGenerationConfig
from transformers import StoppingCriteria, StoppingCriteriaList

from harness.core.errors import InfraError
from harness.generation.config import GenerationConfig
from harness.generation.engine import Completion, Engine, Request, seed_for
from harness.generation.engine import generate_samples as _generate_samples

# One loader and one dtype vocabulary for generation and training: harness.generation.loading
# (re-exported here for this module's callers).
from harness.generation.loading import (
    check_model_source,
    load_model,
    model_error,
    resolve_device,
    resolve_dtype,
)
from harness.generation.stops import StopRule
from harness.generation.templates import Template


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """EOS ids from the model's generation config (chat models often have several) and tokenizer."""
    ids: list[int] = []
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (gen_eos, getattr(tokenizer, "eos_token_id", None)):
        if value is None:
            continue
        for i in value if isinstance(value, (list, tuple)) else [value]:
            if int(i) not in ids:
                ids.append(int(i))
    return ids


def context_length(model: Any) -> int | None:
    cfg = model.config
    for attr in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(cfg, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


# ----------------------------------------------------------------------- batch decoding


class RowStopper(StoppingCriteria):
    """Marks each row done at EOS or at its stop rule; ``generate`` exits when all rows are done.

    Only the last few tokens of each live row are decoded per step (enough to contain any stop
    string), and a full decode happens only when that tail may complete a code fence.
    """

    def __init__(
        self,
        prompt_width: int,
        eos_ids: Sequence[int],
        rules: Sequence[StopRule | None] | None = None,
        tokenizer: Any = None,
    ) -> None:
        self.prompt_width = prompt_width
        self.eos_ids = set(eos_ids)
        self.rules = list(rules) if rules is not None else None
        self.tokenizer = tokenizer
        self.finished_at: list[int | None] = []
        self.reason: list[str | None] = []
        width = [r.window for r in self.rules or [] if r is not None and r.active]
        self.window = max(width, default=0)

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        batch, length = input_ids.shape
        if not self.finished_at:
            self.finished_at = [None] * batch
            self.reason = [None] * batch
        n_new = length - self.prompt_width
        last = input_ids[:, -1].tolist()
        check: list[int] = []
        for i in range(batch):
            if self.finished_at[i] is not None:
                continue
            if last[i] in self.eos_ids:
                self.finished_at[i], self.reason[i] = n_new, "eos"
            elif self.rules is not None and self.rules[i] is not None and self.rules[i].active:  # type: ignore[union-attr]
                check.append(i)
        if check and self.tokenizer is not None:
            start = max(self.prompt_width, length - self.window)
            tails = self.tokenizer.batch_decode(input_ids[check, start:], skip_special_tokens=True)
            for i, tail in zip(check, tails, strict=True):
                rule = self.rules[i]  # type: ignore[index]
                assert rule is not None
                if not rule.maybe_in_tail(tail):
                    continue
                hit = any(s in tail for s in rule.strings)
                if not hit:
                    text = self.tokenizer.decode(
                        input_ids[i, self.prompt_width :], skip_special_tokens=True
                    )
                    hit = rule.find(text) is not None
                if hit:
                    self.finished_at[i], self.reason[i] = n_new, "stop"
        done = [f is not None for f in self.finished_at]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


@dataclass(frozen=True)
class RowOutput:
    """One generated row: its new tokens (EOS and padding removed), count and why it ended."""

    tokens: list[int]
    n_tokens: int
    finish_reason: str  # stop | eos | length


@dataclass
class Decoder:
    """Batched generation over token-id prompts; keeps the static-cache decision across batches."""

    model: Any
    tokenizer: Any
    pad_id: int
    eos_ids: list[int]
    static_cache: bool = False
    max_cache_len: int | None = None
    warn: bool = True

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        rules: Sequence[StopRule | None] | None = None,
        seed: int | None = None,
    ) -> list[RowOutput]:
        """Left-pad ``prompts`` into one batch and generate; rows stop at EOS or their rule."""
        width = max(len(p) for p in prompts)
        device = self.model.device
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            if p:
                ids[i, width - len(p) :] = torch.tensor(list(p), dtype=torch.long)
                mask[i, width - len(p) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        stopper = RowStopper(width, self.eos_ids, rules, self.tokenizer)
        gen_config = HFGenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            top_p=top_p if temperature > 0 else None,
            top_k=0 if temperature > 0 else None,
            num_beams=1,
            # decoding-neutral whatever the checkpoint's generation_config says, so that a
            # student and its teacher are decoded alike
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_ids or None,
        )
        if seed is not None:
            torch.manual_seed(seed)
        out = self._run(ids, mask, gen_config, stopper)
        results: list[RowOutput] = []
        new = out[:, width:].tolist()
        for i, row in enumerate(new):
            finished = stopper.finished_at[i] if stopper.finished_at else None
            reason = stopper.reason[i] if stopper.reason else None
            if finished is None:
                n, reason = len(row), "length"
                # generate may stop a row on EOS after our last look at it
                for j, tok in enumerate(row):
                    if tok in stopper.eos_ids:
                        n, reason = j + 1, "eos"
                        break
            else:
                n = finished
            tokens = row[: n - 1] if reason == "eos" else row[:n]
            results.append(RowOutput(tokens, n, str(reason)))
        return results

    def _run(
        self, ids: torch.Tensor, mask: torch.Tensor, gen_config: Any, stopper: RowStopper
    ) -> torch.Tensor:
        if self.static_cache:
            gen_config.cache_implementation = "static"
            if self.max_cache_len:
                gen_config.max_cache_len = self.max_cache_len
            try:
                return self._generate_once(ids, mask, gen_config, stopper)
            except torch.OutOfMemoryError:
                raise
            except (
                RuntimeError,
                NotImplementedError,
                ValueError,
                TypeError,
                AttributeError,
            ) as exc:
                if self.warn:
                    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    print(
                        f"harness generate: static cache/compile unavailable ({first}); using the dynamic cache",
                        file=sys.stderr,
                    )
                self.static_cache = False
                gen_config.cache_implementation = None
                gen_config.max_cache_len = None
                stopper.finished_at, stopper.reason = [], []
        return self._generate_once(ids, mask, gen_config, stopper)

    def _generate_once(
        self, ids: torch.Tensor, mask: torch.Tensor, gen_config: Any, stopper: RowStopper
    ) -> torch.Tensor:
        with torch.inference_mode():
            return self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                generation_config=gen_config,
                stopping_criteria=StoppingCriteriaList([stopper]),
            )


def decode_new(tokenizer: Any, prompt_ids: Sequence[int], new_ids: Sequence[int]) -> str:
    """Text of ``new_ids`` as it continues the prompt (decoding them alone can lose a leading
    space with SentencePiece tokenizers)."""
    head = tokenizer.decode(list(prompt_ids), skip_special_tokens=True)
    full = tokenizer.decode(list(prompt_ids) + list(new_ids), skip_special_tokens=True)
    if full.startswith(head):
        return str(full[len(head) :])
    return str(tokenizer.decode(list(new_ids), skip_special_tokens=True))


# ------------------------------------------------------------------------------ the engine


def _generate_fitting(
    decoder: Decoder,
    prompt_ids: Sequence[Sequence[int]],
    budget: int,
    temperature: float,
    top_p: float,
    rules: Sequence[StopRule | None],
    seed: int | None,
) -> list[RowOutput]:
    """Generate a batch, halving it on a GPU out-of-memory (a long-prompt batch may not fit
    where the others do) rather than failing the whole run."""
    try:
        return decoder.generate(prompt_ids, budget, temperature, top_p, rules, seed)
    except torch.OutOfMemoryError as exc:
        if len(prompt_ids) == 1:
            raise InfraError(
                f"out of memory generating one sample of {budget} tokens; lower --max-new-tokens"
            ) from exc
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(prompt_ids) // 2
        first = _generate_fitting(
            decoder, prompt_ids[:half], budget, temperature, top_p, rules[:half], seed
        )
        rest = _generate_fitting(
            decoder,
            prompt_ids[half:],
            budget,
            temperature,
            top_p,
            rules[half:],
            None if seed is None else seed + 1,
        )
        return first + rest


class TransformersEngine(Engine):
    """In-process transformers: batched ``generate`` with length bucketing, per-row early exit
    and (on CUDA) a static KV cache; splits work over ``torchrun``/``accelerate`` ranks."""

    name = "transformers"
    distributed = True

    def __init__(self, config: GenerationConfig, *, quiet: bool = False) -> None:
        super().__init__(config, quiet=quiet)
        self.model: Any = None
        self.decoder: Decoder | None = None
        self.device: torch.device | None = None
        self.ctx: int | None = None

    @classmethod
    def version(cls) -> str:
        import transformers

        return str(transformers.__version__)

    @property
    def started(self) -> bool:
        return self.model is not None

    @property
    def place(self) -> str:
        return str(self.device)

    def start(self) -> None:
        if self.model is not None:
            return
        self.device = resolve_device(self.config.device, self.local_rank)
        self.model, self.tokenizer = load_model(self.config, self.device)
        self.ctx = context_length(self.model)
        use_static = (
            self.config.static_cache
            if self.config.static_cache is not None
            else self.device.type == "cuda"
        )
        self.decoder = Decoder(
            self.model,
            self.tokenizer,
            pad_id=int(self.tokenizer.pad_token_id),
            eos_ids=eos_token_ids(self.model, self.tokenizer),
            static_cache=use_static,
            # the longest prompt is sent first, so the first batch sizes the cache
            max_cache_len=None,
            warn=not self.quiet,
        )

    def render(self, template: Template, prompt: str, dataset_name: str, entry: str) -> dict[str, Any]:
        fields = super().render(template, prompt, dataset_name, entry)
        ids = self.tokenizer(fields["text"], add_special_tokens=template.add_special_tokens)
        return {**fields, "ids": tuple(ids["input_ids"])}

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        assert self.decoder is not None
        config = self.config
        prompt_ids = [list(r.ids or ()) for r in requests]
        if self.decoder.static_cache and self.decoder.max_cache_len is None:
            self.decoder.max_cache_len = max(len(p) for p in prompt_ids) + config.max_new_tokens
        budget = config.max_new_tokens
        if self.ctx is not None:
            budget = min(budget, self.ctx - max(len(p) for p in prompt_ids))
        if budget < 1:
            if not self.quiet:
                print(f"harness generate: prompt of {requests[0].task_id} fills the model's "
                      f"context ({self.ctx} tokens)", file=sys.stderr, flush=True)
            return [Completion("", 0, "length") for _ in requests]
        seed = None if config.greedy else seed_for(config.seed, [r.key for r in requests])
        outputs = _generate_fitting(self.decoder, prompt_ids, budget, config.temperature,
                                    config.top_p, [r.rule for r in requests], seed)
        return [
            Completion(decode_new(self.tokenizer, ids, res.tokens), res.n_tokens, res.finish_reason)
            for ids, res in zip(prompt_ids, outputs, strict=True)
        ]

    def close(self) -> None:
        self.model = self.decoder = None


#: The one samples loop lives in harness.generation.engine; kept here for callers of this module.
generate_samples = _generate_samples


__all__ = [
    "Decoder",
    "RowOutput",
    "RowStopper",
    "TransformersEngine",
    "check_model_source",
    "context_length",
    "decode_new",
    "eos_token_ids",
    "generate_samples",
    "load_model",
    "model_error",
    "resolve_device",
    "resolve_dtype",
]
