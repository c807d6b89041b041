"""Minimal AKD trainer (Shu et al., "Adaptive Knowledge Distillation for Lightweight Large Code
Models") with SFT, SeqKD, KD, RKD, fixed-beta and M1/M2 ablation baselines.

Public API::

    from harness.train import TrainConfig, train
    result = train(TrainConfig(method="akd", student="s/", teacher="t/", data="d.json", out="o/"))

This module imports no torch at import time (``harness --help`` stays instant); ``train`` does.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InfraError, UsageError

__all__ = ["TrainConfig", "TrainResult", "train", "METHOD_NAMES"]

METHOD_NAMES = ("sft", "seqkd", "kd", "rkd", "akd", "m1", "m2", "m3", "fixed:<beta>")
_DTYPES = ("auto", "fp32", "bf16", "fp16")


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
    progress: bool | None = None  # None: a bar only when stderr is a terminal
    device: str = "auto"  # auto|cpu
    deepspeed: str | None = None
    training_args: dict[str, Any] = field(default_factory=dict)  # extra TrainingArguments


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
    import torch

    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "auto": "auto"}
    if name not in table:
        raise UsageError(f"{what}: unknown dtype {name!r} (choose from {', '.join(_DTYPES)})")
    return table[name]


def _load_model(path: str, dtype: Any, what: str) -> Any:
    from transformers import AutoModelForCausalLM

    if not Path(path).exists() and (path.startswith((".", "/")) or path.count("/") > 1):
        raise UsageError(f"{what} checkpoint not found: {path}")
    try:
        return AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load {what} from {path}: {str(exc).splitlines()[0]}") from None


def _load_tokenizer(path: str, what: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load the {what} tokenizer from {path}: {exc}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _validate(cfg: TrainConfig) -> None:
    checks = [
        (cfg.batch_size >= 1, "--batch-size must be >= 1"),
        (cfg.grad_accum >= 1, "--grad-accum must be >= 1"),
        (cfg.max_length >= 2, "--max-length must be >= 2"),
        (cfg.temperature > 0, "--temperature must be > 0"),
        (cfg.lr > 0, "--lr must be > 0"),
        (cfg.epochs > 0, "--epochs must be > 0"),
        (cfg.max_steps is None or cfg.max_steps >= 1, "--max-steps must be >= 1"),
        (cfg.precision in _DTYPES, f"--precision must be one of {', '.join(_DTYPES)}"),
        (cfg.device in ("auto", "cpu"), "--device must be auto or cpu"),
        (all(0 <= b <= 1 for b in cfg.beta_init) and bool(cfg.beta_init),
         "beta_init values must lie in [0, 1]"),
    ]
    for ok, msg in checks:
        if not ok:
            raise UsageError(msg)


def train(config: TrainConfig) -> TrainResult:
    """Run one training job; writes a ``from_pretrained`` checkpoint and ``train_log.jsonl``."""
    cfg = config
    _validate(cfg)
    from harness.train.methods import resolve_method

    spec = resolve_method(cfg.method)  # unknown method: UsageError before anything heavy
    if spec.needs_teacher and not cfg.teacher:
        raise UsageError(f"--teacher is required for --method {spec.name}")
    from harness.generation.templates import get_training_template
    from harness.train.data import load_records

    get_training_template(cfg.template)
    records = load_records(cfg.data, cfg.limit)

    import torch
    import transformers
    from transformers import TrainingArguments
    from transformers.trainer_utils import get_last_checkpoint

    from harness.train.data import Collator, build_dataset
    from harness.train.trainer import BetaController, DistillTrainer, truncate_log, world_info

    out = Path(cfg.out)
    rank, _ = world_info()
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train_log.jsonl"
    progress = cfg.progress if cfg.progress is not None else sys.stderr.isatty()
    verbosity = transformers.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    if not progress:
        transformers.utils.logging.disable_progress_bar()  # no weight-loading bars in logs
    try:
        resume_ckpt: str | None = None
        if cfg.resume:
            resume_ckpt = get_last_checkpoint(str(out)) if out.is_dir() else None
            if resume_ckpt is None:
                raise UsageError(f"--resume: no checkpoint-* directory in {out}")
        transformers.set_seed(cfg.seed)
        tokenizer = _load_tokenizer(cfg.student, "student")
        teacher = None
        if spec.needs_teacher:
            teacher_tok = _load_tokenizer(cfg.teacher or "", "teacher")
            if teacher_tok.get_vocab() != tokenizer.get_vocab():
                raise UsageError(
                    f"vocabulary mismatch: the student tokenizer has {len(tokenizer)} tokens, "
                    f"the teacher's {len(teacher_tok)} (or they map tokens differently)"
                )

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

        use_cpu = cfg.device == "cpu" or not torch.cuda.is_available()
        precision = cfg.precision
        if precision == "auto":
            precision = "bf16" if (not use_cpu and torch.cuda.is_bf16_supported()) else "fp32"
        save_steps = cfg.save_steps
        targs: dict[str, Any] = dict(
            output_dir=str(out),
            per_device_train_batch_size=cfg.batch_size,
            gradient_accumulation_steps=cfg.grad_accum,
            learning_rate=cfg.lr,
            weight_decay=cfg.weight_decay,
            num_train_epochs=cfg.epochs,
            max_steps=cfg.max_steps if cfg.max_steps else -1,
            lr_scheduler_type=cfg.lr_scheduler,
            warmup_steps=cfg.warmup,
            max_grad_norm=cfg.max_grad_norm,
            optim="adamw_torch",
            logging_strategy="steps",
            logging_steps=cfg.logging_steps,
            # "steps" also saves at the very end: a resumable last checkpoint, beta included.
            save_strategy="steps",
            save_steps=save_steps or 10**9,
            save_total_limit=cfg.save_total_limit,
            seed=cfg.seed,
            data_seed=cfg.seed,
            report_to="none",
            disable_tqdm=not progress,
            remove_unused_columns=False,
            use_cpu=use_cpu,
            bf16=precision == "bf16",
            fp16=precision == "fp16",
            dataloader_num_workers=0,
            deepspeed=cfg.deepspeed,
            ddp_find_unused_parameters=False,
            save_only_model=False,
        )
        if cfg.gradient_checkpointing:
            targs["activation_checkpointing"] = True
        targs.update(cfg.training_args)
        try:
            args = TrainingArguments(**targs)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad training arguments: {exc}") from None

        beta = BetaController(
            spec, lr=cfg.beta_lr, lam=cfg.beta_lambda, eps=cfg.beta_eps,
            init_choices=tuple(cfg.beta_init), seed=cfg.seed,
        )
        if resume_ckpt is not None:
            has_beta = beta.load(resume_ckpt)
            if spec.learned_beta and not has_beta:
                raise UsageError(f"--resume: {resume_ckpt} holds no beta state for {spec.name}")
            step = json.loads((Path(resume_ckpt) / "trainer_state.json").read_text())[
                "global_step"
            ]
            if rank == 0:
                truncate_log(log_path, int(step))
            truncate_log(out / f"beta_trace.rank{rank}.jsonl", int(step))
        else:  # a fresh run starts fresh logs
            if rank == 0:
                log_path.unlink(missing_ok=True)
            (out / f"beta_trace.rank{rank}.jsonl").unlink(missing_ok=True)

        trainer = DistillTrainer(
            model=student,
            args=args,
            data_collator=Collator(int(tokenizer.pad_token_id)),
            train_dataset=dataset,
            processing_class=tokenizer,
            method=spec,
            beta=beta,
            teacher=teacher,
            temperature=cfg.temperature,
            chunk_size=cfg.chunk_size,
            log_path=log_path,
        )
        try:
            output = trainer.train(resume_from_checkpoint=resume_ckpt)
        except torch.cuda.OutOfMemoryError as exc:
            raise InfraError(f"out of GPU memory: {str(exc).splitlines()[0]}") from None
        trainer.save_model(str(out))
        if trainer.is_world_process_zero():
            tokenizer.save_pretrained(str(out))
            meta = {**asdict(cfg), "resolved_method": spec.name, "dropped_records": dropped,
                    "global_step": trainer.state.global_step, "final_beta": beta.value}
            (out / "train_config.json").write_text(json.dumps(meta, indent=2, default=str))
        return TrainResult(
            out_dir=out,
            log_path=log_path,
            global_step=trainer.state.global_step,
            beta=beta.value if spec.loss == "distill" else None,
            train_loss=output.training_loss,
            metrics=dict(output.metrics),
        )
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.utils.logging.enable_progress_bar()


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
