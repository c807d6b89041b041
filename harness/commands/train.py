"""``harness train``: distil a student from a teacher (AKD and its baselines), or SFT it.

Only argparse at import time: torch and transformers are imported inside ``run`` so that
``harness --help`` stays instant.
"""

from __future__ import annotations

import argparse
from typing import Any

from harness.core.registry import METHODS
from harness.generation.loading import DTYPE_NAMES
from harness.generation.templates import training_templates
from harness.train import PRECISIONS


def method_help() -> str:
    """``--method``'s help, from the methods registry."""
    return "; ".join(f"{name}: {METHODS.help(name)}" for name in METHODS)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``train`` sub-command."""
    p = subparsers.add_parser(
        "train",
        help="train a student with AKD, KD, RKD, SFT or SeqKD",
        description="Distil a student from a teacher with adaptive KL/RKL mixing (AKD) or a "
        "baseline. Writes a from_pretrained checkpoint and OUT/train_log.jsonl.",
    )
    add = p.add_argument
    add("--method", required=True, metavar="METHOD", help=method_help())
    add("--student", required=True, metavar="PATH_OR_ID", help="student checkpoint (path or hub id)")
    add("--teacher", metavar="PATH_OR_ID", help="teacher checkpoint (not needed for sft)")
    add("--data", required=True, metavar="FILE",
        help="CodeAlpaca JSON list or JSONL (instruction/input/output)")
    add("--out", required=True, metavar="DIR", help="output directory (checkpoint + train_log.jsonl)")
    add("--template", default="alpaca", choices=training_templates(),
        help="prompt template of the training records (default alpaca)")
    add("--epochs", type=float, default=3.0, metavar="E", help="passes over the data (default 3)")
    add("--max-steps", type=int, default=None, metavar="N", help="stop after N optimizer steps")
    add("--batch-size", type=int, default=8, metavar="B", help="per-device batch size (default 8)")
    add("--grad-accum", type=int, default=1, metavar="N", help="gradient accumulation steps (default 1)")
    add("--lr", type=float, default=1e-5, metavar="LR", help="student learning rate, AdamW (default 1e-5)")
    add("--max-length", type=int, default=512, metavar="TOKENS", help="max tokens per sample (default 512)")
    add("--temperature", type=float, default=1.0, metavar="T",
        help="softmax temperature of both models' logits in the KD losses (default 1.0)")
    add("--seed", type=int, default=42, metavar="S", help="seed of data order and initialisation (default 42)")
    add("--resume", action="store_true", help="resume from the last checkpoint in OUT")
    add("--save-steps", type=int, default=None, metavar="N", help="checkpoint every N steps")
    add("--logging-steps", type=int, default=1, metavar="N",
        help="a train_log.jsonl line every N optimizer steps (default 1)")
    add("--chunk-size", type=int, default=512, metavar="TOKENS",
        help="response tokens per fp32 loss chunk (0 = unchunked; default 512)")
    add("--beta-lr", type=float, default=0.01, metavar="LR",
        help="step size of AKD's adaptive KL/RKL weight beta (default 0.01)")
    add("--limit", type=int, default=None, metavar="K", help="use only the first K records")
    add("--precision", default="auto", choices=PRECISIONS,
        help="mixed precision of the student step (default auto)")
    add("--teacher-dtype", default="auto", choices=DTYPE_NAMES, metavar="DTYPE",
        help="dtype the frozen teacher is loaded in: auto (as saved), fp32, bf16, fp16 "
        "(or float32, bfloat16, float16)")
    add("--lr-scheduler", default="linear", metavar="NAME",
        help="transformers learning-rate schedule: linear, cosine, constant, ... (default linear)")
    add("--gradient-checkpointing", action="store_true",
        help="recompute the student's activations in the backward pass (less memory, slower)")
    add("--deepspeed", default=None, metavar="FILE", help="DeepSpeed JSON config")
    add("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    add("--seqkd-max-new-tokens", type=int, default=256, metavar="M",
        help="new tokens per teacher completion when seqkd builds its data (default 256)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show progress (steps, loss, ETA), even when not on a terminal")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="no progress bar and no progress lines")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Build a TrainConfig from the arguments, train, and print where the results are."""
    from harness import TrainConfig, train_student
    from harness.commands import config_from_args

    cfg = config_from_args(TrainConfig, args, device="cpu" if args.cpu else "auto")
    result = train_student(cfg)
    from harness.train.trainer import world_info

    if world_info()[0] == 0:
        beta = "" if result.beta is None else f", final beta {result.beta:.4f}"
        print(
            f"trained {args.method}: {result.global_step} steps{beta}; "
            f"checkpoint {result.out_dir}, log {result.log_path}"
        )
    return 0
