"""Naming relations (ReCode's function-name and variable-name perturbations), scope-aware via
libcst's ScopeProvider: only the entry point's own bindings change, never a helper the tests
or the program call (HumanEval/32 ``poly``, /38 ``encode_cyclic``, /50 ``encode_shift``)."""

from __future__ import annotations

import re

import libcst as cst

from harness.metamorphic._cst import (
    Ctx,
    _non_reference_names,
    _resolving_scope,
    docstring_stmt,
    edit_docstring,
    rename_binding,
    rename_keywords,
    replace_word,
    resolves_to,
)
from harness.metamorphic.base import NotApplicable, Source, TaskLike, register
from harness.metamorphic.formatting import CstRelation

# Words too common in prose to stand for a variable in a docstring ("add a and b").
PROSE_STOPWORDS = frozenset(
    ["a", "an", "i", "in", "is", "it", "of", "or", "on", "to", "the", "and", "as", "at", "be", "by", "if", "no", "not", "for", "all"]
)

PARAM_NAMES = ["data", "value", "item", "operand", "source", "target", "subject", "entry", "arg", "param"]
LOCAL_NAMES = ["tmp", "var", "acc", "cur", "aux", "buf", "holder", "store", "entry", "temp"]


def snake_to_camel(name: str) -> str | None:
    """``has_close_elements`` -> ``hasCloseElements``; None when there is nothing to convert."""
    core = name.strip("_")
    if "_" not in core:
        return None
    lead = name[: len(name) - len(name.lstrip("_"))]
    trail = name[len(name.rstrip("_")) :]
    parts = [p for p in core.split("_") if p]
    camel = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    return lead + camel + trail


def camel_to_snake(name: str) -> str | None:
    """``isPalindrome`` -> ``is_palindrome``; None when the name is not camelCase."""
    if "_" in name.strip("_") or not re.search(r"[a-z0-9][A-Z]", name):
        return None
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def case_change(name: str) -> str | None:
    """snake_case <-> camelCase; None for names of one word."""
    return snake_to_camel(name) or camel_to_snake(name)


@register
class EntryPointCase(CstRelation):
    """The entry point's name switches between snake_case and camelCase, in its definition,
    every reference (recursion, helpers) and every docstring mention; the tests call the new
    name (``Transformed.entry_point``). Names of one word (``fib``, about a quarter of
    HumanEval+) have no case to change, so the relation does not apply to them."""

    name = "entry_point_case"
    partial_if_no_code = True

    def base(self, task: TaskLike) -> tuple[TaskLike, bool] | None:
        """The task's own prompt when it mentions the entry point (evalplus's MBPP+ prompts
        hold an ``assert f(...)`` example), else the partial prompt when it has no code."""
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(task.entry_point)}(?![A-Za-z0-9_])", task.prompt):
            return task, False
        return super().base(task)

    def rewrite(self, ctx: Ctx) -> Source | None:
        old = ctx.entry_point
        new = case_change(old)
        if new is None or new in ctx.names_in_use:
            raise NotApplicable("no case change for this name")
        ctx.entry_function()  # must be a top-level function
        scope = ctx.global_scope()
        targets: dict[int, cst.Name] = {}
        for assignment in scope.assignments[old]:
            node = getattr(assignment, "node", None)
            if not isinstance(node, cst.FunctionDef):
                raise NotApplicable(f"{old} is also bound by {type(node).__name__}")
            targets[id(node.name)] = node.name
            for ref in assignment.references:
                if not isinstance(ref.node, cst.Name):
                    raise NotApplicable("entry point used through an attribute")
                if resolves_to(ctx, ref.node, scope):
                    targets[id(ref.node)] = ref.node
        skip = _non_reference_names(ctx.module)
        for node in ctx.nodes:
            if isinstance(node, (cst.Global, cst.Nonlocal)) and any(
                item.name.value == old for item in node.names
            ):
                raise NotApplicable("entry point declared global")
            if isinstance(node, cst.Name) and node.value in ("globals", "eval", "exec"):
                raise NotApplicable("dynamic name access")
            if isinstance(node, cst.Name) and node.value == old and id(node) not in targets:
                if id(node) in skip:
                    continue
                where = ctx.scopes.get(node)
                if where is None or _resolving_scope(where, old) is scope:
                    raise NotApplicable("unresolved use of the entry point")
        for node in targets.values():
            ctx.replace(node, node.with_changes(value=new))
        for owner in ctx.nodes:
            if isinstance(owner, (cst.Module, cst.FunctionDef, cst.ClassDef)):
                doc = docstring_stmt(owner)
                if doc is not None:
                    edit_docstring(ctx, doc, lambda t: replace_word(t, old, new))
        return ctx.result(entry_point=new)


def _params(fd: cst.FunctionDef) -> list[cst.Param]:
    p = fd.params
    out = [*p.posonly_params, *p.params]
    if isinstance(p.star_arg, cst.Param):
        out.append(p.star_arg)
    out += list(p.kwonly_params)
    if p.star_kwarg is not None:
        out.append(p.star_kwarg)
    return out


def _rename_in_prose(ctx: Ctx, fd: cst.FunctionDef, renames: dict[str, str]) -> None:
    """Mentions of renamed variables in the entry point's docstring prose (doctest lines keep
    their own names), so the prompt stays consistent. Common short words are left alone."""
    doc = docstring_stmt(fd)
    if doc is None or not ctx.in_prompt(doc):
        return

    def fix(text: str) -> str:
        for old, new in renames.items():
            if old.lower() not in PROSE_STOPWORDS:
                text = replace_word(text, old, new, code=False)
        return text

    edit_docstring(ctx, doc, fix)


@register
class ParamRename(CstRelation):
    """The entry point's parameters get fresh names (seeded), in the signature, the body
    (closures included), keyword arguments of recursive calls and the docstring's prose.
    Helpers' parameters are never touched. Functions without parameters: not applicable."""

    name = "param_rename"
    partial_if_no_code = True

    def rewrite(self, ctx: Ctx) -> Source | None:
        fd = ctx.entry_function()
        if not ctx.in_prompt(fd.params):
            raise NotApplicable("signature not in the prompt")
        params = _params(fd)
        if not params:
            raise NotApplicable("no parameters")
        scope = ctx.function_scope(fd)
        renames: dict[str, str] = {}
        for param in params:
            old = param.name.value
            renames[old] = ctx.fresh(PARAM_NAMES, set(renames.values()))
        for old, new in renames.items():
            rename_binding(ctx, scope, old, new, within=fd)
        rename_keywords(ctx, ctx.entry_point, renames)
        _rename_in_prose(ctx, fd, renames)
        return ctx.result()


@register
class LocalRename(CstRelation):
    """Local variables of the entry point that the (partial) prompt mentions get fresh names,
    a seeded non-empty subset of them, everywhere in the function (closures included).

    Needs partial code: a HumanEval prompt has no locals. Not applicable when the first half
    of the body binds no plain variable (e.g. a body that is a single ``return``), so it
    applies to fewer than half of MBPP+'s tasks (many are one-line functions)."""

    name = "local_rename"
    needs_partial_code = True

    def rewrite(self, ctx: Ctx) -> Source | None:
        fd = ctx.entry_function()
        scope = ctx.function_scope(fd)
        params = {p.name.value for p in _params(fd)}
        candidates: list[str] = []
        for name in sorted({a.name for a in scope.assignments}):
            if name in params:
                continue
            assignments = list(scope.assignments[name])
            if not all(isinstance(getattr(a, "node", None), cst.Name) for a in assignments):
                continue
            nodes = [getattr(a, "node") for a in assignments] + [  # noqa: B009
                r.node for a in assignments for r in a.references
            ]
            if any(ctx.in_prompt(n) for n in nodes):
                candidates.append(name)
        if not candidates:
            raise NotApplicable("no local variable in the prompt")
        chosen = [c for c in candidates if ctx.rng.random() < 0.5] or [ctx.rng.choice(candidates)]
        renames: dict[str, str] = {}
        for old in chosen:
            renames[old] = ctx.fresh(LOCAL_NAMES, set(renames.values()))
        for old, new in renames.items():
            rename_binding(ctx, scope, old, new, within=fd)
        return ctx.result()


__all__ = [
    "EntryPointCase",
    "LocalRename",
    "ParamRename",
    "camel_to_snake",
    "case_change",
    "snake_to_camel",
]
