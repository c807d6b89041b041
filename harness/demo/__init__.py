"""``harness demo``: the whole pipeline on a fresh offline machine, with models it makes itself.

No weights can be downloaded here, so the demo trains a small teacher and a smaller student
from scratch on CPU on part of HumanEval+'s own canonical solutions (so pass@1 is not zero),
distils the student from the teacher with AKD, evaluates teacher vs original and distilled
student in the local sandbox (taxonomy and metamorphic checks included), writes the reports and
applies an example gate. The reports say plainly that these are demonstration models trained on
benchmark solutions, not a quality measurement.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError

DEMO_NOTE = (
    "Demonstration models: the teacher and students were trained from scratch by `harness demo` on "
    "HumanEval+ canonical solutions of the evaluated tasks. The numbers show the pipeline working, "
    "not the quality of any real model."
)

EXAMPLE_GATE = """\
# Example release gate (see DESIGN.md): the demo's distilled student is checked against it.
[gate]
max_precision_loss = 0.5
min_student_pass_at_1 = 0.05
max_category_increase = 20
max_fidelity_violation = 0.5
require_significance = false
"""


@dataclass
class DemoConfig:
    out: Path = Path("demo-out")
    data_dir: str | None = None
    dataset: str = "humaneval+"
    n_tasks: int = 20  # tasks the models learn, and the tasks evaluated
    vocab_size: int = 1024
    teacher_shape: tuple[int, int, int] = (3, 128, 4)  # layers, width, heads
    student_shape: tuple[int, int, int] = (2, 96, 4)
    teacher_epochs: float = 80.0
    student_epochs: float = 8.0
    akd_epochs: float = 60.0  # enough for the distilled student to recover most of the teacher (loss 1.0 -> ~0.2)
    lr: float = 2e-3
    max_new_tokens: int = 200
    metamorphic: bool = True
    #: A cheap, representative subset: formatting, naming and syntax relations, and one soft one.
    relations: tuple[str, ...] = ("docstring_to_comments", "indent_tabs", "entry_point_case", "param_rename",
                                  "dead_code", "docstring_synonyms")
    jobs: int | None = None
    seed: int = 0
    progress: bool | None = None
    timings: dict[str, float] = field(default_factory=dict)


def fast_config(config: DemoConfig) -> DemoConfig:
    """Much smaller settings for the test suite: same stages, a few tasks, a few steps."""
    config.n_tasks = 5
    config.relations = ("indent_tabs", "entry_point_case", "docstring_synonyms")
    config.vocab_size = 512
    config.teacher_shape = (2, 96, 4)
    config.student_shape = (1, 64, 4)
    config.teacher_epochs = 40.0
    config.student_epochs = 2.0
    config.akd_epochs = 4.0
    config.max_new_tokens = 96
    return config


def _log(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def _train_data(config: DemoConfig) -> tuple[Path, list[str]]:
    from harness.data.datasets import load_dataset

    ds = load_dataset(config.dataset, config.data_dir).select(limit=config.n_tasks)
    path = config.out / "data" / "train.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for t in ds.tasks.values():
            fh.write(json.dumps({"instruction": t.prompt, "input": "", "output": t.canonical_solution}) + "\n")
    return path, list(ds.tasks)


def _make_models(config: DemoConfig) -> tuple[Path, Path]:
    from harness.data.datasets import resolve_data_dir
    from harness.demo.tiny import corpus_from_data_dir, make_model, train_tokenizer

    data_dir = resolve_data_dir(config.data_dir)
    texts = corpus_from_data_dir(data_dir) if data_dir else []
    if not texts:
        from harness.data.datasets import load_dataset

        ds = load_dataset(config.dataset, config.data_dir)
        texts = [t.canonical_program for t in ds.tasks.values()]
    tok_dir = config.out / "models" / "tokenizer"
    tok = train_tokenizer(texts, tok_dir, vocab_size=config.vocab_size)
    inits = []
    for name, (layers, width, heads) in (("teacher-init", config.teacher_shape), ("student-init", config.student_shape)):
        d = config.out / "models" / name
        make_model(d, tok, arch="gpt_bigcode", n_layer=layers, n_embd=width, n_head=heads, seed=config.seed)
        inits.append(d)
    return inits[0], inits[1]


def _train(config: DemoConfig, method: str, student: Path, data: Path, out: Path, epochs: float,
           teacher: Path | None = None) -> Path:
    from harness.train import TrainConfig, train

    if (out / "config.json").exists() and (out / "train_log.jsonl").exists():
        return out  # resumable demo: a finished stage is reused
    train(TrainConfig(method=method, student=str(student), teacher=str(teacher) if teacher else None, data=str(data),
                      out=str(out), template="plain", epochs=epochs, batch_size=8, lr=config.lr, max_length=512,
                      seed=config.seed, warmup=0.05, progress=config.progress, device="cpu"))
    return out


def run_demo(config: DemoConfig) -> dict[str, Any]:
    """Run every stage; returns the paths of the reports and the gate's verdict."""
    if config.n_tasks < 1:
        raise UsageError("--tasks must be at least 1")
    t_start = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    data, task_ids = _train_data(config)

    t = time.perf_counter()
    _log(f"1/5 training a teacher and a student from scratch on {len(task_ids)} {config.dataset} solutions")
    teacher_init, student_init = _make_models(config)
    teacher = _train(config, "sft", teacher_init, data, config.out / "models" / "teacher", config.teacher_epochs)
    student = _train(config, "sft", student_init, data, config.out / "models" / "student", config.student_epochs)
    config.timings["pretrain_s"] = time.perf_counter() - t

    t = time.perf_counter()
    _log("2/5 distilling the student from the teacher with AKD (harness train --method akd)")
    distilled = _train(config, "akd", student, data, config.out / "models" / "student-akd", config.akd_epochs,
                       teacher=teacher)
    config.timings["distill_s"] = time.perf_counter() - t

    from harness.analysis.gate import apply_gate
    from harness.pipeline import EvalConfig, evaluate
    from harness.results.store import EvalDir

    gate_path = config.out / "gate.toml"
    gate_path.write_text(EXAMPLE_GATE)
    reports: dict[str, Any] = {}
    for step, (label, model) in enumerate((("original", student), ("distilled", distilled)), start=3):
        t = time.perf_counter()
        _log(f"{step}/5 evaluating teacher vs {label} student on {config.dataset} (local sandbox"
             f"{', metamorphic' if config.metamorphic else ''})")
        eval_dir = config.out / f"eval-{label}"
        evaluate(EvalConfig(student=str(model), teacher=str(teacher), out=eval_dir, datasets=[config.dataset],
                            data_dir=config.data_dir, limit=config.n_tasks, max_new_tokens=config.max_new_tokens,
                            metamorphic=config.metamorphic, metamorphic_relations=list(config.relations),
                            jobs=config.jobs, batch_size=8, device="cpu"))
        out = EvalDir(eval_dir)
        summary = out.read_raw()
        summary["notes"] = [DEMO_NOTE]
        out.write(summary)
        gate = apply_gate(eval_dir, gate_path)  # records the verdict and writes the report
        reports[label] = {"report": str(eval_dir / "report.html"), "gate_passed": gate.passed, "summary": summary}
        config.timings[f"eval_{label}_s"] = time.perf_counter() - t

    _log("5/5 done")
    config.timings["total_s"] = time.perf_counter() - t_start
    (config.out / "demo_timings.json").write_text(json.dumps(config.timings, indent=2))
    return reports
