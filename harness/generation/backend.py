"""The transformers generation backend.

Speed comes from three things, because generation dominates an evaluation:
- length bucketing: rows are sorted by prompt length so a batch pads little;
- early exit: a stopping criterion marks each row done at its first stop sequence or EOS, and
  ``generate`` returns as soon as every row of the batch is done;
- on CUDA, a static KV cache, which ``generate`` compiles with ``torch.compile`` (falling back to
  the dynamic cache if that fails; on CPU the dynamic cache is used).
Left padding with an attention mask keeps greedy outputs identical across batch sizes.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig as HFGenerationConfig
from transformers import StoppingCriteria, StoppingCriteriaList

from harness.errors import InfraError, UsageError
from harness.generation.config import GenerationConfig
from harness.generation.distributed import Dist, close_dist, init_dist
from harness.generation.samples import (
    SampleWriter,
    finalize,
    read_samples,
    shard_path,
    shard_paths,
)
from harness.generation.stops import StopRule
from harness.generation.templates import Template, get_template

# ------------------------------------------------------------------------ model loading


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``auto``: this rank's GPU when CUDA is available, else the CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for, but CUDA is not available")
        chosen = (
            torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
            if device == "cuda"
            else torch.device(device)
        )
        torch.cuda.set_device(chosen)  # compiled graphs and the static cache follow it
        return chosen
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 on a GPU that supports it (float16 otherwise), float32 on the CPU."""
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", ".\\")) or name.count("/") > 1 or "\\" in name


def _model_error(name: str, exc: BaseException) -> Exception:
    """Map a loading failure to exit 2 (the user named something that is not there) or 3."""
    from huggingface_hub import errors as hub_errors

    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if Path(name).expanduser().is_dir():
        return UsageError(f"could not load model from directory {name!r}: {first}")

    user_side = (
        hub_errors.RepositoryNotFoundError,
        hub_errors.RevisionNotFoundError,
        hub_errors.GatedRepoError,
        hub_errors.EntryNotFoundError,
        hub_errors.HFValidationError,
    )
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if any(isinstance(c, user_side) for c in chain):
        return UsageError(
            f"model {name!r} not found on the Hugging Face Hub (or the revision does not exist)"
        )
    if any(isinstance(c, hub_errors.LocalEntryNotFoundError) for c in chain):
        if _offline():
            return UsageError(
                f"model {name!r} is not a local directory and not in the Hugging Face cache (offline)"
            )
        return InfraError(f"could not download model {name!r}: {str(exc).splitlines()[0]}")
    if isinstance(exc, (ValueError, KeyError)) or "not a valid model identifier" in str(exc):
        return UsageError(f"could not load model {name!r}: {first}")
    return InfraError(f"could not load model {name!r}: {first}")


def check_model_source(name: str) -> str:
    """Fail fast (exit 2) on a model that cannot exist, before anything heavy runs."""
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"model path {name!r} is a file; give a model directory or a hub id")
        if not (path / "config.json").is_file():
            raise UsageError(
                f"model directory {name!r} has no config.json (not a saved transformers model)"
            )
        return str(path)
    if _looks_like_path(name):
        raise UsageError(f"model directory not found: {name}")
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        raise UsageError(f"model {name!r} is neither a directory nor a valid hub id") from None
    return name


def load_model(config: GenerationConfig, device: torch.device) -> tuple[Any, Any]:
    """Model and tokenizer from a hub id or a local directory, ready for left-padded batches."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = check_model_source(config.model)
    dtype = resolve_dtype(config.dtype, device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=config.revision)
        model = AutoModelForCausalLM.from_pretrained(source, revision=config.revision, dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise _model_error(config.model, exc) from exc
    try:
        model.to(device)  # type: ignore[arg-type]
    except RuntimeError as exc:  # out of memory and the like
        raise InfraError(f"could not move model to {device}: {str(exc).splitlines()[0]}") from exc
    model.eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return model, tokenizer


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
                with torch.inference_mode():
                    return self.model.generate(
                        input_ids=ids,
                        attention_mask=mask,
                        generation_config=gen_config,
                        stopping_criteria=StoppingCriteriaList([stopper]),
                    )
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


# -------------------------------------------------------------------------- the samples run


@dataclass(frozen=True)
class _Unit:
    """Work for one generated row: a task and the sample indices it fills (several when greedy)."""

    task_id: str
    indices: tuple[int, ...]
    order: int  # position of the task in the dataset


def _select(
    dataset: Any,
    limit: int | None,
    task_ids: Sequence[str] | None,
    prompts: Mapping[str, Any] | None,
) -> list[str]:
    ids = list(dataset.tasks)
    if prompts is not None:
        unknown = [t for t in prompts if t not in dataset.tasks]
        if unknown:
            raise UsageError(
                f"prompt given for unknown task id {unknown[0]!r} of dataset {dataset.name}"
            )
        if task_ids is None:
            ids = [t for t in ids if t in prompts]
    if task_ids is not None:
        unknown = [t for t in task_ids if t not in dataset.tasks]
        if unknown:
            raise UsageError(f"unknown task id {unknown[0]!r} for dataset {dataset.name}")
        wanted = set(task_ids)
        ids = [t for t in ids if t in wanted]
    if limit is not None:
        if limit < 0:
            raise UsageError(f"--limit must be >= 0 (got {limit})")
        ids = ids[:limit]
    return ids


def _task_prompt(dataset: Any, task_id: str, prompts: Mapping[str, Any] | None) -> tuple[str, str]:
    """Prompt and entry point of a task, a caller's transformed prompt taking precedence."""
    task = dataset.tasks[task_id]
    entry = task.entry_point
    if prompts is not None and task_id in prompts:
        value = prompts[task_id]
        if isinstance(value, str):
            return value, entry
        return value.prompt, getattr(value, "entry_point", entry)
    return task.prompt, entry


def _seed_for(seed: int, keys: Sequence[tuple[str, int]]) -> int:
    digest = hashlib.sha256(f"{seed}|{keys}".encode()).hexdigest()
    return int(digest[:8], 16)


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


def _log(dist: Dist, message: str, quiet: bool) -> None:
    if quiet:
        return
    prefix = f"[rank {dist.rank}] " if dist.enabled else ""
    print(f"harness generate: {prefix}{message}", file=sys.stderr, flush=True)


def generate_samples(
    dataset: Any,
    config: GenerationConfig,
    out_path: str | os.PathLike[str],
    limit: int | None = None,
    task_ids: Sequence[str] | None = None,
    prompts: Mapping[str, Any] | None = None,
    *,
    quiet: bool = False,
) -> Path:
    """Generate ``config.n_samples`` samples per task into the JSONL file ``out_path``.

    Resumable: samples already in the file (or in shards of an interrupted multi-process run)
    are kept and only missing (task_id, sample_index) pairs are generated. ``prompts`` maps
    task ids to transformed prompts (a string, or an object with ``prompt`` and optionally
    ``entry_point``); when given without ``task_ids``, only those tasks are generated.
    Under ``accelerate launch`` / ``torchrun`` the work is split over the processes; rank 0
    merges the shards. Returns the path of the samples file.
    """
    config.validate()
    template = get_template(config.template)
    out = Path(out_path).expanduser()
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a .jsonl file path")
    selected = _select(dataset, limit, task_ids, prompts)
    order = list(dataset.tasks)
    gen_hash = config.output_hash(dataset.name)
    dist = init_dist()
    try:
        return _generate(
            dataset, config, template, out, selected, order, gen_hash, prompts, dist, quiet
        )
    finally:
        close_dist(dist)


def _prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


def _done_keys(out: Path, gen_hash: str, prompt_hashes: Mapping[str, str]) -> set[tuple[str, int]]:
    """Keys already generated (file and any shards), after checking they were made alike:
    same settings, and for the tasks asked for now, the same prompt."""
    done: set[tuple[str, int]] = set()
    for path in [out, *shard_paths(out)]:
        rows, _ = read_samples(path)
        for row in rows:
            if row.get("gen_hash") != gen_hash:
                raise UsageError(
                    f"{path} holds samples generated with other settings (model, template, "
                    "temperature, max new tokens or dataset); use another --out or remove it"
                )
            tid = str(row["task_id"])
            if tid in prompt_hashes and row.get("prompt_hash") != prompt_hashes[tid]:
                raise UsageError(
                    f"{path} holds samples of {tid} generated from another prompt; "
                    "use another --out or remove it"
                )
            done.add((tid, int(row["sample_index"])))
    return done


def _generate(
    dataset: Any,
    config: GenerationConfig,
    template: Template,
    out: Path,
    selected: list[str],
    order: list[str],
    gen_hash: str,
    prompts: Mapping[str, Any] | None,
    dist: Dist,
    quiet: bool,
) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    task_prompts = {tid: _task_prompt(dataset, tid, prompts) for tid in selected}
    prompt_hashes = {tid: _prompt_hash(p) for tid, (p, _) in task_prompts.items()}
    done = _done_keys(out, gen_hash, prompt_hashes)
    if all((tid, k) in done for tid in selected for k in range(config.n_samples)):
        _log(dist, f"nothing to generate: {out.name} has every sample asked for", quiet)
        return _finish(out, order, dist, quiet)
    device = resolve_device(config.device, dist.local_rank)
    model, tokenizer = load_model(config, device)

    # Render and tokenize every selected prompt; the split over ranks must not depend on what
    # is done already (ranks read the shards while others write them), so it uses all units.
    rendered: dict[str, tuple[str, str, list[int], StopRule]] = {}
    for tid in selected:
        prompt, entry = task_prompts[tid]
        text = template.render(prompt, tokenizer)
        ids = tokenizer(text, add_special_tokens=template.add_special_tokens)["input_ids"]
        rendered[tid] = (prompt, entry, list(ids), template.stop_rule(dataset.name, entry))
    position = {t: i for i, t in enumerate(order)}
    units: list[_Unit] = []
    for tid in selected:
        if config.greedy:
            units.append(_Unit(tid, tuple(range(config.n_samples)), position[tid]))
        else:
            units.extend(_Unit(tid, (k,), position[tid]) for k in range(config.n_samples))
    # Longest first: batches pad little, and an out-of-memory shows up at once.
    units.sort(key=lambda u: (-len(rendered[u.task_id][2]), u.order, u.indices))
    mine = units[dist.rank :: dist.world]
    todo = [
        _Unit(u.task_id, tuple(k for k in u.indices if (u.task_id, k) not in done), u.order)
        for u in mine
    ]
    todo = [u for u in todo if u.indices]

    ctx = context_length(model)
    longest = max((len(rendered[u.task_id][2]) for u in todo), default=0)
    use_static = config.static_cache if config.static_cache is not None else device.type == "cuda"
    decoder = Decoder(
        model,
        tokenizer,
        pad_id=int(tokenizer.pad_token_id),
        eos_ids=eos_token_ids(model, tokenizer),
        static_cache=use_static,
        max_cache_len=longest + config.max_new_tokens if use_static else None,
        warn=not quiet,
    )
    meta = {
        "model": config.model,
        "revision": config.revision,
        "template": config.template,
        "dataset": dataset.name,
        "temperature": config.temperature,
        "top_p": config.top_p if not config.greedy else None,
        "max_new_tokens": config.max_new_tokens,
        "seed": config.seed,
        "gen_hash": gen_hash,
    }
    target = shard_path(out, dist.rank, dist.world) if dist.enabled else out
    n_rows = sum(len(u.indices) for u in todo)
    _log(
        dist, f"{n_rows} samples to generate ({len(done)} already in {out.name}) on {device}", quiet
    )
    started, n_tokens_total, n_written = time.perf_counter(), 0, 0
    with SampleWriter(target) as writer:
        for b in range(0, len(todo), config.batch_size):
            batch = todo[b : b + config.batch_size]
            prompt_ids = [rendered[u.task_id][2] for u in batch]
            rules = [rendered[u.task_id][3] for u in batch]
            budget = config.max_new_tokens
            if ctx is not None:
                budget = min(budget, ctx - max(len(p) for p in prompt_ids))
            if budget < 1:
                outputs = [RowOutput([], 0, "length") for _ in batch]
                _log(
                    dist,
                    f"prompt of {batch[0].task_id} fills the model's context ({ctx} tokens)",
                    quiet,
                )
            else:
                keys = [(u.task_id, u.indices[0]) for u in batch]
                seed = None if config.greedy else _seed_for(config.seed, keys)
                outputs = _generate_fitting(
                    decoder, prompt_ids, budget, config.temperature, config.top_p, rules, seed
                )
            lines = []
            for unit, res in zip(batch, outputs, strict=True):
                prompt, entry, ids, rule = rendered[unit.task_id]
                raw = decode_new(tokenizer, ids, res.tokens)
                processed = template.postprocess(raw, prompt, entry, rule)
                finish = (
                    "stop"
                    if processed.stopped
                    else ("eos" if res.finish_reason == "eos" else res.finish_reason)
                )
                n_tokens_total += res.n_tokens
                for k in unit.indices:
                    lines.append(
                        {
                            "task_id": unit.task_id,
                            "sample_index": k,
                            "solution": processed.solution,
                            "completion": processed.completion,
                            "raw": raw,
                            "n_tokens": res.n_tokens,
                            "n_prompt_tokens": len(ids),
                            "finish_reason": finish,
                            "prompt_hash": prompt_hashes[unit.task_id],
                            **meta,
                        }
                    )
            writer.write(lines)
            n_written += len(lines)
            elapsed = max(time.perf_counter() - started, 1e-9)
            _log(dist, f"{n_written}/{n_rows} samples, {n_tokens_total / elapsed:.1f} tok/s", quiet)

    return _finish(out, order, dist, quiet)


def _finish(out: Path, order: Sequence[str], dist: Dist, quiet: bool) -> Path:
    """Once every rank is done, rank 0 merges the shards into ``out`` in canonical order."""
    dist.barrier()
    if dist.is_main:
        total = finalize(out, order, extra=shard_paths(out))
        _log(dist, f"{out} holds {total} samples", quiet)
    dist.barrier()
    return out
