"""Format relations (ReCode's "format" perturbations): layout changes the tokenizer or parser
erase, so the program's behaviour is unchanged by construction."""

from __future__ import annotations

import random
from abc import abstractmethod
from typing import Any

import libcst as cst

from harness.metamorphic._cst import (
    Ctx,
    all_prompt_docstrings,
    docstring_node,
    docstring_stmt,
    prompt_docstrings,
    split_string,
)
from harness.metamorphic.base import NotApplicable, Relation, Source, register


class CstRelation(Relation):
    """A relation implemented as a rewrite of the libcst tree of prompt + rest."""

    def transform(self, src: Source, rng: random.Random) -> Source | None:
        return self.rewrite(Ctx(src, rng))

    @abstractmethod
    def rewrite(self, ctx: Ctx) -> Source | None:
        """Queue edits on ``ctx`` (or build a module) and return ``ctx.result(...)``."""


def _clean_lines(inner: str) -> list[str]:
    """Docstring text as lines, dedented like ``inspect.cleandoc`` (tabs kept as they are)."""
    lines = inner.expandtabs(8).split("\n") if "\t" in inner else inner.split("\n")
    rest = [line for line in lines[1:] if line.strip()]
    margin = min((len(line) - len(line.lstrip()) for line in rest), default=0)
    out = [lines[0].strip()] + [line[margin:].rstrip() for line in lines[1:]]
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return out


@register
class DocstringToComments(CstRelation):
    """The entry point's docstring (MBPP+: the module docstring) becomes ``#`` comments.

    The prompt of a HumanEval task then ends in a block holding comments only, so it parses
    once completed (the static check completes it with ``pass``). Does not apply when nothing
    follows the docstring in its block.
    """

    name = "docstring_to_comments"

    def rewrite(self, ctx: Ctx) -> Source | None:
        docs = prompt_docstrings(ctx)
        if not docs:
            raise NotApplicable("no docstring in the prompt")
        doc = docs[0]
        parent = ctx.parent(doc)
        body = list(parent.body)  # type: ignore[attr-defined]
        index = next(i for i, stmt in enumerate(body) if stmt is doc)
        if index + 1 >= len(body):
            raise NotApplicable("nothing follows the docstring")
        _, _, inner = split_string(docstring_node(doc).value)
        comments = [
            cst.EmptyLine(indent=True, comment=cst.Comment(f"# {line}" if line else "#"))
            for line in _clean_lines(inner)
        ]
        if not comments:
            raise NotApplicable("empty docstring")
        moved = list(doc.leading_lines) + comments
        ctx.edit(doc, lambda _n: cst.RemoveFromParent())
        ctx.edit(
            body[index + 1],
            lambda n: n.with_changes(leading_lines=[*moved, *n.leading_lines]),  # type: ignore[attr-defined]
        )
        return ctx.result()


@register
class DocstringQuotes(CstRelation):
    """Docstrings in the prompt switch quote style: triple double <-> triple single quotes
    (single-quoted ones likewise), where the text allows it."""

    name = "docstring_quotes"

    def rewrite(self, ctx: Ctx) -> Source | None:
        swap = {'"""': "'''", "'''": '"""', '"': "'", "'": '"'}
        for doc in all_prompt_docstrings(ctx):
            node = docstring_node(doc)
            prefix, quote, inner = split_string(node.value)
            new = swap[quote]
            clash = new in inner if len(new) == 1 else (new in inner or inner.endswith(new[0]))
            if clash:
                continue
            ctx.replace(node, node.with_changes(value=prefix + new + inner + new))
        return ctx.result()


def _statements(ctx: Ctx) -> list[cst.BaseStatement]:
    """Statements that start in the prompt, in source order."""
    return [
        node
        for node in ctx.nodes
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
        and ctx.positions[node].start.line < ctx.boundary
    ]


@register
class BlankLines(CstRelation):
    """Blank lines inserted before a seeded, non-empty subset of the prompt's statements
    (including a function's first statement, right after its ``def`` line)."""

    name = "blank_lines"
    partial_if_no_code = True

    def rewrite(self, ctx: Ctx) -> Source | None:
        stmts = _statements(ctx)
        if not stmts:
            raise NotApplicable("no statements in the prompt")
        chosen = [s for s in stmts if ctx.rng.random() < 0.4] or [ctx.rng.choice(stmts)]
        for stmt in chosen:
            blank = [cst.EmptyLine(indent=False)] * ctx.rng.choice((1, 1, 2))
            ctx.edit(
                stmt,
                lambda n, b=blank: n.with_changes(leading_lines=[*b, *n.leading_lines]),  # type: ignore[misc]
            )
        return ctx.result()


def _block_depths(module: cst.Module) -> dict[int, int]:
    """Nesting depth (count of enclosing indented blocks) of every docstring statement."""
    depths: dict[int, int] = {}

    def visit(node: cst.CSTNode, depth: int) -> None:
        for child in node.children:
            d = depth + 1 if isinstance(child, cst.IndentedBlock) else depth
            if isinstance(child, cst.SimpleStatementLine):
                depths[id(child)] = d
            visit(child, d)

    visit(module, 0)
    return depths


class _Reindent(CstRelation):
    """Re-indent the whole program (prompt and solution alike) with one indentation unit.

    Docstring lines are re-indented with their code so the prompt stays tidy; other string
    literals keep their text. Applies to the partial prompt when the prompt holds no code; on
    MBPP+ that prompt often ends at the ``def`` line (one-statement bodies), with no indented
    line to change, so it applies to fewer than half of MBPP+'s tasks.
    """

    partial_if_no_code = True

    @abstractmethod
    def unit(self, current: str) -> str | None:
        """The new indentation unit given the module's current one; None: not applicable."""

    def rewrite(self, ctx: Ctx) -> Source | None:
        new = self.unit(ctx.module.default_indent)
        if new is None:
            raise NotApplicable("already indented that way")
        depths = _block_depths(ctx.module)
        for node in ctx.nodes:
            if isinstance(node, cst.IndentedBlock):
                ctx.edit(node, lambda n: n.with_changes(indent=None))  # type: ignore[attr-defined]
        for doc in all_prompt_docstrings(ctx) + _rest_docstrings(ctx):
            depth = depths.get(id(doc), 0)
            if depth == 0:
                continue
            old_prefix, new_prefix = ctx.line_indent(doc), new * depth
            node = docstring_node(doc)
            prefix, quote, inner = split_string(node.value)
            lines = inner.split("\n")
            for i in range(1, len(lines)):
                if lines[i].startswith(old_prefix):
                    lines[i] = new_prefix + lines[i][len(old_prefix) :]
            value = prefix + quote + "\n".join(lines) + quote
            if value != node.value:
                ctx.replace(node, node.with_changes(value=value))
        module = ctx.module.visit(ctx.applier()).with_changes(default_indent=new)
        return ctx.result(module)


def _rest_docstrings(ctx: Ctx) -> list[cst.SimpleStatementLine]:
    out = []
    for node in ctx.nodes:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            doc = docstring_stmt(node)
            if doc is not None and not ctx.in_prompt(doc):
                out.append(doc)
    return out


@register
class IndentSpaces(_Reindent):
    """Indentation width changes: 4 spaces -> 2, anything else (2 spaces, tabs) -> 4."""

    name = "indent_spaces"

    def unit(self, current: str) -> str | None:
        return "  " if current == "    " else "    "


@register
class IndentTabs(_Reindent):
    """Indentation with tabs instead of spaces (not applicable to tab-indented code)."""

    name = "indent_tabs"

    def unit(self, current: str) -> str | None:
        return None if current == "\t" else "\t"


def _pw(unit: str) -> cst.ParenthesizedWhitespace:
    """A line break inside brackets, continuing at the current indentation plus ``unit``."""
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(),
        empty_lines=(),
        indent=True,
        last_line=cst.SimpleWhitespace(unit),
    )


ParamLike = cst.Param | cst.ParamSlash | cst.ParamStar


def _layout(node: ParamLike, last: bool, unit: str, one_per_line: bool) -> ParamLike:
    """One parameter's trailing comma and whitespace in the split layout."""
    if one_per_line:
        new = node.with_changes(comma=cst.Comma(whitespace_after=_pw("" if last else unit)))
        if isinstance(new, cst.Param):
            new = new.with_changes(whitespace_after_param=cst.SimpleWhitespace(""))
        return new
    if last:
        return node.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_param=_pw(""))
    return node.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))


def _split_params(params: cst.Parameters, unit: str, one_per_line: bool) -> cst.Parameters:
    """Parameters laid out on continuation lines: one per line with a trailing comma, or all
    on one line with the closing bracket on the next (only when the last is a plain param)."""
    slash = params.posonly_ind if isinstance(params.posonly_ind, cst.ParamSlash) else None
    star = params.star_arg if isinstance(params.star_arg, (cst.Param, cst.ParamStar)) else None
    order: list[ParamLike] = [*params.posonly_params]
    order += [slash] if slash is not None else []
    order += list(params.params)
    order += [star] if star is not None else []
    order += list(params.kwonly_params)
    order += [params.star_kwarg] if params.star_kwarg is not None else []
    if not isinstance(order[-1], cst.Param):
        one_per_line = True
    laid = iter(_layout(n, i == len(order) - 1, unit, one_per_line) for i, n in enumerate(order))

    def take(count: int) -> list[Any]:
        return [next(laid) for _ in range(count)]

    return params.with_changes(
        posonly_params=take(len(params.posonly_params)),
        posonly_ind=next(laid) if slash is not None else params.posonly_ind,
        params=take(len(params.params)),
        star_arg=next(laid) if star is not None else params.star_arg,
        kwonly_params=take(len(params.kwonly_params)),
        star_kwarg=next(laid) if params.star_kwarg is not None else None,
    )


@register
class SplitSignature(CstRelation):
    """Long-line splitting inside brackets: the signatures of the prompt's functions (the entry
    point always, helpers by seed) are broken after ``(``, one parameter per line with a trailing
    comma or all parameters on one continuation line (by seed). Functions without parameters
    are left alone."""

    name = "split_signature"
    partial_if_no_code = True

    def rewrite(self, ctx: Ctx) -> Source | None:
        unit = ctx.module.default_indent
        one_per_line = ctx.rng.random() < 0.5
        for node in ctx.nodes:
            if not isinstance(node, cst.FunctionDef) or not ctx.in_prompt(node.params):
                continue
            if isinstance(node.whitespace_before_params, cst.ParenthesizedWhitespace):
                continue
            p = node.params
            if not (p.posonly_params or p.params or p.kwonly_params or p.star_kwarg) and not isinstance(p.star_arg, cst.Param):
                continue
            is_entry = node.name.value == ctx.entry_point
            if not is_entry and ctx.rng.random() < 0.5:
                continue
            new_params = _split_params(p, unit, one_per_line)
            ctx.edit(
                node,
                lambda n, np=new_params: n.with_changes(  # type: ignore[misc]
                    whitespace_before_params=_pw(unit), params=np
                ),
            )
        return ctx.result()
