"""Which programs can run their inputs in several processes and give what one process gives.

evalplus runs a sample's inputs one after the other in one process, so a call can see what the
calls before it left behind (a global counter, a memo table, a seeded ``random``). A program whose
entry point cannot keep anything between calls computes each input's output from that input
alone: its inputs may be cut into slices run side by side (one long sample no longer holds a run
back while the other runners idle), with the verdicts of one sequential process.

The check is syntactic and errs one way: whatever it cannot prove harmless makes the program
stateful. It accepts a module of imports of stateless standard modules, immutable constants and
plain functions, and an entry point whose functions (and those they call) touch only their own
locals, those constants, the safe builtins and those modules: no ``global``, no attribute stores,
no dunder access, no mutable or computed defaults, no decorators, nothing that does I/O or looks
at the process (``print``, ``open``, ``id``, ``hash``, ``random``, ``time``, ``sys``...).
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import types

#: Builtins whose results depend only on their arguments (no I/O, no addresses, no process state).
SAFE_BUILTINS = frozenset({
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "complex", "dict",
    "divmod", "enumerate", "filter", "float", "format", "frozenset", "hex", "int", "isinstance", "issubclass",
    "iter", "len", "list", "map", "max", "min", "next", "oct", "ord", "pow", "range", "repr", "reversed",
    "round", "set", "slice", "sorted", "str", "sum", "tuple", "type", "zip", "True", "False", "None",
    "ArithmeticError", "AssertionError", "Exception", "IndexError", "KeyError", "LookupError",
    "NotImplementedError", "OverflowError", "RecursionError", "RuntimeError", "StopIteration", "TypeError",
    "ValueError", "ZeroDivisionError",
})

#: Standard modules with no state a call could change that a later call would see.
SAFE_MODULES = frozenset({
    "bisect", "cmath", "collections", "fractions", "functools", "heapq", "itertools", "math", "operator",
    "re", "statistics", "string", "typing",
})


#: Builtins a sample must not name at all, even where it binds the name itself (``globals``,
#: ``print``, ``id``...): exception classes are harmless, the rest is not in :data:`SAFE_BUILTINS`.
UNSAFE_BUILTINS = frozenset(
    name for name, value in vars(builtins).items()
    if name not in SAFE_BUILTINS and not (isinstance(value, type) and issubclass(value, BaseException))
) | {"exit", "quit", "copyright", "credits", "license", "help"}


@functools.cache
def blocked_attributes() -> frozenset[str]:
    """Attribute names that lead from a safe module to one outside the list (``statistics.random``,
    ``typing.sys``, ``fractions.sys``), found by walking the modules of this Python; and
    ``register``, which changes what an ABC's ``isinstance`` answers."""
    blocked, seen = {"register"}, set()
    todo = [importlib.import_module(name) for name in SAFE_MODULES]
    while todo:
        mod = todo.pop()
        if mod.__name__ in seen:
            continue
        seen.add(mod.__name__)
        for attr, value in vars(mod).items():
            if isinstance(value, types.ModuleType) and not attr.startswith("_"):
                if value.__name__.split(".")[0] in SAFE_MODULES:
                    todo.append(value)
                else:
                    blocked.add(attr)
    return frozenset(blocked)


def _safe_import(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] in SAFE_MODULES \
            and all(a.name != "*" for a in node.names)
    return all(a.name.split(".")[0] in SAFE_MODULES for a in node.names)


def _immutable(node: ast.expr | None) -> bool:
    """A literal whose value nothing can change: numbers, strings, None, tuples of those."""
    if node is None or isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Tuple):
        return all(_immutable(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp):
        return _immutable(node.operand)
    if isinstance(node, ast.BinOp):
        return _immutable(node.left) and _immutable(node.right)
    return False


def _main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":``, which never runs in the sandbox (the program's
    ``__name__`` is not ``__main__`` there)."""
    t = node.test if isinstance(node, ast.If) else None
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq) and len(t.comparators) == 1
            and isinstance(t.comparators[0], ast.Constant) and t.comparators[0].value == "__main__")


class _Module:
    """The module's top level: its functions, constants and imported names."""

    def __init__(self, tree: ast.Module) -> None:
        self.functions: dict[str, list[ast.FunctionDef]] = {}
        self.others: set[str] = set()  # constants and imported names: nothing a call can change
        self.ok = True
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                plain = not node.decorator_list and all(_immutable(d) for d in node.args.defaults) \
                    and all(_immutable(d) for d in node.args.kw_defaults)
                self.ok &= plain
                self.functions.setdefault(node.name, []).append(node)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self.ok &= _safe_import(node)
                self.others.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                self.ok &= _immutable(node.value) and all(isinstance(t, ast.Name) for t in targets)
                self.others.update(t.id for t in targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                pass  # a docstring
            elif isinstance(node, ast.Pass) or _main_guard(node):
                pass
            else:
                self.ok = False
        self.ok &= not (set(self.functions) & self.others)


def _function_ok(fn: ast.FunctionDef, module: _Module, calls: set[str]) -> bool:
    """Whether ``fn`` keeps nothing between calls; adds the module functions it names to ``calls``."""
    for node in ast.walk(fn):
        if isinstance(node, (ast.Global, ast.AsyncFunctionDef, ast.Await)):
            return False
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not _safe_import(node):
            return False
        if isinstance(node, ast.Attribute) and (node.attr.startswith("_") or not isinstance(node.ctx, ast.Load)
                                                or node.attr in blocked_attributes()):
            return False
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            name = node.id
            if name.startswith("__") or name in UNSAFE_BUILTINS:  # print, open, globals, id, hash...
                return False
            if name in module.functions:
                calls.add(name)  # named anywhere, shadowed or not: checked too
    return True


def stateless(program: str, entry_point: str) -> bool:
    """True when every call of ``entry_point`` depends on its arguments alone (see the module)."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    module = _Module(tree)
    if not module.ok or entry_point not in module.functions:
        return False
    todo, seen = [entry_point], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        calls: set[str] = set()
        for fn in module.functions[name]:
            if not _function_ok(fn, module, calls):
                return False
        todo.extend(calls - seen)
    return True
