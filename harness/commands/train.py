"""``harness train``: distil a student from a teacher (AKD and its baselines), or SFT it.

Only argparse at import time: torch and transformers are imported inside ``run`` so that
``harness --help`` stays instant.
"""

from __future__ import annotations

import argparse
from typing import Any

METHOD_HELP = (
    "sft | seqkd | kd (beta=0) | rkd (beta=1) | akd (= m3, adaptive beta) | fixed:<beta> | "
    "m1 (beta on +loss) | m2 (no per-epoch beta reset)"
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``train`` sub-command."""
    p = subparsers.add_parser(
        "train",
        help="train a student with AKD, KD, RKD, SFT or SeqKD",
        description="Distil a student from a teacher with adaptive KL/RKL mixing (AKD) or a "
        "baseline. Writes a from_pretrained checkpoint and OUT/train_log.jsonl.",
    )
    p.add_argument("--method", required=True, help=METHOD_HELP)
    p.add_argument("--student", required=True, help="student checkpoint (path or hub id)")
    p.add_argument("--teacher", help="teacher checkpoint (not needed for sft)")
    p.add_argument("--data", required=True,
                   help="CodeAlpaca JSON list or JSONL (instruction/input/output)")
    p.add_argument("--out", required=True, help="output directory (checkpoint + train_log.jsonl)")
    p.add_argument("--template", default="alpaca", choices=["alpaca", "starcoder", "instruct-eval", "plain"])
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    p.add_argument("--batch-size", type=int, default=8, help="per-device batch size")
    p.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps")
    p.add_argument("--lr", type=float, default=1e-5, help="student learning rate (AdamW)")
    p.add_argument("--max-length", type=int, default=512, help="max tokens per sample")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--resume", action="store_true", help="resume from the last checkpoint in OUT")
    p.add_argument("--save-steps", type=int, default=None, help="checkpoint every N steps")
    p.add_argument("--logging-steps", type=int, default=1)
    p.add_argument("--chunk-size", type=int, default=512,
                   help="response tokens per fp32 loss chunk (0 = unchunked)")
    p.add_argument("--beta-lr", type=float, default=0.01)
    p.add_argument("--limit", type=int, default=None, help="use only the first N records")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="mixed precision of the student step")
    p.add_argument("--teacher-dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--lr-scheduler", default="linear")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--deepspeed", default=None, help="DeepSpeed JSON config")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    p.add_argument("--seqkd-max-new-tokens", type=int, default=256)
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show a progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Build a TrainConfig from the arguments, train, and print where the results are."""
    from harness.train import TrainConfig, train

    cfg = TrainConfig(
        method=args.method,
        student=args.student,
        teacher=args.teacher,
        data=args.data,
        out=args.out,
        template=args.template,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        lr=args.lr,
        max_length=args.max_length,
        temperature=args.temperature,
        seed=args.seed,
        resume=args.resume,
        save_steps=args.save_steps,
        logging_steps=args.logging_steps,
        chunk_size=args.chunk_size,
        beta_lr=args.beta_lr,
        limit=args.limit,
        precision=args.precision,
        teacher_dtype=args.teacher_dtype,
        lr_scheduler=args.lr_scheduler,
        gradient_checkpointing=args.gradient_checkpointing,
        deepspeed=args.deepspeed,
        device="cpu" if args.cpu else "auto",
        seqkd_max_new_tokens=args.seqkd_max_new_tokens,
        progress=args.progress,
    )
    result = train(cfg)
    from harness.train.trainer import world_info

    if world_info()[0] == 0:
        beta = "" if result.beta is None else f", final beta {result.beta:.4f}"
        print(
            f"trained {args.method}: {result.global_step} steps{beta}; "
            f"checkpoint {result.out_dir}, log {result.log_path}"
        )
    return 0
