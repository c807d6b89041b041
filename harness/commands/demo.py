"""``harness demo``: the whole pipeline on embedded defaults (see harness.demo)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the whole pipeline offline with models it trains itself",
        description="Train a tiny teacher and student from scratch, distil with AKD, evaluate both students "
                    "against the teacher (taxonomy, metamorphic), write reports and apply an example gate.")
    p.add_argument("--out", type=Path, default=Path("demo-out"), metavar="DIR",
                   help="output directory: models, eval directories, gate.toml (default demo-out)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="dataset files (default: HARNESS_DATA_DIR, ../shared/data, or upstream)")
    p.add_argument("--tasks", type=int, default=None, metavar="N",
                   help="HumanEval+ tasks to learn and evaluate (default 20)")
    p.add_argument("--fast", action="store_true",
                   help="much smaller settings (5 tasks, tiny models): every stage runs, but not the demo's numbers")
    p.add_argument("--no-metamorphic", action="store_true", help="skip the metamorphic fidelity checks")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="parallel sandbox runners (default: CPU cores)")
    p.set_defaults(func=run)


def _default_data_dir() -> str | None:
    import os

    if os.environ.get("HARNESS_DATA_DIR"):
        return None
    here = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    for cand in (here, Path.cwd() / ".." / "shared" / "data", Path.cwd() / "shared" / "data"):
        if (cand / "HumanEvalPlus-v0.1.10.jsonl.gz").exists():
            return str(cand.resolve())
    return None


def run(args: argparse.Namespace) -> int:
    from harness.demo import DemoConfig, fast_config, run_demo

    config = DemoConfig(out=args.out, data_dir=args.data_dir or _default_data_dir(), jobs=args.jobs,
                        metamorphic=not args.no_metamorphic)
    if args.fast:
        config = fast_config(config)
    if args.tasks is not None:
        config.n_tasks = args.tasks
    reports = run_demo(config)
    print()
    for label, info in reports.items():
        s = info["summary"]["datasets"][config.dataset]
        t1, s1 = s["teacher"]["pass@1"], s["student"]["pass@1"]
        loss = s["precision_loss"]["plus"]
        loss_txt = f"{loss:+.3f}" if loss is not None else "n/a (teacher 0)"
        print(f"{label:>9} student: pass@1 plus {s1['plus']:.3f} vs teacher {t1['plus']:.3f}, precision loss "
              f"{loss_txt}; gate {'passed' if info['gate_passed'] else 'FAILED'}")
        print(f"           report: {info['report']}")
    print(f"total {config.timings.get('total_s', 0.0):.0f} s; these are demonstration models trained on benchmark "
          "solutions, not a quality measurement")
    return 0
