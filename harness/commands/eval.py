"""``harness eval``: a student against its teacher (see harness.pipeline); a thin CLI layer."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.commands.execute import add_limit_args
from harness.commands.generate import add_engine_options, engine_kwargs
from harness.core.registry import BACKENDS, DATASETS, TEMPLATES
from harness.generation.loading import DTYPE_NAMES


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "eval",
        help="evaluate a student against its teacher: pass@k, precision loss, significance",
        description="Generate (or read) samples for a student and its teacher, run them in the "
        "sandbox and compare: pass@1 with bootstrap intervals, precision loss, exact McNemar test, "
        "regressed tasks and the error taxonomy. Results are cached by content hash, so a teacher "
        "is generated and executed once.",
    )
    add = p.add_argument
    add("--student", metavar="PATH_OR_ID", help="student checkpoint directory or hub id")
    add("--teacher", metavar="PATH_OR_ID", help="teacher checkpoint directory or hub id")
    add("--out", required=True, type=Path, metavar="DIR", help="output directory")
    add("--dataset", action="append", dest="datasets", metavar="D",
        help=f"{DATASETS.choices_help()}; repeatable (default: humaneval+ and mbpp+)")
    add("--student-samples", type=Path, metavar="FILE",
        help="pre-generated evalplus-style samples for the student (instead of generating)")
    add("--teacher-samples", type=Path, metavar="FILE",
        help="pre-generated evalplus-style samples for the teacher (instead of generating)")
    add("--student-revision", metavar="REV", help="hub revision of the student")
    add("--teacher-revision", metavar="REV", help="hub revision of the teacher")
    add("--backend", default="local", choices=BACKENDS.names(), help="sandbox (default local)")
    add("--jobs", type=int, default=None, metavar="N", help="parallel sandbox runners (default: CPU cores); with ray: per node")
    add("--ray-address", default=None, metavar="ADDR",
        help="with --backend ray: the cluster's address (default auto: a running cluster, else a local one)")
    add("--limit", type=int, default=None, metavar="K", help="only the first K tasks of each dataset")
    add("--n-samples", type=int, default=1, metavar="N", help="samples per task (default 1)")
    add("--temperature", type=float, default=0.0, metavar="T", help="0 = greedy (default)")
    add("--top-p", type=float, default=0.95, metavar="P", help="nucleus sampling (default 0.95)")
    add("--max-new-tokens", type=int, default=512, metavar="M", help="new tokens per sample (default 512)")
    add("--batch-size", type=int, default=16, metavar="B", help="prompts per batch (default 16)")
    add("--template", default="plain", metavar="NAME",
        help=f"prompt template: {', '.join(TEMPLATES)} (default plain)")
    add("--dtype", default="auto", metavar="DTYPE", choices=DTYPE_NAMES,
        help="weights dtype: auto, float32, bfloat16, float16 (or fp32, bf16, fp16; default auto)")
    add("--device", default="auto", metavar="auto|cpu|cuda", help="device (default auto)")
    add("--seed", type=int, default=0, metavar="S", help="sampling seed (default 0)")
    add("--data-dir", default=None, metavar="DIR", help="dataset files (else $HARNESS_DATA_DIR or upstream)")
    add_limit_args(p)
    add("--cache-dir", type=Path, default=None, metavar="DIR",
        help="model results cache (default: $HARNESS_CACHE_DIR/models or ~/.cache/distill-harness/models)")
    add("--metamorphic", action="store_true", help="also check metamorphic fidelity (harness.metamorphic)")
    add("--metamorphic-relations", default=None, metavar="R1,R2",
        help="comma-separated relations for --metamorphic (implies it; default: all, see harness transforms list)")
    add("--forced-top-k", type=int, default=20, metavar="K",
        help="teacher-forced metrics of a model scored by its engine (openai; quantized or LoRA vllm): "
             "top K prompt logprobs per position (default 20; KL is then a lower bound)")
    add("--gate", type=Path, default=None, metavar="FILE", help="release gate (TOML); exit 1 when it fails")
    add("--no-progress", action="store_true", help="no progress bars")
    add("--quiet", action="store_true", help="no log lines on stderr")
    add_engine_options(p, roles=("student", "teacher"))
    p.set_defaults(func=run)
    return p


def _relation_names(spec: str | None) -> list[str] | None:
    """The relation names of ``--metamorphic-relations``, checked before anything runs."""
    if spec is None:
        return None
    from harness.metamorphic.catalog import parse_relation_names as names

    chosen = names(spec)
    if not chosen:
        from harness.core.errors import UsageError

        raise UsageError("--metamorphic-relations names no relation")
    return chosen


def run(args: argparse.Namespace) -> int:
    from harness import EvalConfig, evaluate
    from harness.commands import config_from_args
    from harness.commands.execute import backend_options, limits_from_args
    from harness.pipeline import DEFAULT_DATASETS
    from harness.reporting.report import render_console

    engine = engine_kwargs(args)
    config = config_from_args(
        EvalConfig, args,
        engine=engine.pop("engine"),
        base_url=engine.pop("base_url"),
        engine_options=engine,
        datasets=tuple(args.datasets or DEFAULT_DATASETS),
        limits=limits_from_args(args),
        backend_options=backend_options(args),
        metamorphic=args.metamorphic or args.metamorphic_relations is not None,
        metamorphic_relations=_relation_names(args.metamorphic_relations),
        progress=False if args.no_progress or args.quiet else None,
    )
    result = evaluate(config)
    print(render_console(result.summary, result.out))
    return 1 if result.gate_passed is False else 0
