"""``harness execute``: run a samples file in the sandbox (see harness.execution.execute)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.core.registry import BACKENDS, DATASETS


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "execute", help="run samples in the sandbox and write results.jsonl + summary.json",
        description="Run evalplus-style samples against a dataset's tests in the sandbox.")
    p.add_argument("--dataset", required=True, metavar="D", help=DATASETS.choices_help())
    p.add_argument("--samples", required=True, type=Path, metavar="FILE",
                   help="JSONL with task_id and solution or completion")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="output directory (results.jsonl, summary.json); a rerun resumes")
    p.add_argument("--backend", default="local", choices=BACKENDS.names(),
                   help="sandbox that runs the code (default local: bubblewrap)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="parallel runners (default: CPU cores); with --backend ray: per node")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --backend ray: the cluster's address (default auto: a running cluster, else a local one)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="directory with the dataset files (else $HARNESS_DATA_DIR or upstream)")
    add_limit_args(p)
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar on a terminal, no progress lines elsewhere")
    p.set_defaults(func=run)


def add_limit_args(p: argparse.ArgumentParser) -> None:
    """The sandbox limit options shared by execute and eval."""
    p.add_argument("--min-time-limit", type=float, default=None, metavar="SECONDS",
                   help="per-test CPU limit floor in seconds (default 1.0)")
    p.add_argument("--time-limit-factor", type=float, default=None, metavar="X",
                   help="per-test CPU limit: X times the canonical solution's time (default 4.0)")
    p.add_argument("--memory-limit-mb", type=int, default=None, metavar="MB",
                   help="address-space limit per sample in MiB (default 4096)")


def limits_from_args(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from harness.core.errors import UsageError
    from sandbox import Limits

    limits = Limits()
    changes: dict[str, Any] = {}
    if getattr(args, "min_time_limit", None) is not None:
        if args.min_time_limit <= 0:
            raise UsageError("--min-time-limit must be positive")
        changes["min_time_limit"] = args.min_time_limit
    if getattr(args, "time_limit_factor", None) is not None:
        if args.time_limit_factor <= 0:
            raise UsageError("--time-limit-factor must be positive")
        changes["time_limit_factor"] = args.time_limit_factor
    if getattr(args, "memory_limit_mb", None) is not None:
        if args.memory_limit_mb < 64:
            raise UsageError("--memory-limit-mb must be at least 64")
        changes["memory_bytes"] = args.memory_limit_mb * 1024 * 1024
    return replace(limits, **changes)


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """Backend-specific options (``--ray-address``), checked against ``--backend``."""
    from harness.core.errors import UsageError

    address = getattr(args, "ray_address", None)
    if address is None:
        return {}
    if args.backend != "ray":
        raise UsageError("--ray-address needs --backend ray")
    host, sep, port = address.rpartition(":")
    if address != "auto" and "://" not in address and not (host and sep and port.isdigit()):
        raise UsageError(f"--ray-address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    return {"address": address}


def run(args: argparse.Namespace) -> int:
    from harness import ExecuteConfig, execute_samples
    from harness.core.errors import UsageError

    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    config = ExecuteConfig(
        dataset=args.dataset, samples=args.samples, out=args.out, backend=args.backend, jobs=args.jobs,
        data_dir=args.data_dir, limits=limits_from_args(args), progress=False if args.no_progress else None,
        backend_options=backend_options(args))
    result = execute_samples(config)
    s = result.summary
    p1 = s.get("pass@1", {})
    plus = f", plus {p1['plus']:.4f}" if p1.get("plus") is not None else ""
    print(f"{s['dataset']}: {s['n_samples']} samples over {s['n_tasks']} tasks; pass@1 base {p1.get('base', 0):.4f}{plus}")
    print(f"wrote {result.out / 'results.jsonl'} and {result.out / 'summary.json'}")
    if s.get("error_types"):
        print("errors: " + json.dumps(s["error_types"]))
    return 0
