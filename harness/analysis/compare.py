"""Teacher vs student on one dataset: pass@1 with paired-bootstrap intervals, the precision loss,
McNemar's exact test, regressed and gained tasks and both models' taxonomy profiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.analysis.stats import (
    mcnemar_exact,
    paired_bootstrap,
    per_task_rates,
    precision_loss,
    task_transitions,
)
from harness.data.datasets import Dataset
from harness.results.records import (
    Comparison,
    Intervals,
    McNemar,
    ModelBlock,
    Rates,
    ResultRow,
    Taxonomy,
)


def _taxonomy(student_rows: Sequence[Mapping[str, Any]], teacher_rows: Sequence[Mapping[str, Any]]) -> Taxonomy:
    from harness.taxonomy import category_diff, table13

    s, t = table13(student_rows), table13(teacher_rows)
    return Taxonomy(s, t, category_diff(s, t))


def compare(dataset: Dataset, task_ids: Sequence[str], student_rows: Sequence[Mapping[str, Any]],
            teacher_rows: Sequence[Mapping[str, Any]], *, n_resamples: int = 2000,
            confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Teacher vs student on one dataset, from both models' results rows."""
    has_plus = dataset.has_plus
    primary = "plus" if has_plus else "base"
    metrics = ("base", "plus") if has_plus else ("base",)
    typed = {"student": [ResultRow.from_dict(r) for r in student_rows],
             "teacher": [ResultRow.from_dict(r) for r in teacher_rows]}
    blocks = {role: ModelBlock.of(rows, task_ids, has_plus) for role, rows in typed.items()}
    rates = {role: {m: per_task_rates(rows, f"{m}_passed", task_ids) for m in metrics}
             for role, rows in (("student", student_rows), ("teacher", teacher_rows))}
    loss, loss_ci = Rates(), Intervals()
    for m in metrics:
        s_rates, t_rates = list(rates["student"][m].values()), list(rates["teacher"][m].values())
        boot = paired_bootstrap(s_rates, t_rates, n_resamples=n_resamples, confidence=confidence, seed=seed)
        blocks["student"].pass_at_1_ci.set(m, boot.student)
        blocks["teacher"].pass_at_1_ci.set(m, boot.teacher)
        value = precision_loss(blocks["teacher"].pass_at_1.get(m) or 0.0, blocks["student"].pass_at_1.get(m) or 0.0)
        setattr(loss, m, value)
        loss_ci.set(m, boot.precision_loss if boot.precision_loss is not None and value is not None else None)
    regressed, gained = task_transitions(rates["teacher"][primary], rates["student"][primary])
    return Comparison(
        n_tasks=len(task_ids), dataset_version=dataset.version, primary_metric=primary,
        student=blocks["student"], teacher=blocks["teacher"], precision_loss=loss, precision_loss_ci=loss_ci,
        mcnemar=McNemar(primary, len(regressed), len(gained), mcnemar_exact(len(regressed), len(gained))),
        regressed=regressed, gained=gained, taxonomy=_taxonomy(student_rows, teacher_rows))


def dataset_summary(dataset: Dataset, task_ids: Sequence[str], student_rows: Sequence[Mapping[str, Any]],
                    teacher_rows: Sequence[Mapping[str, Any]], *, n_resamples: int = 2000,
                    confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """The ``datasets.<name>`` block of summary.json (:func:`compare` as JSON)."""
    return compare(dataset, task_ids, student_rows, teacher_rows, n_resamples=n_resamples,
                   confidence=confidence, seed=seed).to_dict()


__all__ = ["compare", "dataset_summary"]
