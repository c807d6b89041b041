"""libcst machinery shared by the relations: the prompt/rest boundary, identity-keyed node edits,
docstrings, fresh names and scope-aware renaming.

The whole program (prompt + rest) is parsed once, with a sentinel comment line at the prompt's
end. Relations edit the tree; the output is split again at the sentinel. Comments survive every
libcst rewrite, so the boundary moves with the code around it, and ``PositionProvider`` tells
which nodes lie in the prompt (they end before the sentinel line).
"""

from __future__ import annotations

import builtins
import dataclasses
import keyword
import random
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property, lru_cache

import libcst as cst
from libcst.metadata import (
    CodeRange,
    FunctionScope,
    MetadataWrapper,
    PositionProvider,
    Scope,
    ScopeProvider,
)

from harness.metamorphic.base import NotApplicable, Source

SENTINEL = "# @@metamorphic: end of prompt@@"

# Calls that make a rename unsafe: they see names as strings.
DYNAMIC_NAMES = frozenset({"locals", "vars", "eval", "exec", "globals", "__import__"})
RESERVED = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)

Edit = Callable[[cst.CSTNode], cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel]


class _Apply(cst.CSTTransformer):
    """Apply edits keyed by the identity of original nodes; each edit gets the updated node.
    Only the paths from the root to edited nodes are visited (``on_visit`` prunes the rest)."""

    def __init__(self, edits: Mapping[int, Edit], paths: set[int] | None = None) -> None:
        super().__init__()
        self.edits = edits
        self.paths = paths

    def on_visit(self, node: cst.CSTNode) -> bool:
        return self.paths is None or id(node) in self.paths

    def on_leave(self, original_node, updated_node):  # type: ignore[no-untyped-def, override]
        edit = self.edits.get(id(original_node))
        return edit(updated_node) if edit is not None else updated_node


class Analysis:
    """The parsed program and its metadata, shared by every relation applied to the same text
    (libcst trees are immutable; edits live in each :class:`Ctx`)."""

    def __init__(self, text: str) -> None:
        try:
            module = cst.parse_module(text)
        except (cst.ParserSyntaxError, RecursionError) as exc:
            raise NotApplicable(f"libcst cannot parse: {exc}") from exc
        self.wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        self.module = module
        self.lines = text.split("\n")  # libcst's line numbers count "\n" only

    @cached_property
    def positions(self) -> Mapping[cst.CSTNode, CodeRange]:
        return self.wrapper.resolve(PositionProvider)

    @cached_property
    def scopes(self) -> Mapping[cst.CSTNode, Scope | None]:
        return self.wrapper.resolve(ScopeProvider)

    @cached_property
    def nodes(self) -> list[cst.CSTNode]:
        return list(walk(self.module))

    @cached_property
    def parents(self) -> dict[int, cst.CSTNode]:
        out: dict[int, cst.CSTNode] = {}
        for node in self.nodes:
            for child in _children(node):
                out[id(child)] = node
        return out

    @cached_property
    def names_in_use(self) -> frozenset[str]:
        return frozenset(n.value for n in self.nodes if isinstance(n, cst.Name)) | RESERVED


@lru_cache(maxsize=8)
def analyse(text: str) -> Analysis:
    """Parse once per program text: the relations of one task share the analysis."""
    return Analysis(text)


class Ctx:
    """One program under rewrite: the shared analysis, the prompt boundary and the edits."""

    def __init__(self, src: Source, rng: random.Random) -> None:
        self.src = src
        self.rng = rng
        self.entry_point = src.entry_point
        self.text = src.prompt + SENTINEL + "\n" + src.rest
        self.boundary = src.prompt.count("\n") + 1  # 1-based line of the sentinel
        self.analysis = analyse(self.text)
        self.module = self.analysis.module
        self.lines = self.analysis.lines
        # Keyed by id() of original nodes, which the (cached) module keeps alive.
        self.edits: dict[int, Edit] = {}

    # --- metadata -------------------------------------------------------------------------
    @property
    def positions(self) -> Mapping[cst.CSTNode, CodeRange]:
        return self.analysis.positions

    @property
    def scopes(self) -> Mapping[cst.CSTNode, Scope | None]:
        return self.analysis.scopes

    @property
    def nodes(self) -> list[cst.CSTNode]:
        """Every node of the program, in source order."""
        return self.analysis.nodes

    def parent(self, node: cst.CSTNode) -> cst.CSTNode:
        return self.analysis.parents[id(node)]

    @property
    def names_in_use(self) -> frozenset[str]:
        """Every identifier in the program, plus builtins and keywords: fresh names avoid them."""
        return self.analysis.names_in_use

    def in_prompt(self, node: cst.CSTNode) -> bool:
        """The node ends before the prompt's end (it is part of what the model sees)."""
        return self.positions[node].end.line < self.boundary

    def line_indent(self, node: cst.CSTNode) -> str:
        """Leading whitespace of the line the node starts on."""
        line = self.lines[self.positions[node].start.line - 1]
        return line[: len(line) - len(line.lstrip())]

    # --- structure ------------------------------------------------------------------------
    def entry_function(self) -> cst.FunctionDef:
        found = None
        for stmt in self.module.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == self.entry_point:
                found = stmt
        if found is None or not isinstance(found.body, cst.IndentedBlock):
            raise NotApplicable("entry point is not a top-level function with a block body")
        return found

    def function_scope(self, fd: cst.FunctionDef) -> FunctionScope:
        for node in walk(fd.body):
            scope = self.scopes.get(node)
            if isinstance(scope, FunctionScope) and scope.node is fd:
                return scope
        raise NotApplicable("no scope for the function")

    def global_scope(self) -> Scope:
        scope = self.scopes.get(self.module)
        if scope is None:
            for node in self.module.body:
                scope = self.scopes.get(node)
                if scope is not None:
                    break
        if scope is None:
            raise NotApplicable("no global scope")
        return scope.globals

    def fresh(self, pool: list[str], taken: set[str] | None = None) -> str:
        """A name from ``pool`` (in seeded order) unused in the program, else ``pool[0]_N``."""
        taken = set(taken or ()) | set(self.names_in_use)
        order = list(pool)
        self.rng.shuffle(order)
        for name in order:
            if name not in taken:
                return name
        i = 1
        while f"{pool[0]}_{i}" in taken:
            i += 1
        return f"{pool[0]}_{i}"

    # --- editing --------------------------------------------------------------------------
    def edit(self, node: cst.CSTNode, fn: Edit) -> None:
        """Queue an edit of ``node``; edits of the same node compose in order."""
        key = id(node)
        prev = self.edits.get(key)
        if prev is None:
            self.edits[key] = fn
        else:

            def both(n: cst.CSTNode, a: Edit = prev, b: Edit = fn) -> cst.CSTNode:
                mid = a(n)
                if not isinstance(mid, cst.CSTNode):
                    raise NotApplicable("edit removed a node that another edit changes")
                return b(mid)  # type: ignore[return-value]

            self.edits[key] = both

    def applier(self) -> cst.CSTTransformer:
        """A transformer applying the queued edits, visiting only the edited paths."""
        paths: set[int] = set()
        parents = self.analysis.parents
        for key in self.edits:
            while key not in paths:
                paths.add(key)
                parent = parents.get(key)
                if parent is None:
                    break
                key = id(parent)
        return _Apply(self.edits, paths)

    def replace(self, node: cst.CSTNode, new: cst.CSTNode) -> None:
        self.edit(node, lambda _n: new)

    def result(self, module: cst.Module | None = None, entry_point: str | None = None) -> Source:
        """Render the edited program and split it at the sentinel again."""
        if module is None:
            if not self.edits:
                raise NotApplicable("nothing to change")
            module = self.module.visit(self.applier())
        lines = module.code.split("\n")
        marks = [i for i, line in enumerate(lines) if line.strip() == SENTINEL]
        if len(marks) != 1:
            raise NotApplicable("prompt boundary lost")
        i = marks[0]
        return Source(
            prompt="".join(line + "\n" for line in lines[:i]),
            rest="\n".join(lines[i + 1 :]),
            entry_point=entry_point or self.entry_point,
            trailing_newline=self.src.trailing_newline,
        )


_FIELDS: dict[type, tuple[str, ...]] = {}


def _children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """Direct children from the dataclass fields (libcst's ``children`` re-visits the node,
    which is far slower); fields are declared in source order."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(f.name for f in dataclasses.fields(node))
    out: list[cst.CSTNode] = []
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out.extend(v for v in value if isinstance(v, cst.CSTNode))
    return out


def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """All nodes below (and including) ``node``."""
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        stack.extend(reversed(_children(cur)))


class _DefaultIndent(cst.CSTTransformer):
    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        return updated_node.with_changes(indent=None)


def parse_statements(code: str) -> list[cst.BaseStatement]:
    """Statements whose blocks follow the host module's indentation (``indent=None``)."""
    parsed = cst.parse_module(code).visit(_DefaultIndent())
    return list(parsed.body)


# --- docstrings ---------------------------------------------------------------------------

def docstring_stmt(owner: cst.Module | cst.FunctionDef | cst.ClassDef) -> cst.SimpleStatementLine | None:
    """The docstring statement of a module, function or class body (a lone string literal)."""
    body = owner.body if isinstance(owner, cst.Module) else getattr(owner.body, "body", ())
    if not body:
        return None
    first = body[0]
    if (
        isinstance(first, cst.SimpleStatementLine)
        and len(first.body) == 1
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, cst.SimpleString)
    ):
        return first
    return None


def docstring_node(stmt: cst.SimpleStatementLine) -> cst.SimpleString:
    expr = stmt.body[0]
    assert isinstance(expr, cst.Expr) and isinstance(expr.value, cst.SimpleString)
    return expr.value


_STRING = re.compile(r"^([A-Za-z]*)('''|\"\"\"|'|\")(.*)\2$", re.DOTALL)


def split_string(value: str) -> tuple[str, str, str]:
    """``r'''x'''`` -> (``r``, ``'''``, ``x``)."""
    m = _STRING.match(value)
    if m is None:
        raise NotApplicable(f"unexpected string literal {value[:20]!r}")
    return m.group(1), m.group(2), m.group(3)


def prompt_docstrings(ctx: Ctx) -> list[cst.SimpleStatementLine]:
    """Docstrings in the prompt: the entry point's first, else the module's (MBPP+ prompts)."""
    found: list[cst.SimpleStatementLine] = []
    for stmt in ctx.module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == ctx.entry_point:
            doc = docstring_stmt(stmt)
            if doc is not None and ctx.in_prompt(doc):
                found = [doc]
    if not found:
        doc = docstring_stmt(ctx.module)
        if doc is not None and ctx.in_prompt(doc):
            found = [doc]
    return found


def all_prompt_docstrings(ctx: Ctx) -> list[cst.SimpleStatementLine]:
    """Every docstring in the prompt (module, functions, classes)."""
    out = []
    for node in ctx.nodes:
        if isinstance(node, (cst.Module, cst.FunctionDef, cst.ClassDef)):
            doc = docstring_stmt(node)
            if doc is not None and ctx.in_prompt(doc):
                out.append(doc)
    return out


_DOCTEST_IN = re.compile(r"^\s*(>>>|\.\.\.)")
_ASSERT = re.compile(r"^\s*assert\b")


def code_lines(text: str) -> list[bool]:
    """Per line of a docstring: True for code, i.e. doctest input lines and the output lines
    after them, and ``assert`` examples (evalplus's MBPP+ prompts)."""
    flags: list[bool] = []
    in_example = False
    for line in text.split("\n"):
        if _ASSERT.match(line):
            flags.append(True)
            in_example = False
        elif _DOCTEST_IN.match(line):
            in_example = True
            flags.append(True)
        elif not line.strip():
            in_example = False
            flags.append(False)
        else:
            flags.append(in_example)
    return flags


def replace_word(text: str, old: str, new: str, *, prose: bool = True, code: bool = True) -> str:
    """Replace whole-word mentions of an identifier in docstring text (docstrings are prose and
    doctests, not code the tokenizer could read), in prose lines, doctest lines or both."""
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(old)}(?![A-Za-z0-9_])")
    lines = text.split("\n")
    for i, is_code in enumerate(code_lines(text)):
        if (is_code and code) or (not is_code and prose):
            lines[i] = pattern.sub(new, lines[i])
    return "\n".join(lines)


def edit_docstring(ctx: Ctx, stmt: cst.SimpleStatementLine, fn: Callable[[str], str]) -> bool:
    """Rewrite the inner text of a docstring; False when it did not change."""
    node = docstring_node(stmt)
    prefix, quote, inner = split_string(node.value)
    new_inner = fn(inner)
    if new_inner == inner:
        return False
    if quote in new_inner or new_inner.endswith(quote[0]) or new_inner.endswith("\\"):
        raise NotApplicable("docstring edit would break the literal")
    ctx.replace(node, node.with_changes(value=prefix + quote + new_inner + quote))
    return True


# --- scope-aware renaming -----------------------------------------------------------------

def _resolving_scope(scope: Scope, name: str) -> Scope | None:
    cur: Scope | None = scope
    first = True
    while cur is not None:
        if (first or not isinstance(cur, cst.metadata.ClassScope)) and name in cur.assignments:
            return cur
        first = False
        if cur.parent is cur:
            break
        cur = cur.parent
    return None


def resolves_to(ctx: Ctx, node: cst.Name, scope: Scope) -> bool:
    """Python's rule, which libcst's references only approximate: a name assigned anywhere in
    a function is local to all of it (libcst may also link ``max_sum`` in ``max_sum =
    max(max_sum, x)`` inside ``def max_sum`` to the global function)."""
    where = ctx.scopes.get(node)
    return where is not None and _resolving_scope(where, node.value) is scope


def rename_binding(ctx: Ctx, scope: Scope, old: str, new: str, within: cst.CSTNode) -> set[int]:
    """Queue the renaming of every binding and use of ``old`` in ``scope`` (closures included).

    Raises NotApplicable when a use cannot be resolved safely: ``global``/``nonlocal``/``del``
    of the name, dynamic name access (``locals()``, ``eval``...), imports or nested definitions
    bound to it, or any mention left over inside ``within`` that resolves to this binding.
    """
    targets: dict[int, cst.Name] = {}
    for assignment in scope.assignments[old]:
        node = getattr(assignment, "node", None)
        if isinstance(node, cst.Name):
            targets[id(node)] = node
        elif isinstance(node, cst.Param):
            targets[id(node.name)] = node.name
        else:
            raise NotApplicable(f"{old} is bound by {type(node).__name__}")
        for ref in assignment.references:
            if not isinstance(ref.node, cst.Name):
                raise NotApplicable(f"{old} is used as {type(ref.node).__name__}")
            if resolves_to(ctx, ref.node, scope):
                targets[id(ref.node)] = ref.node
    if not targets:
        raise NotApplicable(f"{old} not bound here")
    for node in ctx.nodes:
        if isinstance(node, (cst.Global, cst.Nonlocal)) and any(
            item.name.value == old for item in node.names
        ):
            raise NotApplicable(f"{old} is declared global/nonlocal")
        if isinstance(node, cst.Del) and any(
            isinstance(n, cst.Name) and n.value == old for n in walk(node.target)
        ):
            raise NotApplicable(f"{old} is deleted")
        if isinstance(node, cst.Name) and node.value in DYNAMIC_NAMES:
            raise NotApplicable("dynamic name access")
    skip = _non_reference_names(within)
    for node in walk(within):
        if isinstance(node, cst.Name) and node.value == old and id(node) not in targets:
            if id(node) in skip:
                continue
            scope_of = ctx.scopes.get(node)
            if scope_of is None or _resolving_scope(scope_of, old) is scope:
                raise NotApplicable(f"unresolved use of {old}")
    for node in targets.values():
        ctx.replace(node, node.with_changes(value=new))
    return set(targets)


def _non_reference_names(root: cst.CSTNode) -> set[int]:
    """Name nodes that are not variable references: attribute names, keyword names, import
    names."""
    skip: set[int] = set()
    for node in walk(root):
        if isinstance(node, cst.Attribute):
            skip.add(id(node.attr))
        elif isinstance(node, cst.Arg) and node.keyword is not None:
            skip.add(id(node.keyword))
        elif isinstance(node, (cst.Import, cst.ImportFrom)):
            skip.update(id(n) for n in walk(node) if isinstance(n, cst.Name))
    return skip


def rename_keywords(ctx: Ctx, function: str, renames: Mapping[str, str]) -> None:
    """Rename keyword arguments in calls of ``function`` (e.g. recursive ``f(n=n - 1)``)."""
    for node in ctx.nodes:
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name)
            and node.func.value == function
        ):
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value in renames:
                    kw = arg.keyword
                    ctx.replace(kw, kw.with_changes(value=renames[kw.value]))
