"""Minimal AKD trainer (Shu et al., "Adaptive Knowledge Distillation for Lightweight Large Code
Models") with SFT, SeqKD, KD, RKD, fixed-beta and M1/M2 ablation baselines.

Public API::

    from harness.train import TrainConfig, train
    result = train(TrainConfig(method="akd", student="s/", teacher="t/", data="d.json", out="o/"))

This module imports no torch at import time (``harness --help`` stays instant); ``train`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import InfraError, UsageError

if TYPE_CHECKING:
    from harness.train.methods import MethodSpec

__all__ = ["PRECISIONS", "TrainConfig", "TrainResult", "train"]

#: Mixed-precision modes of the student step (``--precision``); the methods are
#: ``harness.core.registry.METHODS``.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Everything one training run needs; defaults follow the paper (AdamW 1e-5, batch 8, 512)."""

    method: str
    student: str
    data: str
    out: str
    teacher: str | None = None
    template: str = "alpaca"
    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 1e-5
    max_length: int = 512
    temperature: float = 1.0
    seed: int = 42
    resume: bool = False
    # loss / beta
    chunk_size: int = 512  # response tokens per fp32 loss chunk; 0 = all at once
    beta_lr: float = 0.01
    beta_lambda: float = 0.5
    beta_eps: float = 1e-4
    beta_init: tuple[float, ...] = (0.1, 0.6)
    # optimisation / schedule
    lr_scheduler: str = "linear"
    warmup: float = 0.0  # steps, or a ratio of the total when < 1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    precision: str = "auto"  # mixed precision of the student step: auto|fp32|bf16|fp16
    student_dtype: str = "fp32"  # weights; fp32 masters are the safe default
    teacher_dtype: str = "auto"  # auto = the checkpoint's own dtype
    gradient_checkpointing: bool = False
    # bookkeeping
    logging_steps: int = 1
    save_steps: int | None = None  # None: one checkpoint at the end of training
    save_total_limit: int | None = None
    limit: int | None = None  # use only the first N records
    seqkd_max_new_tokens: int = 256
    seqkd_batch_size: int = 8
    seqkd_cache: str | None = None  # default OUT/seqkd-<hash>.jsonl
    progress: bool | None = None  # None: a bar on a terminal, else progress lines; False: none
    device: str = "auto"  # auto|cpu
    deepspeed: str | None = None
    training_args: dict[str, Any] = field(default_factory=dict)  # extra TrainingArguments

    def __post_init__(self) -> None:
        """Every cheap check, so a bad option fails (exit 2) before torch is even imported."""
        checks = [
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.grad_accum >= 1, "--grad-accum must be >= 1"),
            (self.max_length >= 2, "--max-length must be >= 2"),
            (self.lr > 0, "--lr must be > 0"),
            (self.epochs > 0, "--epochs must be > 0"),
            (self.max_steps is None or self.max_steps >= 1, "--max-steps must be >= 1"),
            (self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
            (self.device in ("auto", "cpu"), "--device must be auto or cpu"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)
        from harness.generation.loading import canonical_dtype
        from harness.generation.templates import get_training_template
        from harness.train.methods import check_distill_options

        canonical_dtype(self.student_dtype, "--student-dtype")  # one vocabulary with generation
        canonical_dtype(self.teacher_dtype, "--teacher-dtype")

        spec = check_distill_options(self.method, self.temperature, tuple(self.beta_init))
        if spec.needs_teacher and not self.teacher:
            raise UsageError(f"--teacher is required for --method {spec.name}")
        get_training_template(self.template)

    @property
    def spec(self) -> MethodSpec:
        from harness.train.methods import resolve_method

        return resolve_method(self.method)


@dataclass
class TrainResult:
    """Where the run left its checkpoint and log, and where it ended."""

    out_dir: Path
    log_path: Path
    global_step: int
    beta: float | None
    train_loss: float | None
    metrics: dict[str, Any]


def _torch_dtype(name: str, what: str) -> Any:
    from harness.generation.loading import torch_dtype

    return torch_dtype(name, what)  # auto: the checkpoint's own dtype


def _load_model(path: str, dtype: Any, what: str) -> Any:
    from harness.generation.loading import load_causal_lm

    return load_causal_lm(path, dtype, what=what)


def _load_tokenizer(path: str, what: str) -> Any:
    from harness.generation.loading import load_tokenizer

    return load_tokenizer(path, what=what)


def train(config: TrainConfig) -> TrainResult:
    """Run one training job; writes a ``from_pretrained`` checkpoint and ``train_log.jsonl``.

    ``config`` was validated when it was made; the steps below load, build and run.
    """
    from harness.train.data import load_records

    cfg, spec = config, config.spec
    records = load_records(cfg.data, cfg.limit)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    from harness.reporting.progress import progress_mode

    mode = progress_mode(cfg.progress)  # a bar on a terminal, lines in logs, or nothing
    progress = mode == "bar"
    with _quiet_transformers(progress):
        import transformers

        from harness.train.arguments import DistillArguments
        from harness.train.data import build_dataset

        resume_ckpt = _resume_checkpoint(cfg, out)
        transformers.set_seed(cfg.seed)
        tokenizer = _tokenizers(cfg, spec)
        teacher = None
        if spec.seqkd:
            records = _seqkd_records(cfg, records, tokenizer, progress)
        elif spec.loss == "distill":
            teacher = _load_model(
                cfg.teacher or "", _torch_dtype(cfg.teacher_dtype, "--teacher-dtype"), "teacher"
            )
        student = _load_model(
            cfg.student, _torch_dtype(cfg.student_dtype, "--student-dtype"), "student"
        )
        dataset, dropped = build_dataset(records, tokenizer, cfg.template, cfg.max_length)
        args = DistillArguments.from_config(cfg, progress)
        trainer = _trainer(args, student, teacher, tokenizer, dataset, resume_ckpt)
        if mode == "lines":
            from harness.train.progress import ProgressLines

            trainer.add_callback(ProgressLines(f"train {spec.name}"))
        output = _fit(trainer, resume_ckpt)
        _save(trainer, tokenizer, cfg, dropped)
        return TrainResult(
            out_dir=out,
            log_path=trainer.log_path or out / "train_log.jsonl",
            global_step=trainer.state.global_step,
            beta=trainer.beta.value if spec.loss == "distill" else None,
            train_loss=output.training_loss,
            metrics=dict(output.metrics),
        )


@contextmanager
def _quiet_transformers(progress: bool) -> Iterator[None]:
    """transformers' warnings off, and its progress bars too unless ``progress``; restored."""
    import transformers

    verbosity = transformers.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    if not progress:
        transformers.utils.logging.disable_progress_bar()  # no weight-loading bars in logs
    try:
        yield
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.utils.logging.enable_progress_bar()


def _resume_checkpoint(cfg: TrainConfig, out: Path) -> str | None:
    """The checkpoint ``--resume`` continues from (None for a fresh run)."""
    if not cfg.resume:
        return None
    from transformers.trainer_utils import get_last_checkpoint

    found = get_last_checkpoint(str(out)) if out.is_dir() else None
    if found is None:
        raise UsageError(f"--resume: no checkpoint-* directory in {out}")
    return str(found)


def _tokenizers(cfg: TrainConfig, spec: MethodSpec) -> Any:
    """The student's tokenizer, once the teacher's (if any) is known to match it."""
    tokenizer = _load_tokenizer(cfg.student, "student")
    if spec.needs_teacher:
        teacher_tok = _load_tokenizer(cfg.teacher or "", "teacher")
        if teacher_tok.get_vocab() != tokenizer.get_vocab():
            raise UsageError(
                f"vocabulary mismatch: the student tokenizer has {len(tokenizer)} tokens, "
                f"the teacher's {len(teacher_tok)} (or they map tokens differently)"
            )
    return tokenizer


def _trainer(
    args: Any, student: Any, teacher: Any, tokenizer: Any, dataset: Any, resume_ckpt: str | None
) -> Any:
    """The DistillTrainer with its beta (restored on resume) and fresh or truncated logs."""
    from harness.train.data import Collator
    from harness.train.trainer import BetaController, DistillTrainer, truncate_log, world_info

    out, spec, rank = Path(args.output_dir), args.spec, world_info()[0]
    log_path = out / "train_log.jsonl"
    beta = BetaController(
        spec, lr=args.beta_lr, lam=args.beta_lambda, eps=args.beta_eps,
        init_choices=tuple(args.beta_init), seed=args.seed,
    )
    if resume_ckpt is not None:
        has_beta = beta.load(resume_ckpt)
        if spec.learned_beta and not has_beta:
            raise UsageError(f"--resume: {resume_ckpt} holds no beta state for {spec.name}")
        step = json.loads((Path(resume_ckpt) / "trainer_state.json").read_text())["global_step"]
        if rank == 0:
            truncate_log(log_path, int(step))
        truncate_log(out / f"beta_trace.rank{rank}.jsonl", int(step))
    else:  # a fresh run starts fresh logs
        if rank == 0:
            log_path.unlink(missing_ok=True)
        (out / f"beta_trace.rank{rank}.jsonl").unlink(missing_ok=True)
    return DistillTrainer(model=student, args=args, data_collator=Collator(int(tokenizer.pad_token_id)),
                          train_dataset=dataset, processing_class=tokenizer, beta=beta, teacher=teacher,
                          log_path=log_path)


def _fit(trainer: Any, resume_ckpt: str | None) -> Any:
    import torch

    try:
        return trainer.train(resume_from_checkpoint=resume_ckpt)
    except torch.cuda.OutOfMemoryError as exc:
        raise InfraError(f"out of GPU memory: {str(exc).splitlines()[0]}") from None


def _save(trainer: Any, tokenizer: Any, cfg: TrainConfig, dropped: int) -> None:
    """The final model (every rank takes part), its tokenizer and train_config.json."""
    out = str(cfg.out)
    trainer.save_model(out)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(out)
        meta = {**asdict(cfg), "resolved_method": trainer.method.name, "dropped_records": dropped,
                "global_step": trainer.state.global_step, "final_beta": trainer.beta.value}
        (Path(out) / "train_config.json").write_text(json.dumps(meta, indent=2, default=str))


def _seqkd_records(
    cfg: TrainConfig, records: list[Any], tokenizer: Any, progress: bool
) -> list[Any]:
    """Teacher-generated training set (generated once on the main process, cached)."""
    import torch
    from accelerate import PartialState

    from harness.train.seqkd import (
        cache_path,
        generate_responses,
        read_cache,
        with_cached_outputs,
    )

    teacher_path = cfg.teacher or ""
    path = Path(cfg.seqkd_cache) if cfg.seqkd_cache else cache_path(
        cfg.out, teacher_path, records, cfg.template, cfg.seqkd_max_new_tokens, cfg.max_length
    )
    state = PartialState(cpu=cfg.device == "cpu")
    with state.main_process_first():
        if state.is_main_process:
            teacher = _load_model(
                teacher_path, _torch_dtype(cfg.teacher_dtype, "--teacher-dtype"), "teacher"
            )
            if cfg.device != "cpu" and torch.cuda.is_available():
                teacher.to(state.device)
            out = generate_responses(
                teacher, tokenizer, records, cfg.template, path,
                max_new_tokens=cfg.seqkd_max_new_tokens, max_length=cfg.max_length,
                batch_size=cfg.seqkd_batch_size, progress=progress,
            )
            del teacher
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        else:  # the main process has written the complete cache by now
            out = with_cached_outputs(records, read_cache(path))
    if not out:
        raise UsageError("seqkd: the teacher produced no usable response")
    return out
