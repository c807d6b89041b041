"""``harness generate``: samples for a benchmark from a hub model or a local checkpoint.

Data-parallel runs: ``accelerate launch --multi_gpu --num_processes N -m harness generate ...``
or ``torchrun --nproc_per_node N -m harness generate ...`` (add ``--device cpu`` on a machine
without GPUs). Note that ``accelerate launch --cpu`` starts one process unless given an MPI
hostfile; that single process then does all the work.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from harness.commands import config_from_args
from harness.core.registry import DATASETS, ENGINES, TEMPLATES
from harness.generation.config import DTYPE_NAMES, ENGINE_OPTIONS, GenerationConfig


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``generate`` sub-command."""
    p = subparsers.add_parser(
        "generate",
        help="generate samples (JSONL) for a dataset with a model",
        description="Generate evalplus-compatible samples with transformers (in-process), vLLM "
        "(offline engine) or an OpenAI-compatible server. Rerunning the same command resumes: "
        "only missing (task_id, sample_index) lines are generated.",
    )
    add = p.add_argument
    add(
        "--model",
        required=True,
        metavar="PATH_OR_HUB_ID",
        help="hub id or local model directory (e.g. a training checkpoint)",
    )
    add("--dataset", required=True, metavar="D", help=DATASETS.choices_help())
    add("--out", required=True, metavar="FILE", help="samples file to write (JSON Lines)")
    add("--n-samples", type=int, default=1, metavar="N", help="samples per task (default 1)")
    add(
        "--temperature",
        type=float,
        default=0.0,
        metavar="T",
        help="0 = greedy (default); > 0 samples",
    )
    add(
        "--top-p",
        type=float,
        default=0.95,
        metavar="P",
        help="nucleus sampling (default 0.95; ignored when greedy)",
    )
    add(
        "--max-new-tokens",
        type=int,
        default=512,
        metavar="M",
        help="new tokens per sample (default 512)",
    )
    add(
        "--batch-size",
        type=int,
        default=16,
        metavar="B",
        help="prompts per forward batch (default 16)",
    )
    add(
        "--template",
        default="plain",
        metavar="NAME",
        help=f"prompt template: {', '.join(TEMPLATES)} (default plain)",
    )
    add("--limit", type=int, default=None, metavar="K", help="only the first K tasks")
    add(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="directory with the dataset files (else $HARNESS_DATA_DIR or upstream)",
    )
    add(
        "--dtype",
        default="auto",
        choices=DTYPE_NAMES,
        help="weights dtype (auto: bfloat16 on GPU, float32 on CPU)",
    )
    add("--device", default="auto", metavar="auto|cpu|cuda", help="device (default auto)")
    add("--seed", type=int, default=0, metavar="S", help="sampling seed (default 0)")
    add("--revision", default=None, metavar="REV", help="hub revision (branch, tag or commit)")
    add("--quiet", action="store_true", help="no progress lines on stderr")
    add_engine_options(p)
    p.set_defaults(func=run)
    return p


def add_engine_options(p: argparse.ArgumentParser, roles: tuple[str, ...] = ()) -> None:
    """``--engine`` and its options (shared with ``harness eval``, which adds per-role ones)."""
    add = p.add_argument
    add("--engine", default=None if roles else "transformers", choices=ENGINES.names(),
        help="what generates: transformers (in-process, default), vllm (offline engine) or "
        "openai (an OpenAI-compatible server at --base-url)")
    for role in roles:
        add(f"--{role}-engine", default=None, choices=ENGINES.names(), help=f"engine of the {role}")
        add(f"--{role}-base-url", default=None, metavar="URL", help=f"server of the {role} (openai)")
    add("--base-url", default=None, metavar="URL",
        help="openai engine: the server, e.g. http://127.0.0.1:8000/v1")
    add("--api-key-env", default=None, metavar="VAR",
        help="openai engine: environment variable holding the API key (default: none sent)")
    add("--concurrency", type=int, default=8, metavar="C", help="openai: requests in flight (8)")
    add("--request-timeout", type=float, default=600.0, metavar="S",
        help="openai: seconds per request (600)")
    add("--max-retries", type=int, default=4, metavar="R",
        help="openai: retries on 429/5xx/time-out, with backoff (4)")
    add("--tensor-parallel-size", type=int, default=1, metavar="G", help="vllm: GPUs per model (1)")
    add("--data-parallel-size", type=int, default=1, metavar="D", help="vllm: model copies (1)")
    add("--quantization", default=None, metavar="Q",
        help="vllm: awq, gptq, compressed-tensors, fp8 (default: as saved)")
    add("--lora", default=None, metavar="DIR", help="vllm: a LoRA adapter to apply to --model")


def engine_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """GenerationConfig fields from the engine options."""
    return {"engine": args.engine or "transformers", "base_url": args.base_url,
            **{name: getattr(args, name) for name in ENGINE_OPTIONS}}


def run(args: argparse.Namespace) -> int:
    """Validate everything cheap first (exit 2), then load the dataset and the model."""
    config = config_from_args(GenerationConfig, args, **engine_kwargs(args)).validate()
    from harness.data.datasets import load_dataset
    from harness.generation.engine import engine_class, generate_samples

    if args.limit is not None and args.limit < 0:
        from harness.core.errors import UsageError

        raise UsageError(f"--limit must be >= 0 (got {args.limit})")
    engine_class(config.engine).check(config)  # a model that cannot exist fails before the data
    dataset = load_dataset(args.dataset, args.data_dir)
    out = generate_samples(dataset, config, args.out, limit=args.limit, quiet=args.quiet)
    if not args.quiet and os.environ.get("RANK", "0") == "0":
        print(out)
    return 0
