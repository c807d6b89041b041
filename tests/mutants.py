"""Mutated canonical solutions: known-wrong (and some accidentally right) programs.

Used to check verdicts against evalplus, to compare sandbox backends and to benchmark: every
mutant is a realistic failure of a code model (a swapped operator, an off-by-one constant, a
truncated body, an empty body, a misnamed entry point, an infinite loop).
"""

from __future__ import annotations

import ast
import copy
import random
from collections.abc import Callable

_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Div, ast.Div: ast.FloorDiv,
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.And: ast.Or, ast.Or: ast.And,
}


def _entry_def(tree: ast.Module, entry_point: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return node
    return None


def _nodes(fn: ast.AST, kinds: tuple[type, ...]) -> list[ast.AST]:
    return [n for n in ast.walk(fn) if isinstance(n, kinds)]


def swap_operator(program: str, entry_point: str, rng: random.Random) -> str | None:
    tree = ast.parse(program)
    fn = _entry_def(tree, entry_point)
    if fn is None:
        return None
    sites: list[tuple[ast.AST, str, int | None]] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.BinOp) and type(node.op) in _SWAPS or isinstance(node, ast.BoolOp) and type(node.op) in _SWAPS:
            sites.append((node, "op", None))
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _SWAPS:
                    sites.append((node, "ops", i))
    if not sites:
        return None
    node, attr, idx = rng.choice(sites)
    if attr == "op":
        node.op = _SWAPS[type(node.op)]()  # type: ignore[attr-defined]
    else:
        assert isinstance(node, ast.Compare) and idx is not None
        node.ops[idx] = _SWAPS[type(node.ops[idx])]()
    return ast.unparse(tree)


def off_by_one(program: str, entry_point: str, rng: random.Random) -> str | None:
    tree = ast.parse(program)
    fn = _entry_def(tree, entry_point)
    if fn is None:
        return None
    consts = [n for n in ast.walk(fn) if isinstance(n, ast.Constant) and type(n.value) is int]
    if not consts:
        return None
    node = rng.choice(consts)
    assert isinstance(node, ast.Constant) and type(node.value) is int
    node.value = node.value + rng.choice((1, -1))
    return ast.unparse(tree)


def truncate(program: str, entry_point: str, rng: random.Random) -> str | None:
    """Cut the program in the middle of the entry point's body (often a SyntaxError)."""
    lines = program.splitlines()
    if len(lines) < 3:
        return None
    cut = rng.randint(max(1, len(lines) // 2), len(lines) - 1)
    return "\n".join(lines[:cut]) + "\n"


def empty_body(program: str, entry_point: str, rng: random.Random) -> str | None:
    tree = ast.parse(program)
    fn = _entry_def(tree, entry_point)
    if fn is None:
        return None
    doc = fn.body[:1] if fn.body and isinstance(fn.body[0], ast.Expr) and isinstance(getattr(fn.body[0], "value", None), ast.Constant) else []
    fn.body = [*doc, rng.choice([ast.Pass(), ast.Return(ast.Constant(None)), ast.Return(ast.Constant(0))])]
    return ast.unparse(tree)


def rename_entry(program: str, entry_point: str, rng: random.Random) -> str | None:
    tree = ast.parse(program)
    fn = _entry_def(tree, entry_point)
    if fn is None:
        return None
    fn.name = entry_point + "_v2"
    return ast.unparse(tree)


def infinite_loop(program: str, entry_point: str, rng: random.Random) -> str | None:
    tree = ast.parse(program)
    fn = _entry_def(tree, entry_point)
    if fn is None:
        return None
    loop = ast.parse("while True:\n    pass").body[0]
    fn.body.insert(0, loop)
    return ast.unparse(tree)


MUTATORS: dict[str, Callable[[str, str, random.Random], str | None]] = {
    "swap_operator": swap_operator,
    "off_by_one": off_by_one,
    "truncate": truncate,
    "empty_body": empty_body,
    "rename_entry": rename_entry,
    "infinite_loop": infinite_loop,
}


def mutants(program: str, entry_point: str, seed: int = 0, kinds: list[str] | None = None) -> list[tuple[str, str]]:
    """One mutant per kind that applies: ``[(kind, mutated_program), ...]``, deterministic per seed."""
    out = []
    for kind in kinds or list(MUTATORS):
        rng = random.Random(f"{seed}:{kind}:{entry_point}")
        try:
            mutated = MUTATORS[kind](copy.copy(program), entry_point, rng)
        except (SyntaxError, ValueError, RecursionError):
            mutated = None
        if mutated is not None and mutated != program:
            out.append((kind, mutated))
    return out
