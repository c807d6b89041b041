"""Metamorphic prompt transforms (MetaCompress, Awal et al. 2025; ReCode, Wang et al. 2022):
behaviour-preserving prompt changes under which a student should behave like its teacher.

Importing the package registers every relation in :data:`REGISTRY` (name -> Relation).
``strict`` relations preserve the program's behaviour by construction; ``soft`` ones
(docstring paraphrases) are reported apart.
"""

from __future__ import annotations

from harness.metamorphic import formatting, naming, paraphrase, syntax  # noqa: F401  (register)
from harness.metamorphic.base import (
    REGISTRY,
    NotApplicable,
    Relation,
    SimpleTask,
    Source,
    TaskLike,
    Transformed,
    full_program,
    get_relations,
    parses_as_prefix,
    partial_prompt,
    prompt_has_code,
    register,
    split_task,
)
from harness.metamorphic.runner import (
    ProgramSpec,
    RunOutputs,
    dataset_inputs,
    run_program,
    subprocess_runner,
)
from harness.metamorphic.validity import (
    ValidityTable,
    Verdict,
    static_check,
    valid_transforms,
    validate,
)

__all__ = [
    "REGISTRY",
    "NotApplicable",
    "ProgramSpec",
    "Relation",
    "RunOutputs",
    "SimpleTask",
    "Source",
    "TaskLike",
    "Transformed",
    "ValidityTable",
    "Verdict",
    "dataset_inputs",
    "full_program",
    "get_relations",
    "parses_as_prefix",
    "partial_prompt",
    "prompt_has_code",
    "register",
    "run_program",
    "split_task",
    "static_check",
    "subprocess_runner",
    "valid_transforms",
    "validate",
]
