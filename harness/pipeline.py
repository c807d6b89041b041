"""The eval pipeline (``harness eval``): a student against its teacher on one or more benchmarks.

Pipeline, per dataset and per model: samples (generated with :mod:`harness.generation`, or a
pre-generated evalplus-style file filtered to the dataset's tasks), sandboxed execution
(:mod:`harness.execution.execute`), then paired statistics (:mod:`harness.analysis.stats`) and the taxonomy
profile (:mod:`harness.taxonomy`).

Caching. Generating and executing a model is the heavy part, and the teacher is the same across
many student evaluations. Each (model, dataset) run is therefore stored under
``cache_root()/models/<key hash>/<dataset>/`` (``samples.jsonl``, ``results.jsonl``,
``summary.json``, ``meta.json``), where the key hashes everything that decides the results:
the model fingerprint (content of a local checkpoint, or hub id and revision) or the samples
file's sha256, the dataset's name, version and content hash, the tasks selected, the
generation settings and the sandbox limits. The version of the code that produces verdicts is
kept in ``meta.json``: when it changes, the samples are kept and only re-executed. Student and
teacher share the mechanism (the key does not depend on the role), so reruns are cheap.
A run is complete once ``meta.json`` is written last; an interrupted run resumes (generation
and execution both resume on their own files) under a per-entry file lock.

Output directory (the contract the report, the gate and the metamorphic section build on)::

    DIR/summary.json  DIR/summary.md  DIR/report.html  [DIR/junit.xml]
    DIR/{student,teacher}/<dataset>/{samples.jsonl,results.jsonl,summary.json}

The stages run in this order, each called here by name: generation and execution per model and
dataset (cached), the comparison (:mod:`harness.analysis.compare`), ``--metamorphic`` (the metamorphic
section per dataset, :mod:`harness.metamorphic.evaluation`), ``--gate`` (the verdict,
:func:`harness.analysis.gate.gated`), then summary.json through :mod:`harness.results.store` and the files derived
from it (junit.xml, summary.md, report.html) through :func:`harness.reporting.report.write_report`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import __version__
from harness.analysis.compare import compare
from harness.analysis.stats import (
    mean_precision_loss,
)
from harness.core.errors import InfraError, UsageError
from harness.data.datasets import Dataset, load_dataset
from harness.generation.config import Decoding
from harness.results.records import (
    EvalSummary,
    ModelInfo,
    Rates,
)
from harness.results.store import (
    EvalDir,
    RunDir,
    read_jsonl,
    sha256_file,
    write_json_atomic,
    write_text_atomic,
)
from sandbox import Limits

DEFAULT_DATASETS: tuple[str, ...] = ("humaneval+", "mbpp+")
ROLES: tuple[str, str] = ("student", "teacher")
#: Bumped when the layout of a cache entry changes.
CACHE_FORMAT = 1
#: Files copied from a cache entry into ``DIR/<role>/<dataset>/``.
RUN_FILES: tuple[str, ...] = ("samples.jsonl", "results.jsonl", "summary.json")
#: Modules whose source decides verdicts and labels: their hash invalidates cached results.
VERDICT_MODULES: tuple[str, ...] = (
    "harness.execution.execute",
    "harness.results.records",
    "harness.execution.oracle",
    "harness.execution.expected",
    "harness.data.samples",
    "harness.data.datasets",
    "harness.taxonomy",
    "sandbox.runner",
)

# ----------------------------------------------------------------------------- config / result


@dataclass(frozen=True)
class EvalConfig(Decoding):
    """Everything ``harness eval`` needs; each model is a checkpoint/hub id, a samples file, or
    both (then the id only names the model and the file is evaluated). The decoding fields
    (:class:`~harness.generation.config.Decoding`, keyword-only) apply to both models."""

    out: Path
    student: str | None = None
    teacher: str | None = None
    datasets: Sequence[str] = DEFAULT_DATASETS
    student_samples: Path | None = None
    teacher_samples: Path | None = None
    student_revision: str | None = None
    teacher_revision: str | None = None
    limit: int | None = None
    # generation engines (harness.core.registry.ENGINES): one for both models, or one per role
    engine: str = "transformers"
    student_engine: str | None = None
    teacher_engine: str | None = None
    base_url: str | None = None
    student_base_url: str | None = None
    teacher_base_url: str | None = None
    engine_options: Mapping[str, Any] = field(default_factory=dict)  # GenerationConfig fields
    # execution
    backend: str = "local"
    jobs: int | None = None
    data_dir: str | None = None
    limits: Limits = field(default_factory=Limits)
    backend_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"address": ...} for ray
    # statistics
    n_resamples: int = 2000
    confidence: float = 0.95
    bootstrap_seed: int = 0
    # seams and plumbing
    metamorphic: bool = False
    metamorphic_relations: Sequence[str] | None = None  # None: every registered relation
    forced_top_k: int = 20  # top logprobs per position where an engine scores teacher forcing
    gate: Path | None = None
    cache_dir: Path | None = None  # default: harness.execution.expected.cache_root() / "models"
    progress: bool | None = None
    quiet: bool = False

    def model(self, role: str) -> str | None:
        return self.student if role == "student" else self.teacher

    def samples(self, role: str) -> Path | None:
        return self.student_samples if role == "student" else self.teacher_samples

    def revision(self, role: str) -> str | None:
        return self.student_revision if role == "student" else self.teacher_revision

    def generation_config(self, role: str) -> Any:
        from harness.generation import GenerationConfig

        return GenerationConfig(model=str(self.model(role)), revision=self.revision(role), **self.decoding(),
                                **self.engine_fields(role))

    def engine_fields(self, role: str) -> dict[str, Any]:
        """The role's engine and the engine options that apply to it."""
        from harness.generation.config import engine_fields

        student = role == "student"
        engine = (self.student_engine if student else self.teacher_engine) or self.engine
        url = (self.student_base_url if student else self.teacher_base_url) or self.base_url
        return engine_fields(engine, url, self.engine_options)

    def settings(self) -> dict[str, Any]:
        """The ``settings`` block of summary.json."""
        return {
            **self.decoding(),
            "limit": self.limit,
            "backend": self.backend,
            "jobs": self.jobs,
            "limits": self.limits.to_dict(),
            "bootstrap": {
                "n_resamples": self.n_resamples,
                "confidence": self.confidence,
                "seed": self.bootstrap_seed,
            },
        }


@dataclass
class ModelRun:
    """One model on one dataset: where its cache entry is and what this eval had to do."""

    role: str
    dataset: str
    cache_key: str
    cache_path: Path
    cache_hit: bool
    generated: bool
    executed: bool
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


@dataclass
class EvalResult:
    out: Path
    summary: dict[str, Any]
    runs: dict[str, dict[str, ModelRun]]  # role -> dataset -> run
    #: dataset -> the task ids evaluated (both models, in dataset order)
    task_ids: dict[str, list[str]] = field(default_factory=dict)

    @property
    def cache_hits(self) -> dict[str, dict[str, bool]]:
        return {role: {d: r.cache_hit for d, r in runs.items()} for role, runs in self.runs.items()}

    @property
    def gate_passed(self) -> bool | None:
        gate = self.summary.get("gate")
        return bool(gate["passed"]) if isinstance(gate, Mapping) and "passed" in gate else None


# ----------------------------------------------------------------------------- the plan


@dataclass
class _ModelPlan:
    role: str
    model: str | None
    revision: str | None
    samples: Path | None
    samples_sha256: str | None
    samples_lines: list[tuple[str, str]] | None  # (task_id, raw JSON line) of the file
    fingerprint: str | None

    @property
    def generated(self) -> bool:
        return self.samples is None

    def describe(self) -> dict[str, Any]:
        name = self.model if self.model else (self.samples.name if self.samples else None)
        return {
            "id": name,
            "fingerprint": self.fingerprint,
            "revision": self.revision,
            "samples_file": str(self.samples.resolve()) if self.samples else None,
        }


@dataclass
class _Plan:
    datasets: list[Dataset]  # full datasets, in the order asked for
    task_ids: dict[str, list[str]]  # dataset name -> evaluated tasks, in dataset order
    models: dict[str, _ModelPlan]
    cache_dir: Path


def _flag(role: str, what: str) -> str:
    return f"--{role}-{what}" if what else f"--{role}"


def _read_samples_lines(path: Path, flag: str) -> list[tuple[str, str]]:
    """(task_id, line) of every sample line; the same checks as ``harness execute`` up front,
    so a bad file fails before any model is loaded."""
    from harness.data.samples import sample_rows

    return [(row["task_id"], line) for _, row, line in sample_rows(path, flag)]


def _check_options(config: EvalConfig) -> None:
    """Options that need no file read: exit 2 before anything else."""
    if not config.datasets:
        raise UsageError("no dataset given")
    if config.limit is not None and config.limit < 1:
        raise UsageError(f"--limit must be at least 1 (got {config.limit})")
    if config.jobs is not None and config.jobs < 1:
        raise UsageError(f"--jobs must be at least 1 (got {config.jobs})")
    if config.forced_top_k < 1:
        raise UsageError(f"--forced-top-k must be at least 1 (got {config.forced_top_k})")
    if config.n_resamples < 1 or not 0 < config.confidence < 1:
        raise UsageError("bootstrap needs at least one resample and a confidence in (0, 1)")
    if config.gate is not None:
        if not Path(config.gate).is_file():
            raise UsageError(f"gate file not found: {config.gate}")
        from harness.analysis.gate import load_gate

        load_gate(config.gate)  # a malformed gate exits 2 before anything heavy runs

    from harness.core.registry import DATASETS

    for name in config.datasets:  # names first: loading a dataset takes seconds
        if name.lower().replace("plus", "+") not in DATASETS:
            load_dataset(name, config.data_dir)  # raises its one-line UsageError


def _model_plans(config: EvalConfig) -> dict[str, _ModelPlan]:
    """Each model: its samples file (read and checked now) or the model to generate with."""
    models: dict[str, _ModelPlan] = {}
    for role in ROLES:
        model, samples = config.model(role), config.samples(role)
        if not model and samples is None:
            raise UsageError(f"give {_flag(role, '')} PATH_OR_ID or {_flag(role, 'samples')} FILE")
        if samples is not None:
            path = Path(samples).expanduser()
            lines = _read_samples_lines(path, _flag(role, "samples"))
            sha = sha256_file(path)
            models[role] = _ModelPlan(role, model, config.revision(role), path, sha, lines,
                                      f"samples-sha256:{sha}")
        else:
            models[role] = _ModelPlan(role, model, config.revision(role), None, None, None, None)

    if any(m.generated for m in models.values()):
        from harness.generation.engine import engine_class

        for m in models.values():
            if m.generated:
                gen = config.generation_config(m.role).validate()
                m.fingerprint = engine_class(gen.engine).check(gen)
    return models


def _task_ids(config: EvalConfig, datasets: list[Dataset], models: dict[str, _ModelPlan]) -> dict[str, list[str]]:
    """Per dataset, the tasks both models are evaluated on (the first ``--limit``, and those
    every samples file covers), in dataset order."""
    task_ids: dict[str, list[str]] = {}
    for ds in datasets:
        selected = list(ds.tasks)[: config.limit] if config.limit else list(ds.tasks)
        chosen = set(selected)
        for m in models.values():
            if m.samples_lines is None:
                continue
            in_file = {tid for tid, _ in m.samples_lines}
            flag = f"{_flag(m.role, 'samples')} {m.samples}"
            if not any(tid in d.tasks for d in datasets for tid in in_file):
                first = m.samples_lines[0][0]
                names = ", ".join(d.name for d in datasets)
                raise UsageError(f"{flag}: no task id of {names} in the file (first is {first!r})")
            if not in_file & set(ds.tasks):
                raise UsageError(f"{flag}: no samples for dataset {ds.name}")
            chosen &= in_file
            if not chosen:
                raise UsageError(
                    f"{flag}: no samples for the first {config.limit} tasks of {ds.name}" if config.limit
                    else f"no task of {ds.name} has samples from both models"
                )
        task_ids[ds.name] = [t for t in selected if t in chosen]
    return task_ids


def _plan(config: EvalConfig) -> _Plan:
    """Check every input cheaply (exit 2 before anything heavy runs) and fix the task sets."""
    _check_options(config)
    models = _model_plans(config)
    if config.metamorphic and not all(m.model for m in models.values()):
        raise UsageError("--metamorphic needs both models (it generates on transformed prompts), not samples files")
    if config.metamorphic and config.metamorphic_relations is not None:
        from harness.metamorphic import get_relations

        get_relations(config.metamorphic_relations)  # an unknown name: exit 2 before any work
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")

    datasets: list[Dataset] = []
    for name in config.datasets:
        ds = load_dataset(name, config.data_dir)
        if all(d.name != ds.name for d in datasets):
            datasets.append(ds)
    if config.cache_dir is not None:
        cache_dir = Path(config.cache_dir).expanduser()
    else:
        from harness.execution.expected import cache_root

        cache_dir = cache_root() / "models"
    return _Plan(datasets, _task_ids(config, datasets, models), models, cache_dir)


# ----------------------------------------------------------------------------- cache


def verdict_code_version() -> str:
    """Hash of the source of the modules that decide verdicts and taxonomy labels."""
    h = hashlib.sha256()
    for name in VERDICT_MODULES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin and os.path.isfile(origin):
            h.update(name.encode() + b"\0" + Path(origin).read_bytes())
    return h.hexdigest()[:16]


def cache_key(config: EvalConfig, model: _ModelPlan, dataset: Dataset, task_ids: Sequence[str]) -> dict[str, Any]:
    """What decides a model's samples and results on a dataset (never the role)."""
    key: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "dataset": dataset.name,
        "dataset_version": dataset.version,
        "dataset_hash": dataset.content_hash,
        "tasks": hashlib.sha256("\n".join(task_ids).encode()).hexdigest(),
        "limits": config.limits.to_dict(),
    }
    if model.generated:
        greedy = config.temperature == 0
        key["model"] = {"fingerprint": model.fingerprint, "revision": model.revision}
        key["generation"] = {
            "template": config.template,
            "n_samples": config.n_samples,
            "temperature": config.temperature,
            "top_p": None if greedy else config.top_p,
            "seed": None if greedy else config.seed,
            "max_new_tokens": config.max_new_tokens,
            "dtype": config.dtype,
            "device": config.device,
        }
        gen = config.generation_config(model.role)
        if gen.engine != "transformers":  # transformers keys stay what they were
            from harness.generation.engine import engine_class

            key["engine"] = engine_class(gen.engine).identity(gen)
    else:
        key["samples_sha256"] = model.samples_sha256
    return key


def key_digest(key: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on a cache entry: two evals sharing a teacher run it once."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock
        yield
        return
    with open(directory / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _drop_stale_generation(samples: Path, gen_hash: str) -> None:
    """A partial samples file made from the same weights at another path has another gen_hash,
    which ``generate_samples`` refuses to extend: start it afresh."""
    if not samples.exists():
        return
    for row in read_jsonl(samples):  # lines end at "\n" only: outputs may hold U+2028
        if row.get("gen_hash") != gen_hash:
            samples.unlink()
            for shard in samples.parent.glob(f"{samples.name}.rank*-of-*.part"):
                shard.unlink()
            return


def _cached_summary(entry: Path) -> dict[str, Any]:
    summary = RunDir(entry).read_summary()
    return summary.to_dict() if summary is not None else {}


class _Runner:
    """Runs (or finds in the cache) one model on one dataset; owns the shared sandbox backend."""

    def __init__(self, config: EvalConfig, plan: _Plan, log: Callable[[str], None]) -> None:
        self.config = config
        self.plan = plan
        self.log = log
        self.code_version = verdict_code_version()
        self._backend: Any = None

    def backend(self) -> Any:
        if self._backend is None:
            from harness.core.registry import make_backend
            from sandbox import SandboxUnavailable

            try:
                self._backend = make_backend(self.config.backend, jobs=self.config.jobs, limits=self.config.limits,
                                             **self.config.backend_options)
            except SandboxUnavailable as exc:
                raise InfraError(str(exc)) from exc
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def run(self, role: str, dataset: Dataset) -> ModelRun:
        model = self.plan.models[role]
        task_ids = self.plan.task_ids[dataset.name]
        key = cache_key(self.config, model, dataset, task_ids)
        digest = key_digest(key)
        entry = self.plan.cache_dir / digest / dataset.name
        label = f"{role} {dataset.name}"
        with _locked(entry):
            meta_path = entry / "meta.json"
            meta: dict[str, Any] = {}
            if meta_path.exists():
                try:
                    meta = json.loads(meta_path.read_text())
                except ValueError:
                    meta = {}
            complete = meta.get("key") == key and all((entry / f).is_file() for f in RUN_FILES)
            if complete and meta.get("verdict_code") == self.code_version:
                self.log(f"{label}: cache hit ({entry})")
                return ModelRun(role, dataset.name, digest, entry, True, False, False,
                                read_jsonl(entry / "results.jsonl"),
                                _cached_summary(entry))
            if complete:  # same samples, other verdict code: execute again
                self.log(f"{label}: verdict code changed, re-executing the cached samples")
                for name in ("results.jsonl", "results.partial.jsonl", "execute_state.json", "summary.json"):
                    (entry / name).unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            generated = self._samples(model, dataset, task_ids, entry, label)
            result = self._execute(dataset, entry, label)
            write_json_atomic(meta_path, {"key": key, "verdict_code": self.code_version,
                                           "harness_version": __version__, "model": model.describe(),
                                           "created": _now()})
        return ModelRun(role, dataset.name, digest, entry, False, generated, True, result.rows, result.summary)

    def _samples(self, model: _ModelPlan, dataset: Dataset, task_ids: list[str], entry: Path, label: str) -> bool:
        samples = entry / "samples.jsonl"
        if model.samples_lines is not None:
            wanted = set(task_ids)
            text = "".join(line.rstrip("\n") + "\n" for tid, line in model.samples_lines if tid in wanted)
            if not samples.exists() or samples.read_text(encoding="utf-8") != text:
                write_text_atomic(samples, text)
            return False
        from harness.generation.backend import generate_samples

        gen = self.config.generation_config(model.role)
        _drop_stale_generation(samples, gen.output_hash(dataset.name))
        self.log(f"{label}: generating {len(task_ids)} tasks x {gen.n_samples} samples with {model.model}")
        generate_samples(dataset, gen, samples, task_ids=task_ids, quiet=self.config.quiet)
        return True

    def _execute(self, dataset: Dataset, entry: Path, label: str) -> Any:
        from harness.execution.execute import ExecuteConfig, execute_samples

        self.log(f"{label}: executing in the {self.config.backend} sandbox")
        cfg = ExecuteConfig(dataset=dataset.name, samples=entry / "samples.jsonl", out=entry,
                            backend=self.config.backend, jobs=self.config.jobs,
                            data_dir=self.config.data_dir, limits=self.config.limits,
                            progress=self.config.progress)
        return execute_samples(cfg, backend=self.backend())


# ----------------------------------------------------------------------------- statistics


# ----------------------------------------------------------------------------- summaries


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_summary(out: EvalDir, summary: Mapping[str, Any]) -> None:
    out.write(summary)  # summary.md, junit.xml and report.html follow from it (harness.reporting.report)


# ----------------------------------------------------------------------------- stages


def _run_models(config: EvalConfig, plan: _Plan, out: EvalDir, log: Callable[[str], None],
                ) -> dict[str, dict[str, ModelRun]]:
    """Generation and execution of both models on every dataset (or their cache entries),
    copied into ``DIR/<role>/<dataset>/``."""
    runner = _Runner(config, plan, log)
    runs: dict[str, dict[str, ModelRun]] = {role: {} for role in ROLES}
    try:
        for ds in plan.datasets:
            for role in ("teacher", "student"):  # the teacher first: it is the one usually cached
                run = runner.run(role, ds)
                runs[role][ds.name] = run
                dest = out.run(role, ds.name).path
                dest.mkdir(parents=True, exist_ok=True)
                for name in RUN_FILES:
                    shutil.copy2(run.cache_path / name, dest / name)
    finally:
        runner.close()
    return runs


def _comparison(config: EvalConfig, plan: _Plan, runs: dict[str, dict[str, ModelRun]]) -> EvalSummary:
    """The eval summary: teacher vs student on every dataset, with what was evaluated and how."""
    datasets = {
        ds.name: compare(ds, plan.task_ids[ds.name], runs["student"][ds.name].rows,
                         runs["teacher"][ds.name].rows, n_resamples=config.n_resamples,
                         confidence=config.confidence, seed=config.bootstrap_seed)
        for ds in plan.datasets
    }
    return EvalSummary(
        harness_version=__version__,
        created=_now(),
        models={role: ModelInfo.from_dict(plan.models[role].describe()) for role in ROLES},
        settings=config.settings(),
        datasets=datasets,
        mean_precision_loss=Rates(*(mean_precision_loss(d.precision_loss.get(m) for d in datasets.values())
                                    for m in ("base", "plus"))),
        cache={role: {d: {"key": r.cache_key, "hit": r.cache_hit} for d, r in runs[role].items()}
               for role in ROLES},
    )


def _metamorphic(config: EvalConfig, result: EvalResult) -> None:
    """``datasets.<name>.metamorphic`` for every dataset of the eval."""
    from harness.core.registry import make_backend
    from harness.metamorphic.evaluation import evaluate_dataset

    backend = make_backend(config.backend, jobs=config.jobs, limits=config.limits, **config.backend_options)
    try:
        for name in result.task_ids:
            result.summary["datasets"][name]["metamorphic"] = evaluate_dataset(config, result, name, backend).to_dict()
    finally:
        backend.close()


def _gate(config: EvalConfig, result: EvalResult) -> None:
    """The release verdict on the fresh summary (printed after the results table by
    :func:`harness.reporting.report.render_console`); the report writes junit.xml."""
    from harness.analysis.gate import gated, load_gate

    assert config.gate is not None
    result.summary["gate"] = gated(result.summary, load_gate(config.gate)).to_dict()


# ----------------------------------------------------------------------------- driver


def evaluate(config: EvalConfig) -> EvalResult:
    """Run the whole eval; returns the summary (also in ``config.out``) and what was cached."""

    def log(message: str) -> None:
        if not config.quiet:
            print(f"harness eval: {message}", file=sys.stderr, flush=True)

    plan = _plan(config)
    out = EvalDir(config.out)
    from harness.execution.execute import prepare_out

    prepare_out(out.path)  # read-only or foreign: one line, exit 2, before any work
    for ds in plan.datasets:
        n_sel = min(len(ds), config.limit) if config.limit else len(ds)
        if len(plan.task_ids[ds.name]) < n_sel:
            log(f"{ds.name}: evaluating the {len(plan.task_ids[ds.name])} of {n_sel} tasks that the samples files cover")

    runs = _run_models(config, plan, out, log)
    summary = _comparison(config, plan, runs).to_dict()
    result = EvalResult(out.path, summary, runs, {k: list(v) for k, v in plan.task_ids.items()})
    _write_summary(out, summary)
    if config.metamorphic:
        _metamorphic(config, result)
        log("metamorphic done")
    if config.gate is not None:
        _gate(config, result)
        log("gate done")
    if config.metamorphic or config.gate is not None:
        _write_summary(out, result.summary)
    from harness.reporting.report import write_report

    write_report(out.path)
    return result


__all__ = [
    "DEFAULT_DATASETS",
    "EvalConfig",
    "EvalResult",
    "ModelRun",
    "cache_key",
    "evaluate",
    "verdict_code_version",
]
