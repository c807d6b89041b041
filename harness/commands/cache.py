"""``harness cache info | clear [--expected|--models]``: the on-disk cache (see harness.core.cache)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "cache", help="show where the cache is and how big, or clear it",
        description="The cache ($HARNESS_CACHE_DIR, else ~/.cache/distill-harness) holds the "
                    "canonical solutions' reference outputs (expected) and each model's samples and "
                    "results (models), so a teacher is generated and executed once.")
    actions = p.add_subparsers(dest="cache_command", metavar="ACTION")
    info = actions.add_parser("info", help="location and size per kind",
                              description="Print the cache's location and the size of each kind.")
    info.add_argument("--json", action="store_true", help="print the sizes as JSON")
    clear = actions.add_parser("clear", help="remove cached results",
                               description="Remove the cached reference outputs (--expected), the "
                                           "cached model samples and results (--models), or both "
                                           "(neither flag).")
    clear.add_argument("--expected", action="store_true", help="only the reference outputs and times")
    clear.add_argument("--models", action="store_true", help="only the models' samples and results")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.core.cache import cache_info, clear_cache
    from harness.core.errors import UsageError
    from harness.execution.expected import cache_root
    from harness.reporting.humanize import human_bytes

    action = getattr(args, "cache_command", None)
    root = cache_root()
    if action == "info":
        kinds = cache_info(root)
        if args.json:
            print(json.dumps({"root": str(root), "kinds": {k.kind: {"path": str(k.path), "bytes": k.bytes,
                                                                    "files": k.files} for k in kinds},
                              "total_bytes": sum(k.bytes for k in kinds)}, indent=1))
            return 0
        print(f"cache: {root}")
        for k in kinds:
            print(f"  {k.kind:9s} {human_bytes(k.bytes):>9s}  {k.files:6d} files  {k.description}")
        print(f"  {'total':9s} {human_bytes(sum(k.bytes for k in kinds)):>9s}")
        return 0
    if action == "clear":
        chosen = [k for k, flag in (("expected", args.expected), ("models", args.models)) if flag]
        for k in clear_cache(chosen or ["expected", "models"], root):
            print(f"removed {k.path} ({human_bytes(k.bytes)})")
        return 0
    raise UsageError("missing action: harness cache info | clear [--expected|--models]")
