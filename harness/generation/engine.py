"""The engine contract and the one samples loop every engine runs under.

An engine turns rendered prompts into raw text; everything around that is shared so that the
engines cannot drift apart: which tasks and samples are still missing (resume), how prompts are
rendered (templates), where output stops and how it is cleaned (``Template.postprocess``), what
a samples line holds, and the settings hash a samples file is resumed under. Engines are
registered by name in ``harness.core.registry.ENGINES``: ``transformers`` (in-process), ``vllm``
(offline engine in a worker process) and ``openai`` (any OpenAI-compatible server).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from harness.core.errors import InfraError, UsageError
from harness.generation.config import GenerationConfig
from harness.generation.distributed import Dist, close_dist, init_dist
from harness.generation.samples import SampleWriter, finalize, read_samples, shard_path, shard_paths
from harness.generation.stops import StopRule
from harness.generation.templates import Template, get_template


@dataclass(frozen=True)
class Request:
    """One generated row: a task's rendered prompt and the sample indices it fills (several
    when greedy: the single greedy output is generated once)."""

    task_id: str
    indices: tuple[int, ...]
    order: int  # position of the task in the dataset
    prompt: str  # the task prompt (what a completion is appended to)
    entry_point: str
    text: str  # the rendered prompt the model sees
    rule: StopRule
    ids: tuple[int, ...] | None = None  # token ids of ``text``, where the engine tokenizes
    messages: tuple[dict[str, str], ...] | None = None  # for chat APIs (instruction templates)

    @property
    def key(self) -> tuple[str, int]:
        return self.task_id, self.indices[0]

    def seed(self, seed: int) -> int:
        """A per-request seed: a sample is the same whether generated now or on a rerun."""
        return seed_for(seed, [self.key])

    def with_indices(self, indices: tuple[int, ...]) -> Request:
        return Request(self.task_id, indices, self.order, self.prompt, self.entry_point,
                       self.text, self.rule, self.ids, self.messages)


@dataclass(frozen=True)
class Completion:
    """An engine's answer to a request: the raw new text, how many tokens, and why it ended
    (``stop``, ``eos`` or ``length``; ``None`` where the engine does not say)."""

    text: str
    n_tokens: int | None
    finish_reason: str | None
    n_prompt_tokens: int | None = None


def seed_for(seed: int, keys: Sequence[tuple[str, int]]) -> int:
    digest = hashlib.sha256(f"{seed}|{keys}".encode()).hexdigest()
    return int(digest[:8], 16)


class Engine(ABC):
    """Turns requests into completions. ``start`` loads or connects (slow), ``generate`` is
    called with chunks of at most ``chunk_size`` requests (their lines are written after each
    chunk, so an interrupted run loses at most one chunk), ``close`` frees everything."""

    name: ClassVar[str]
    #: Whether the engine splits work over ``torchrun``/``accelerate`` ranks.
    distributed: ClassVar[bool] = False
    #: Slow to start, so one started engine serves every run in the process with the same
    #: model and engine settings (closed at exit, or by ``close_engines``).
    pooled: ClassVar[bool] = False

    def __init__(self, config: GenerationConfig, *, quiet: bool = False) -> None:
        self.config = config
        self.quiet = quiet
        self.tokenizer: Any = None  # set by start() where the engine has one; templates use it
        self.local_rank = 0  # this process's GPU under torchrun/accelerate

    @classmethod
    def check(cls, config: GenerationConfig) -> str:
        """Cheap checks before anything heavy (exit 2 on a model that cannot exist); returns
        the model's fingerprint (what the eval cache keys its generations by)."""
        from harness.generation.fingerprint import model_fingerprint
        from harness.generation.loading import check_model_source

        check_model_source(config.model)
        return model_fingerprint(config.model, config.revision)

    @classmethod
    def forced_scoring(cls, config: GenerationConfig) -> str:
        """How teacher-forced metrics score this model: ``"weights"`` (transformers loads its
        weights: full next-token distributions) or ``"prompt_logprobs"`` (the engine reports the
        top-k logprobs at each position of a given token sequence, :meth:`prompt_logprobs`)."""
        return "weights"

    def forced_source(self) -> str | None:
        """Where the tokenizer (and generation defaults) of the model behind a
        ``prompt_logprobs`` engine load from, once started; None when unknown."""
        return None

    def prompt_logprobs(self, sequences: Sequence[Sequence[int]], k: int) -> list[list[dict[int, float] | None]] | str:
        """Per token sequence and position: the logprobs of the token at that position and of the
        ``k`` likeliest tokens there (None at position 0, which nothing predicts); or, as a
        string, why this engine or server gives none."""
        return f"the {self.name} engine gives no prompt logprobs"

    @classmethod
    def identity(cls, config: GenerationConfig) -> dict[str, Any]:
        """What, besides the sampling settings, decides the outputs: engine, version, settings.
        Part of the eval cache key, so each engine's results are cached apart."""
        return {"engine": cls.name, "version": cls.version(), "settings": config.engine_settings()}

    @classmethod
    def version(cls) -> str:
        return ""

    @property
    def started(self) -> bool:
        return True

    @property
    def place(self) -> str:
        """Where it runs, for the log line."""
        return self.name

    @abstractmethod
    def start(self) -> None:
        """Load the model or connect; idempotent."""

    def render(self, template: Template, prompt: str, dataset_name: str, entry: str) -> dict[str, Any]:
        """The request fields an engine needs for ``prompt`` (text; ids or messages)."""
        text = template.render(prompt, self.tokenizer)
        return {"text": text, "rule": template.stop_rule(dataset_name, entry)}

    @property
    def chunk_size(self) -> int:
        return self.config.batch_size

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """One completion per request, in order."""

    @abstractmethod
    def close(self) -> None:
        """Free the model, the worker process or the connection; idempotent."""


def engine_class(name: str) -> type[Engine]:
    from harness.core.registry import ENGINES

    cls: type[Engine] = ENGINES.get(name)
    return cls


_POOL: dict[GenerationConfig, Engine] = {}


def _pool_key(config: GenerationConfig) -> GenerationConfig:
    """The config less what only the requests carry (sampling settings, sample count)."""
    return replace(config, n_samples=1, temperature=0.0, top_p=0.95, max_new_tokens=1,
                   batch_size=1, template="plain", seed=0)


def open_engine(config: GenerationConfig, *, quiet: bool = False) -> Engine:
    """An engine for ``config``: a pooled one already started for the same model and engine
    settings if there is one, else a new one (started by its first run)."""
    cls = engine_class(config.engine)
    if not cls.pooled:
        return cls(config, quiet=quiet)
    key = _pool_key(config)
    if key not in _POOL:
        if not _POOL:
            atexit.register(close_engines)
        _POOL[key] = cls(config, quiet=quiet)
    engine = _POOL[key]
    engine.config, engine.quiet = config, quiet
    return engine


def close_engines() -> None:
    """Close every pooled engine (their worker processes end)."""
    while _POOL:
        _POOL.popitem()[1].close()


def forced_scoring(config: GenerationConfig) -> str:
    """``"weights"`` or ``"prompt_logprobs"``: see :meth:`Engine.forced_scoring`."""
    return engine_class(config.engine).forced_scoring(config)


# -------------------------------------------------------------------------- the samples run


def generate_samples(
    dataset: Any,
    config: GenerationConfig,
    out_path: str | os.PathLike[str],
    limit: int | None = None,
    task_ids: Sequence[str] | None = None,
    prompts: Mapping[str, Any] | None = None,
    *,
    quiet: bool = False,
    engine: Engine | None = None,
) -> Path:
    """Generate ``config.n_samples`` samples per task into the JSONL file ``out_path``.

    Resumable: samples already in the file (or in shards of an interrupted multi-process run)
    are kept and only missing (task_id, sample_index) pairs are generated. ``prompts`` maps
    task ids to transformed prompts (a string, or an object with ``prompt`` and optionally
    ``entry_point``); when given without ``task_ids``, only those tasks are generated.
    ``engine``: an engine already started by the caller (kept open), else one of
    ``config.engine`` is started here and closed at the end. Under ``accelerate launch`` /
    ``torchrun`` the transformers engine splits the work over the processes; rank 0 merges the
    shards. Returns the path of the samples file.
    """
    config.validate()
    template = get_template(config.template)
    out = Path(out_path).expanduser()
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a .jsonl file path")
    selected = _select(dataset, limit, task_ids, prompts)
    eng = engine if engine is not None else open_engine(config, quiet=quiet)
    own = engine is None and not eng.pooled
    eng.config = config
    dist = init_dist() if eng.distributed else Dist()
    eng.local_rank = dist.local_rank
    run = _Run(dataset, config, template, out, list(dataset.tasks), dist, quiet)
    try:
        return run.generate(eng, {tid: _task_prompt(dataset, tid, prompts) for tid in selected})
    finally:
        if own:
            eng.close()
        close_dist(dist)


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
                    f"{path} holds samples generated with other settings (model, engine, "
                    "template, temperature, max new tokens or dataset); use another --out or remove it"
                )
            tid = str(row["task_id"])
            if tid in prompt_hashes and row.get("prompt_hash") != prompt_hashes[tid]:
                raise UsageError(
                    f"{path} holds samples of {tid} generated from another prompt; "
                    "use another --out or remove it"
                )
            done.add((tid, int(row["sample_index"])))
    return done


@dataclass
class _Run:
    """One samples file being filled: the parts of a run every engine shares."""

    dataset: Any
    config: GenerationConfig
    template: Template
    out: Path
    order: list[str]
    dist: Dist
    quiet: bool
    gen_hash: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.gen_hash = self.config.output_hash(self.dataset.name)
        self.meta = self.config.sample_meta(self.dataset.name, self.gen_hash)

    def log(self, message: str) -> None:
        if self.quiet:
            return
        prefix = f"[rank {self.dist.rank}] " if self.dist.enabled else ""
        print(f"harness generate: {prefix}{message}", file=sys.stderr, flush=True)

    def generate(self, engine: Engine, task_prompts: dict[str, tuple[str, str]]) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        hashes = {tid: _prompt_hash(p) for tid, (p, _) in task_prompts.items()}
        done = _done_keys(self.out, self.gen_hash, hashes)
        n = self.config.n_samples
        if all((tid, k) in done for tid in task_prompts for k in range(n)):
            self.log(f"nothing to generate: {self.out.name} has every sample asked for")
            return self.finish()
        engine.start()
        todo = self.requests(engine, task_prompts, done)
        target = shard_path(self.out, self.dist.rank, self.dist.world) if self.dist.enabled else self.out
        n_rows = sum(len(r.indices) for r in todo)
        self.log(f"{n_rows} samples to generate ({len(done)} already in {self.out.name}) on {engine.place}")
        started, n_tokens, n_written = time.perf_counter(), 0, 0
        with SampleWriter(target) as writer:
            step = max(1, engine.chunk_size)
            for b in range(0, len(todo), step):
                chunk = todo[b : b + step]
                outputs = engine.generate(chunk)
                if len(outputs) != len(chunk):
                    raise InfraError(f"engine {engine.name} answered {len(outputs)} of {len(chunk)} prompts")
                lines = [ln for r, c in zip(chunk, outputs, strict=True) for ln in self.lines(r, c, hashes)]
                writer.write(lines)
                n_written += len(lines)
                n_tokens += sum(c.n_tokens or 0 for c in outputs)
                rate = n_tokens / max(time.perf_counter() - started, 1e-9)
                self.log(f"{n_written}/{n_rows} samples, {rate:.1f} tok/s")
        return self.finish()

    def requests(
        self, engine: Engine, task_prompts: dict[str, tuple[str, str]], done: set[tuple[str, int]]
    ) -> list[Request]:
        """This rank's missing work, longest prompt first (batches pad little, and an
        out-of-memory shows up at once). The split over ranks uses every request, done or not:
        ranks read the shards while others write them."""
        position = {t: i for i, t in enumerate(self.order)}
        n = self.config.n_samples
        groups = [tuple(range(n))] if self.config.greedy else [(k,) for k in range(n)]
        units: list[Request] = []
        for tid, (prompt, entry) in task_prompts.items():
            fields = engine.render(self.template, prompt, self.dataset.name, entry)
            units.extend(Request(tid, g, position[tid], prompt, entry, **fields) for g in groups)
        units.sort(key=lambda r: (-len(r.ids if r.ids is not None else r.text), r.order, r.indices))
        mine = units[self.dist.rank :: self.dist.world]
        todo = [r.with_indices(tuple(k for k in r.indices if (r.task_id, k) not in done)) for r in mine]
        return [r for r in todo if r.indices]

    def lines(self, req: Request, res: Completion, hashes: Mapping[str, str]) -> list[dict[str, Any]]:
        """The samples lines of one completion: the one place raw text is cleaned."""
        processed = self.template.postprocess(res.text, req.prompt, req.entry_point, req.rule)
        finish = "stop" if processed.stopped else res.finish_reason
        n_prompt = res.n_prompt_tokens if res.n_prompt_tokens is not None else (
            len(req.ids) if req.ids is not None else None)
        row = {
            "solution": processed.solution,
            "completion": processed.completion,
            "raw": res.text,
            "n_tokens": res.n_tokens,
            "n_prompt_tokens": n_prompt,
            "finish_reason": finish,
            "prompt_hash": hashes[req.task_id],
            **self.meta,
        }
        return [{"task_id": req.task_id, "sample_index": k, **row} for k in req.indices]

    def finish(self) -> Path:
        """Once every rank is done, rank 0 merges the shards into ``out`` in canonical order."""
        self.dist.barrier()
        if self.dist.is_main:
            total = finalize(self.out, self.order, extra=shard_paths(self.out))
            self.log(f"{self.out} holds {total} samples")
        self.dist.barrier()
        return self.out


__all__ = [
    "Completion",
    "Engine",
    "Request",
    "engine_class",
    "generate_samples",
    "close_engines",
    "forced_scoring",
    "open_engine",
    "seed_for",
]
