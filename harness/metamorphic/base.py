"""Core types of the metamorphic relations: the task protocol, the transformed result, the
relation base class and its registry, and the partial-code prompt (ReCode's "partial code").

A relation rewrites a *program split in two* at a line boundary: the prompt (what the model sees)
and the rest of the canonical solution. Prompt and solution are rewritten together, so a renamed
parameter or a new indentation also holds in the solution the relation is validated with.
"""

from __future__ import annotations

import ast
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from harness.core.registry import RELATIONS

Group = Literal["strict", "soft"]


@runtime_checkable
class TaskLike(Protocol):
    """What a relation needs from a task (``harness.data.datasets.Task`` has these fields)."""

    @property
    def task_id(self) -> str: ...

    @property
    def prompt(self) -> str: ...

    @property
    def entry_point(self) -> str: ...

    @property
    def canonical_solution(self) -> str: ...


@dataclass(frozen=True)
class SimpleTask:
    """A plain TaskLike, e.g. a partial-code prompt or a task loaded without the dataset module."""

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str


@dataclass(frozen=True)
class Source:
    """A program split at a line boundary: ``prompt + rest`` is the full program.

    ``prompt`` always ends with a newline here (see :func:`split_task`); ``trailing_newline``
    remembers whether the task's own prompt did, so the transformed prompt keeps its convention.
    """

    prompt: str
    rest: str
    entry_point: str
    trailing_newline: bool = True

    @property
    def program(self) -> str:
        return self.prompt + self.rest

    @property
    def shown_prompt(self) -> str:
        """The prompt as a model would see it (the task's trailing-newline convention)."""
        if self.trailing_newline or not self.prompt.endswith("\n"):
            return self.prompt
        return self.prompt[:-1]


@dataclass(frozen=True)
class Transformed:
    """One relation applied to one task.

    ``program`` is the full transformed canonical program and starts with ``prompt``;
    ``base_prompt``/``base_program`` are what it is a variant of (the task's prompt, or its
    partial-code prompt when ``partial``), so a student is compared on base vs. transformed.
    """

    task_id: str
    relation: str
    group: Group
    seed: int
    prompt: str
    program: str
    entry_point: str
    base_prompt: str
    base_program: str
    base_entry_point: str
    partial: bool

    @property
    def solution(self) -> str:
        """The transformed canonical completion: what follows the prompt in ``program``."""
        return self.program[len(self.prompt) :]


class NotApplicable(Exception):
    """Raised inside a relation when it cannot (safely) transform this task."""


def split_task(task: TaskLike) -> Source:
    """The task's prompt and canonical solution as a :class:`Source` (a line-aligned split).

    MBPP+ prompts end without a newline and their solution starts with one; the newline is
    moved into the prompt so the split falls on a line boundary.
    """
    prompt, rest = task.prompt, task.canonical_solution
    trailing = prompt.endswith("\n")
    if not trailing:
        if rest.startswith("\n"):
            rest = rest[1:]
        prompt += "\n"
    return Source(prompt=prompt, rest=rest, entry_point=task.entry_point, trailing_newline=trailing)


def full_program(task: TaskLike) -> str:
    """The task's original canonical program (prompt and solution joined at a line boundary)."""
    return split_task(task).program


def _entry_def(module: ast.Module, entry_point: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    found = None
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            found = node  # the last definition wins, as at run time
    return found


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def prompt_has_code(prompt: str) -> bool:
    """True when the prompt holds code beyond docstrings (MBPP+ prompts are a docstring only)."""
    try:
        module = ast.parse(prompt)
    except SyntaxError:
        return True  # partial code that does not parse alone is still code
    return any(not _is_docstring(stmt) for stmt in module.body)


def parses_as_prefix(code: str) -> bool:
    """The prompt parses, or parses once its open last block is completed with ``pass``
    (a prompt ending in a bare ``def`` line, or in a body of comments only)."""
    try:
        ast.parse(code)
        return True
    except SyntaxError:
        pass
    text = code if code.endswith("\n") else code + "\n"
    last = text.rstrip("\n").split("\n")[-1]
    indent = last[: len(last) - len(last.lstrip())]
    for extra in ("", "    ", "\t"):
        try:
            ast.parse(text + indent + extra + "pass\n")
            return True
        except SyntaxError:
            continue
    return False


def partial_prompt(task: TaskLike, fraction: float = 0.5) -> SimpleTask | None:
    """ReCode's partial code: the prompt plus the first statements of the entry point's body.

    Of the body's ``n`` statements (its docstring not counted) the first
    ``min(ceil(n * fraction), n - 1)`` join the prompt, so at least one is left to complete.
    The cut falls at a line boundary between top-level statements of the body, so the rest
    completes the prefix unchanged. Where the prompt has no code (MBPP+), the prefix holds the
    solution's imports and helpers and the entry point's header; with no statement kept it ends
    in the bare ``def`` line (it parses once completed). None when no such cut exists (e.g. a
    one-line ``def f(x): return x``) or nothing is left.
    """
    src = split_task(task)
    full = src.program
    try:
        module = ast.parse(full)
    except SyntaxError:
        return None
    fd = _entry_def(module, task.entry_point)
    if fd is None or fd.body[0].lineno <= fd.lineno:
        return None  # no entry point, or its body on the header line
    body = list(fd.body)
    if _is_docstring(body[0]):
        head = body[0].end_lineno or fd.lineno
        body = body[1:]
    else:
        head = fd.body[0].lineno - 1  # the header's last line (or a comment after it)
    prompt_lines = src.prompt.count("\n")
    n = len(body)
    if n == 0:
        return None
    k = min(math.ceil(n * fraction), n - 1)
    lines = [line + "\n" for line in full.split("\n")]  # ast counts "\n" lines only
    lines[-1] = lines[-1][:-1]
    for j in range(k, -1, -1):
        if j == 0:
            line = max(head, prompt_lines)
        else:
            end = body[j - 1].end_lineno
            if end is None or body[j].lineno <= end:
                continue  # two statements on one line (a; b)
            line = end
        if line < prompt_lines or line >= len(lines):
            continue
        prefix, rest = "".join(lines[:line]), "".join(lines[line:])
        if not parses_as_prefix(prefix):
            continue
        shown = prefix if src.trailing_newline or prefix != src.prompt else prefix[:-1]
        return SimpleTask(
            task_id=task.task_id,
            prompt=shown,
            entry_point=task.entry_point,
            canonical_solution=rest if shown.endswith("\n") else "\n" + rest,
        )
    return None


class Relation(ABC):
    """A behaviour-preserving prompt transform (a metamorphic relation).

    Subclasses set ``name``, ``group`` ("strict": the program's behaviour provably holds;
    "soft": a docstring paraphrase, reported apart) and implement :meth:`transform`.
    ``needs_partial_code``: the relation rewrites statements of the body, so it applies to
    :func:`partial_prompt`. ``partial_if_no_code``: a code relation that falls back to the
    partial prompt when the prompt has no code at all (MBPP+ prompts are a docstring only).
    """

    name: ClassVar[str] = ""
    group: ClassVar[Group] = "strict"
    needs_partial_code: ClassVar[bool] = False
    partial_if_no_code: ClassVar[bool] = False
    partial_fraction: ClassVar[float] = 0.5

    def base(self, task: TaskLike) -> tuple[TaskLike, bool] | None:
        """The task this relation varies (the task itself or its partial prompt), and whether
        it is the partial one."""
        if self.needs_partial_code or (
            self.partial_if_no_code and not prompt_has_code(task.prompt)
        ):
            part = partial_prompt(task, self.partial_fraction)
            return (part, True) if part is not None else None
        return task, False

    def apply(self, task: TaskLike, seed: int) -> Transformed | None:
        """Transform ``task`` deterministically for ``seed``; None when the relation does not
        apply (nothing to change, or the change could not be made safely)."""
        out = self.try_apply(task, seed)
        return out if isinstance(out, Transformed) else None

    def try_apply(self, task: TaskLike, seed: int) -> Transformed | str:
        """Like :meth:`apply`, but says why the relation does not apply."""
        based = self.base(task)
        if based is None:
            return "no partial-code prompt (no line boundary to cut the body at)"
        base, partial = based
        src = split_task(base)
        rng = random.Random(f"{self.name}|{task.task_id}|{seed}")
        try:
            out = self.transform(src, rng)
        except NotApplicable as exc:
            return str(exc) or "not applicable"
        if out is None or out.prompt == src.prompt:
            return "prompt unchanged"
        return Transformed(
            task_id=task.task_id,
            relation=self.name,
            group=self.group,
            seed=seed,
            prompt=out.shown_prompt,
            program=out.program,
            entry_point=out.entry_point,
            base_prompt=base.prompt,
            base_program=src.program,
            base_entry_point=task.entry_point,
            partial=partial,
        )

    @abstractmethod
    def transform(self, src: Source, rng: random.Random) -> Source | None:
        """Rewrite prompt and rest together; None (or raise NotApplicable) when nothing applies."""

    def __repr__(self) -> str:
        return f"<Relation {self.name} ({self.group})>"


#: The relations by name (``harness.core.registry.RELATIONS``); importing the package fills it.
REGISTRY = RELATIONS

R = TypeVar("R", bound=type[Relation])


def register(cls: R) -> R:
    """Class decorator: instantiate the relation and add it to :data:`REGISTRY` by name."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    first_line = " ".join((cls.__doc__ or "").split()).split(". ")[0]
    REGISTRY.register(cls.name, cls(), help=first_line)
    return cls


def get_relations(
    names: Iterable[str] | None = None, group: Group | None = None
) -> list[Relation]:
    """Relations by name (all registered ones, strict first, when ``names`` is None),
    optionally of one group; an unknown name is the registry's UsageError (exit 2).
    """
    if names is None:  # strict relations first, each group in registration order
        chosen = sorted(REGISTRY.values(), key=lambda r: r.group != "strict")
    else:
        chosen = [REGISTRY.get(name) for name in names]
    return [r for r in chosen if group is None or r.group == group]


RelationFactory = Callable[[], Relation]
