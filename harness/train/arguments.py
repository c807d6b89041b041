"""The distillation Trainer's arguments: ``transformers.TrainingArguments`` plus the method,
temperature, loss chunking and beta schedule, validated in ``__post_init__`` (as TRL's
``GKDConfig`` extends its trainer's arguments). Imports transformers: use it inside ``train``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from transformers import TrainingArguments

from harness.core.errors import UsageError
from harness.train.methods import MethodSpec, check_distill_options

if TYPE_CHECKING:
    from harness.train import TrainConfig


#: DistillArguments fields taken as they are from TrainConfig (beta_init becomes a tuple).
DISTILL_FIELDS: tuple[str, ...] = ("method", "temperature", "chunk_size", "beta_lr", "beta_lambda", "beta_eps")


@dataclass
class DistillArguments(TrainingArguments):
    """TrainingArguments for :class:`harness.train.trainer.DistillTrainer`."""

    method: str = field(default="sft", metadata={"help": "a name of harness.core.registry.METHODS"})
    temperature: float = field(default=1.0, metadata={"help": "softmax temperature of the KD losses"})
    chunk_size: int = field(default=512, metadata={"help": "response tokens per fp32 loss chunk"})
    beta_lr: float = field(default=0.01, metadata={"help": "AdamW step size of beta"})
    beta_lambda: float = field(default=0.5, metadata={"help": "weight of beta's regulariser"})
    beta_eps: float = field(default=1e-4, metadata={"help": "regulariser's distance from 0 and 1"})
    beta_init: tuple[float, ...] = field(
        default=(0.1, 0.6), metadata={"help": "values beta is drawn from at each epoch"}
    )
    #: The resolved method (not an argument: derived from ``method``).
    spec: MethodSpec = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.spec = check_distill_options(self.method, self.temperature, self.beta_init)
        try:
            super().__post_init__()
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad training arguments: {exc}") from None

    @classmethod
    def from_config(cls, cfg: TrainConfig, progress: bool) -> DistillArguments:
        """The arguments of one ``harness train`` run (``cfg.training_args`` override them)."""
        use_cpu = cfg.device == "cpu" or not torch.cuda.is_available()
        precision = cfg.precision
        if precision == "auto":
            precision = "bf16" if (not use_cpu and torch.cuda.is_bf16_supported()) else "fp32"
        targs: dict[str, Any] = dict(
            output_dir=str(cfg.out),
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
            save_steps=cfg.save_steps or 10**9,
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
            beta_init=tuple(cfg.beta_init),
            # The distillation fields carry the same names in TrainConfig.
            **{name: getattr(cfg, name) for name in DISTILL_FIELDS},
        )
        if cfg.gradient_checkpointing:
            targs["activation_checkpointing"] = True
        targs.update(cfg.training_args)
        try:
            return cls(**targs)
        except TypeError as exc:  # an unknown key in cfg.training_args
            raise UsageError(f"bad training arguments: {exc}") from None
