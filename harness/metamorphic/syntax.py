"""Syntax relations (ReCode's "syntax" perturbations, from NatGen): semantics-preserving code
rewrites of the prompt's code, each guarded by the conditions under which it is exact."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import ComprehensionScope, Scope

from harness.metamorphic._cst import Ctx, parse_statements
from harness.metamorphic.base import NotApplicable, Source, register
from harness.metamorphic.formatting import CstRelation

DEAD_NAMES = ["unused", "dummy", "scratch", "spare", "placeholder", "ignored", "debug_value"]

# Never: yield/await (turn the function into a generator/coroutine), global/nonlocal, or an
# assignment to a name the program uses (it would become local): every name here is fresh.
DEAD_TEMPLATES = [
    "{v} = 0\n",
    "{v} = None\n",
    "if False:\n    {v} = 1\n",
    "while False:\n    pass\n",
    "for {v} in ():\n    pass\n",
    "if False:\n    pass\n",
]

_NESTED = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def _blocks(root: cst.CSTNode) -> list[cst.IndentedBlock]:
    """Indented blocks of ``root``'s body, not descending into nested functions or classes."""
    out: list[cst.IndentedBlock] = []
    stack: list[cst.CSTNode] = [root.body] if isinstance(root, cst.FunctionDef) else [root]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.IndentedBlock):
            out.append(node)
        for child in node.children:
            if not isinstance(child, _NESTED):
                stack.append(child)
    return out


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


@register
class DeadCode(CstRelation):
    """One dead statement (an unused assignment of a fresh name, an ``if False:`` block, an
    empty loop) inserted at a seeded position of the entry point's body inside the prompt:
    right after the docstring in a HumanEval prompt, anywhere in the partial code otherwise.
    Never inside nested functions or classes (a class attribute would be observable)."""

    name = "dead_code"
    partial_if_no_code = True

    def rewrite(self, ctx: Ctx) -> Source | None:
        fd = ctx.entry_function()
        spots: list[tuple[cst.IndentedBlock, int]] = []
        for block in _blocks(fd):
            body = list(block.body)
            top = block is fd.body
            if not top and not ctx.in_prompt(block):
                continue
            first = 1 if body and _is_docstring(body[0]) else 0
            for i in range(first, len(body) + 1):
                if top and i > first and not ctx.in_prompt(body[i - 1]):
                    continue  # past the prompt's end
                spots.append((block, i))
        if not spots:
            raise NotApplicable("no place in the prompt")
        block, index = ctx.rng.choice(spots)
        template = ctx.rng.choice(DEAD_TEMPLATES)
        code = template.format(v=ctx.fresh(DEAD_NAMES))
        new = parse_statements(code)
        ctx.edit(
            block,
            lambda b: b.with_changes(body=[*b.body[:index], *new, *b.body[index:]]),  # type: ignore[attr-defined]
        )
        return ctx.result()


def _bound_anywhere(ctx: Ctx, name: str) -> bool:
    """The program binds ``name`` in some scope (so a builtin of that name may be shadowed)."""
    seen: set[int] = set()
    for scope in ctx.scopes.values():
        if scope is None or id(scope) in seen:
            continue
        seen.add(id(scope))
        if not isinstance(scope, cst.metadata.BuiltinScope) and name in scope.assignments:
            return True
    return False


def _int_literal(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        return int(node.value, 0)
    if (
        isinstance(node, cst.UnaryOperation)
        and isinstance(node.operator, cst.Minus)
        and isinstance(node.expression, cst.Integer)
    ):
        return -int(node.expression.value, 0)
    return None


def _continues(loop: cst.For) -> bool:
    """A ``continue`` of this loop (not of a nested loop) appears in its body."""
    stack: list[cst.CSTNode] = [loop.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Continue):
            return True
        for child in node.children:
            if not isinstance(child, (cst.For, cst.While, *_NESTED)):
                stack.append(child)
    return False


def _within(ctx: Ctx, node: cst.CSTNode, outer: cst.CSTNode) -> bool:
    a, b = ctx.positions[node], ctx.positions[outer]
    return (a.start.line, a.start.column) >= (b.start.line, b.start.column) and (
        a.end.line,
        a.end.column,
    ) <= (b.end.line, b.end.column)


@register
class ForToWhile(CstRelation):
    """``for i in range(a, b, s): body`` becomes ``i = a`` / ``while i < b: body; i += s``.

    Exact only when: the loop has no ``else`` and no ``continue`` of its own (it would skip the
    increment), the loop variable is a plain name used nowhere outside the loop body, not
    assigned in the body, not captured by a nested function; ``range`` is the builtin; the
    step is an integer literal; the bound is an integer literal or a local name the body does
    not rebind, otherwise it is evaluated once into a fresh name first (when the start has no
    side effects). Needs partial code, and applies to fewer tasks than half: many HumanEval
    bodies iterate over sequences rather than ``range``, or loop only in their second half.
    """

    name = "for_to_while"
    needs_partial_code = True

    def rewrite(self, ctx: Ctx) -> Source | None:
        fd = ctx.entry_function()
        if _bound_anywhere(ctx, "range"):
            raise NotApplicable("range is shadowed")
        scope = ctx.function_scope(fd)
        loops = [
            node
            for block in _blocks(fd)
            for node in block.body
            if isinstance(node, cst.For) and ctx.in_prompt(node)
        ]
        done = 0
        for loop in loops:
            plan = self._plan(ctx, scope, loop)
            if plan is not None:
                ctx.edit(loop, plan)
                done += 1
        if not done:
            raise NotApplicable("no convertible range loop in the prompt")
        return ctx.result()

    def _plan(self, ctx: Ctx, scope: Scope, loop: cst.For):  # type: ignore[no-untyped-def]
        if loop.orelse is not None or loop.asynchronous is not None:
            return None
        if not isinstance(loop.target, cst.Name) or not isinstance(loop.body, cst.IndentedBlock):
            return None
        it = loop.iter
        if not (isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "range"):
            return None
        args = list(it.args)
        if not 1 <= len(args) <= 3 or any(a.keyword is not None or a.star for a in args):
            return None
        if _continues(loop):
            return None
        var = loop.target.value
        start: cst.BaseExpression = cst.Integer("0") if len(args) == 1 else args[0].value
        stop = args[0].value if len(args) == 1 else args[1].value
        step = 1 if len(args) < 3 else _int_literal(args[2].value)
        if not step:
            return None
        # The loop variable lives only inside the loop body: bound nowhere else inside the
        # loop, read only inside the body, never from a nested function (late binding).
        assignments = list(scope.assignments[var])
        for a in assignments:
            node = getattr(a, "node", None)
            if node is loop.target:
                continue
            if not isinstance(node, cst.Name) or _within(ctx, node, loop):
                return None
        for a in assignments:
            for ref in a.references:
                ref_scope = ctx.scopes.get(ref.node)
                if not _within(ctx, ref.node, loop.body):
                    return None
                if ref_scope is not scope and not isinstance(ref_scope, ComprehensionScope):
                    return None
        hoist = not self._invariant(ctx, scope, loop, stop, var)
        if hoist and not _side_effect_free(start):
            return None
        stop_name = ctx.fresh(["stop", "end", "limit", "bound"]) if hoist else None
        lines: list[str] = []
        if stop_name:
            lines.append(f"{stop_name} = __STOP__\n")
        lines.append(f"{var} = __START__\n")
        cmp = "<" if step > 0 else ">"
        bound = stop_name or "__STOP__"
        lines.append(f"while {var} {cmp} {bound}:\n    pass\n")
        lines.append(f"{var} += {abs(step)}\n" if step > 0 else f"{var} -= {abs(step)}\n")
        stmts = parse_statements("".join(lines))
        incr = stmts[-1]
        head = stmts[:-1]
        start_expr, stop_expr = start, stop

        def fill(node: cst.CSTNode) -> cst.CSTNode:
            class Fill(cst.CSTTransformer):
                def leave_Name(self, o: cst.Name, u: cst.Name) -> cst.BaseExpression:  # type: ignore[override]
                    if u.value == "__STOP__":
                        return stop_expr
                    if u.value == "__START__":
                        return start_expr
                    return u

            return node.visit(Fill())  # type: ignore[return-value]

        def build(updated: cst.CSTNode) -> cst.FlattenSentinel:
            assert isinstance(updated, cst.For) and isinstance(updated.body, cst.IndentedBlock)
            nodes = [fill(s) for s in head]
            loop_node = nodes[-1]
            assert isinstance(loop_node, cst.While)
            body = updated.body.with_changes(body=[*updated.body.body, incr])
            nodes[-1] = loop_node.with_changes(body=body)
            nodes[0] = nodes[0].with_changes(leading_lines=updated.leading_lines)  # type: ignore[attr-defined]
            return cst.FlattenSentinel(nodes)  # type: ignore[arg-type]

        return build

    def _invariant(
        self, ctx: Ctx, scope: Scope, loop: cst.For, stop: cst.BaseExpression, var: str
    ) -> bool:
        """The bound gives the same value at every test: a literal, or a local name that no
        statement inside the loop rebinds."""
        if _int_literal(stop) is not None:
            return True
        if not isinstance(stop, cst.Name) or stop.value == var:
            return False
        if stop.value not in scope.assignments:
            return False  # a global: a call in the body could rebind it
        for a in scope.assignments[stop.value]:
            node = getattr(a, "node", None)
            if node is None or (not isinstance(node, cst.Param) and _within(ctx, node, loop)):
                return False
        for node in ctx.nodes:
            if isinstance(node, (cst.Global, cst.Nonlocal)) and any(
                item.name.value == stop.value for item in node.names
            ):
                return False
        return True


def _side_effect_free(node: cst.BaseExpression) -> bool:
    """Literals and names (and arithmetic over them): evaluating them in another order is
    unobservable."""
    if isinstance(node, (cst.Integer, cst.Float, cst.Name, cst.SimpleString)):
        return True
    if isinstance(node, cst.UnaryOperation):
        return _side_effect_free(node.expression)
    if isinstance(node, cst.BinaryOperation):
        return _side_effect_free(node.left) and _side_effect_free(node.right)
    return False


SAFE_CALLS = frozenset(
    ["len", "abs", "ord", "chr", "int", "float", "str", "bool", "min", "max", "sum", "sorted", "list", "tuple", "set", "round"]
)

_MIRROR: dict[type, type] = {
    cst.LessThan: cst.GreaterThan,
    cst.GreaterThan: cst.LessThan,
    cst.LessThanEqual: cst.GreaterThanEqual,
    cst.GreaterThanEqual: cst.LessThanEqual,
    cst.Equal: cst.Equal,
    cst.NotEqual: cst.NotEqual,
}


class _Pure:
    """Operands whose evaluation order is unobservable: names, literals, attribute and
    subscript reads, arithmetic, and calls of unshadowed pure builtins on such operands."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self._shadowed: dict[str, bool] = {}

    def builtin(self, name: str) -> bool:
        if name not in self._shadowed:
            self._shadowed[name] = _bound_anywhere(self.ctx, name)
        return name in SAFE_CALLS and not self._shadowed[name]

    def __call__(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, (cst.Name, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString)):
            return True
        if isinstance(node, cst.Attribute):
            return self(node.value)
        if isinstance(node, cst.Subscript):
            if not self(node.value):
                return False
            for element in node.slice:
                sl = element.slice
                if isinstance(sl, cst.Index):
                    if sl.star is not None or not self(sl.value):
                        return False
                elif isinstance(sl, cst.Slice):
                    parts = [sl.lower, sl.upper, sl.step]
                    if any(p is not None and not self(p) for p in parts):
                        return False
            return True
        if isinstance(node, cst.UnaryOperation):
            return self(node.expression)
        if isinstance(node, cst.BinaryOperation):
            return self(node.left) and self(node.right)
        if isinstance(node, (cst.List, cst.Tuple)):
            return all(
                isinstance(e, cst.Element) and self(e.value) for e in node.elements
            )
        if isinstance(node, cst.Call):
            return (
                isinstance(node.func, cst.Name)
                and self.builtin(node.func.value)
                and all(a.keyword is None and not a.star and self(a.value) for a in node.args)
            )
        return False


@register
class ComparisonSwap(CstRelation):
    """``a < b`` becomes ``b > a`` (``<=``/``>=``, ``==``/``!=`` likewise) for a seeded,
    non-empty subset of the single (unchained) comparisons in the prompt whose operands are
    pure, so the swapped evaluation order is unobservable.

    Needs partial code; applies only where the first half of the body compares something.
    """

    name = "comparison_swap"
    needs_partial_code = True

    def rewrite(self, ctx: Ctx) -> Source | None:
        pure = _Pure(ctx)
        eligible = [
            node
            for node in ctx.nodes
            if isinstance(node, cst.Comparison)
            and len(node.comparisons) == 1
            and type(node.comparisons[0].operator) in _MIRROR
            and ctx.in_prompt(node)
            and pure(node.left)
            and pure(node.comparisons[0].comparator)
        ]
        if not eligible:
            raise NotApplicable("no swappable comparison in the prompt")
        chosen = [n for n in eligible if ctx.rng.random() < 0.5] or [ctx.rng.choice(eligible)]
        for node in chosen:
            ctx.edit(node, _swap)
        return ctx.result()


def _swap(updated: cst.CSTNode) -> cst.CSTNode:
    assert isinstance(updated, cst.Comparison)
    target = updated.comparisons[0]
    op = target.operator
    mirrored = _MIRROR[type(op)](
        whitespace_before=op.whitespace_before,  # type: ignore[attr-defined]
        whitespace_after=op.whitespace_after,  # type: ignore[attr-defined]
    )
    return updated.with_changes(
        left=target.comparator,
        comparisons=[target.with_changes(operator=mirrored, comparator=updated.left)],
    )
