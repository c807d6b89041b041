"""Error taxonomy: one category per failed sample, after Wen et al. as used in the AKD paper.

The AKD paper labelled failures by hand (its Table 13); the harness labels every failure of
every run automatically, from three sources of evidence:

* the sandbox's structured outcome (``error_type``, ``error_message``, ``error_in``,
  ``exception_chain`` in a results.jsonl row),
* the AST of the solution (is the entry point there, is its body empty, which names are used
  but never imported, does the code break only at its end), and
* where known, the generation metadata (``finish_reason`` ``"length"``, ``n_tokens``).

The rules live in one ordered registry (:data:`RULES`). Each rule is a small function with a
docstring naming the taxonomy entry it implements, registered with :func:`rule` for one or
more exception class names. :func:`classify` walks the exception's MRO from the most specific
class outwards and, for each class, tries that class's rules in registry order; the first rule
that holds gives the label. So ``IndentationError`` is tried before ``SyntaxError``,
``UnboundLocalError`` before ``NameError`` and ``RecursionError`` before ``RuntimeError``
without any rule having to know about the others. An exception no rule claims gets
``<ExceptionName>:other``. Labels are fixed by DESIGN.md (see :data:`LABELS`).
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import sys
import tokenize
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from harness.core.registry import TAXONOMY_RULES

__all__ = [
    "LABELS",
    "RULES",
    "Evidence",
    "Rule",
    "category_diff",
    "classify",
    "classify_rows",
    "exception_chain",
    "explain",
    "is_complete",
    "is_valid_label",
    "render_table13",
    "rule",
    "table13",
]

#: The fixed labels of DESIGN.md; any other exception gets ``<ExceptionName>:other``.
LABELS: tuple[str, ...] = (
    "AssertionError:empty_function",
    "AssertionError:wrong_answer",
    "NameError:wrong_function_name",
    "NameError:missing_content",
    "NameError:missing_import",
    "NameError:undefined_name",
    "SyntaxError:unbalanced_delimiters",
    "SyntaxError:function_overflow",
    "SyntaxError:invalid_syntax",
    "ValueError:empty_sequence",
    "ValueError:deliberate_raise",
    "ValueError:inappropriate_argument",
    "IndexError:out_of_range",
    "TypeError:incompatible_operation",
    "AttributeError:nonexistent_attribute",
    "TimeoutError:timeout",
    "IndentationError:inconsistent_indentation",
    "ModuleNotFoundError:missing_module",
    "KeyError:missing_key",
    "UnboundLocalError:unassigned_variable",
    "RecursionError:infinite_recursion",
    "NotImplementedError:deliberate_raise",
)

_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:[a-z_]+$")


def is_valid_label(label: str) -> bool:
    """A fixed DESIGN.md label or ``<ExceptionName>:other``: what downstream tools may rely on."""
    return label in LABELS or (label.endswith(":other") and bool(_LABEL_RE.match(label)))


# --------------------------------------------------------------------- exception hierarchy

#: Exceptions outside ``builtins`` that candidates or the sandbox commonly raise, with their
#: base class, so the MRO walk also works when a row carries no ``exception_chain``.
_EXTRA_BASES: dict[str, str] = {
    "StatisticsError": "ValueError",
    "JSONDecodeError": "ValueError",
    "UnsupportedOperation": "OSError",
    "InvalidOperation": "ArithmeticError",
    "DivisionByZero": "ZeroDivisionError",
    "Empty": "Exception",  # queue.Empty
    "error": "Exception",  # re.error
    "SandboxError": "Exception",
}


def exception_chain(row: Mapping[str, Any]) -> tuple[str, ...]:
    """Class names from the raised class up to ``object``: the row's own chain when present.

    Falls back to the standard hierarchy (``builtins`` plus a small table) so that old rows,
    and sandboxes that do not report an MRO, are classified the same way.
    """
    chain = row.get("exception_chain")
    name = _error_name(row)
    if isinstance(chain, (list, tuple)) and chain and all(isinstance(c, str) for c in chain):
        names = tuple(c.rsplit(".", 1)[-1] for c in chain)
        return names if names[0] == name else (name, *names)
    return _standard_chain(name)


def _standard_chain(name: str) -> tuple[str, ...]:
    seen: list[str] = []
    while name not in seen:
        cls = getattr(builtins, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            return (*seen, *(c.__name__ for c in cls.__mro__))
        seen.append(name)
        if name not in _EXTRA_BASES:
            break
        name = _EXTRA_BASES[name]
    return (*seen, "Exception", "BaseException", "object")


def _error_name(row: Mapping[str, Any]) -> str:
    """The failure's exception class name; a failure without one is a wrong answer."""
    name = row.get("error_type")
    if not isinstance(name, str) or not name.strip():
        return "AssertionError"
    name = name.strip().rsplit(".", 1)[-1]
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else "UnknownError"


# ----------------------------------------------------------------------------- evidence

#: Common aliases and third-party modules a model uses without importing them.
COMMON_ALIASES: dict[str, str] = {
    "np": "numpy",
    "pd": "pandas",
    "plt": "matplotlib.pyplot",
    "sns": "seaborn",
    "sp": "scipy",
    "tf": "tensorflow",
    "nx": "networkx",
    "mp": "multiprocessing",
    "dt": "datetime",
    "numpy": "numpy",
    "pandas": "pandas",
    "scipy": "scipy",
    "sympy": "sympy",
    "torch": "torch",
    "sklearn": "sklearn",
}

#: Names usually imported *from* a stdlib module (``from typing import List``), used bare.
STDLIB_MEMBERS: dict[str, str] = {
    **dict.fromkeys(
        [
            "List",
            "Dict",
            "Tuple",
            "Set",
            "FrozenSet",
            "Optional",
            "Union",
            "Any",
            "Callable",
            "Iterable",
            "Iterator",
            "Generator",
            "Sequence",
            "Mapping",
            "DefaultDict",
            "Deque",
            "Type",
            "TypeVar",
            "NamedTuple",
        ],
        "typing",
    ),
    **dict.fromkeys(
        ["defaultdict", "Counter", "deque", "OrderedDict", "namedtuple", "ChainMap"], "collections"
    ),
    **dict.fromkeys(
        [
            "permutations",
            "combinations",
            "combinations_with_replacement",
            "product",
            "accumulate",
            "groupby",
            "zip_longest",
            "islice",
            "starmap",
            "takewhile",
            "dropwhile",
            "pairwise",
        ],
        "itertools",
    ),
    **dict.fromkeys(["reduce", "lru_cache", "cache", "cmp_to_key", "partial"], "functools"),
    **dict.fromkeys(
        [
            "sqrt",
            "gcd",
            "lcm",
            "floor",
            "ceil",
            "factorial",
            "comb",
            "perm",
            "log",
            "log2",
            "log10",
            "exp",
            "pi",
            "inf",
            "isqrt",
            "prod",
            "fsum",
            "hypot",
            "radians",
            "degrees",
            "isclose",
            "trunc",
        ],
        "math",
    ),
    **dict.fromkeys(
        ["heappush", "heappop", "heapify", "heapreplace", "heappushpop", "nlargest", "nsmallest"],
        "heapq",
    ),
    **dict.fromkeys(
        ["bisect", "bisect_left", "bisect_right", "insort", "insort_left", "insort_right"], "bisect"
    ),
    **dict.fromkeys(
        [
            "ascii_lowercase",
            "ascii_uppercase",
            "ascii_letters",
            "digits",
            "punctuation",
            "whitespace",
        ],
        "string",
    ),
    **dict.fromkeys(["itemgetter", "attrgetter"], "operator"),
    "Fraction": "fractions",
    "Decimal": "decimal",
    "deepcopy": "copy",
    "timedelta": "datetime",
}

_STDLIB_MODULES: frozenset[str] = frozenset(
    m for m in getattr(sys, "stdlib_module_names", ()) if not m.startswith("_")
)

_NAME_MSG = re.compile(r"name '([^']+)' is not defined")
_ENTRY_MSG = re.compile(r"entry point '([^']+)' is not (?:defined|callable)")


@dataclass
class Evidence:
    """Everything a rule may look at for one failed sample; AST facts are computed lazily."""

    row: Mapping[str, Any]
    solution: str
    entry_point: str | None = None

    @cached_property
    def error_type(self) -> str:
        return _error_name(self.row)

    @cached_property
    def chain(self) -> tuple[str, ...]:
        return exception_chain(self.row)

    @cached_property
    def message(self) -> str:
        """The exception message; for compile errors, our own compile's when the row has none."""
        msg = self.row.get("error_message")
        if isinstance(msg, str) and msg:
            return msg
        if self.syntax_error is not None and "SyntaxError" in self.chain:
            return str(self.syntax_error.msg or "")
        return ""

    @property
    def error_in(self) -> str | None:
        value = self.row.get("error_in")
        return value if isinstance(value, str) else None

    @cached_property
    def entry(self) -> str | None:
        """The entry point: given, else on the row, else named by the sandbox's message."""
        if self.entry_point:
            return self.entry_point
        value = self.row.get("entry_point")
        if isinstance(value, str) and value:
            return value
        found = _ENTRY_MSG.search(self.message)
        return found.group(1) if found else None

    @cached_property
    def _parsed(self) -> tuple[ast.Module | None, SyntaxError | None]:
        return _parse(self.solution)

    @property
    def tree(self) -> ast.Module | None:
        return self._parsed[0]

    @property
    def syntax_error(self) -> SyntaxError | None:
        return self._parsed[1]

    @cached_property
    def module_names(self) -> set[str]:
        """Names bound at module scope (defs, classes, assignments, imports)."""
        return _module_bindings(self.tree) if self.tree is not None else set()

    @cached_property
    def defines_function(self) -> bool:
        """Any function, method, class or lambda assignment: the model wrote *some* code."""
        if self.tree is None:
            return bool(
                re.search(r"^\s*(?:async\s+)?def\s+\w+|^\s*class\s+\w+", self.solution, re.M)
            )
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                return True
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                return True
        return False

    @cached_property
    def entry_defined(self) -> bool:
        return self.entry is not None and self.entry in self.module_names

    @cached_property
    def entry_functions(self) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        """The entry point's top-level def; every top-level def when the entry point is unknown."""
        if self.tree is None:
            return []
        defs = [
            n
            for n in _module_statements(self.tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        if self.entry is None:
            return defs
        named = [d for d in defs if d.name == self.entry]
        return named[-1:]  # the last definition wins at run time

    @cached_property
    def missing_name(self) -> str | None:
        """The name of a ``name 'x' is not defined`` message."""
        found = _NAME_MSG.search(self.message)
        return found.group(1) if found else None

    def raise_messages(self, names: set[str]) -> list[str | None]:
        """Literal messages of ``raise <one of names>(...)`` statements; None when not literal."""
        if self.tree is None:
            return []
        out: list[str | None] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc
                func = exc.func if isinstance(exc, ast.Call) else exc
                if _dotted_tail(func) not in names:
                    continue
                out.append(_literal_message(exc) if isinstance(exc, ast.Call) else None)
        return out

    @cached_property
    def length_limited(self) -> bool | None:
        """True when generation stopped at the token limit, False when it stopped by itself.

        None when the sample carries no generation metadata.
        """
        reason = self.row.get("finish_reason")
        if reason == "length":
            return True
        if reason in ("stop", "eos", "stop_sequence", "eos_token"):
            return False
        n_tokens, limit = self.row.get("n_tokens"), self.row.get("max_new_tokens")
        if isinstance(n_tokens, int) and isinstance(limit, int) and limit > 0:
            return n_tokens >= limit
        return None


def _parse(code: str) -> tuple[ast.Module | None, SyntaxError | None]:
    try:
        return ast.parse(code), None
    except SyntaxError as exc:
        return None, exc
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        return None, SyntaxError(str(exc))


def _module_statements(tree: ast.Module) -> list[ast.stmt]:
    """Statements that run in module scope, including inside top-level if/try/with/for blocks."""
    out: list[ast.stmt] = []
    stack: list[ast.stmt] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        out.append(node)
        children: list[ast.stmt] = []
        if isinstance(node, (ast.If, ast.For, ast.AsyncFor, ast.While)):
            children = [*node.body, *node.orelse]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            children = list(node.body)
        elif isinstance(node, ast.Try) or (
            sys.version_info >= (3, 11) and isinstance(node, ast.TryStar)
        ):
            children = [
                *node.body,
                *(s for h in node.handlers for s in h.body),
                *node.orelse,
                *node.finalbody,
            ]
        stack.extend(reversed(children))
    return out


def _module_bindings(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in _module_statements(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _dotted_tail(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal_message(call: ast.Call) -> str | None:
    """The message of ``Exc("...")`` or the constant prefix of ``Exc(f"...{x}")``."""
    if not call.args:
        return ""
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    if isinstance(first, ast.JoinedStr):
        prefix = ""
        for part in first.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                prefix += part.value
            else:
                break
        return prefix or None
    return None


def _is_constant_expr(node: ast.expr | None) -> bool:
    """``None``, literals, and containers/negations of literals: a value that ignores the input."""
    if node is None:
        return True
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return _is_constant_expr(node.operand)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_is_constant_expr(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_constant_expr(k) for k in node.keys) and all(
            _is_constant_expr(v) for v in node.values
        )
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        # list(), dict(), set(), str(), tuple(), float('inf') ...
        return node.func.id in {
            "list",
            "dict",
            "set",
            "str",
            "tuple",
            "int",
            "float",
            "bool",
        } and all(_is_constant_expr(a) for a in node.args)
    return False


def _is_empty_body(body: Sequence[ast.stmt]) -> bool:
    """Only docstrings, ``pass``, ``...`` and ``return <constant>``: the function ignores its input."""
    for stmt in body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring or Ellipsis
        # A constant return ends the body (what follows is dead code); anything else is work.
        return isinstance(stmt, ast.Return) and _is_constant_expr(stmt.value)
    return True


def _delimiters_balanced(code: str) -> bool:
    """Brackets and string quotes pair up, by the tokenizer (works across Python versions)."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.OP and tok.string in "([{":
                stack.append(tok.string)
            elif tok.type == tokenize.OP and tok.string in pairs:
                if not stack or stack.pop() != pairs[tok.string]:
                    return False
            elif tok.type == tokenize.ERRORTOKEN and tok.string.strip() in ("'", '"'):
                return False
    except tokenize.TokenError:  # EOF in multi-line statement / string
        return False
    except (IndentationError, SyntaxError):
        return True  # an indentation problem, not a delimiter one
    return not stack


_EOF_MSG = re.compile(
    r"was never closed|unexpected EOF|expected an indented block|unterminated triple-quoted|"
    r"EOF while scanning|EOF in multi-line",
    re.I,
)


def _truncated_tail(code: str, error_line: int | None) -> tuple[int, ast.Module] | None:
    """Where the broken last top-level block starts, when everything before it parses.

    Returns ``(line index, tree of the prefix)``: the code is sound up to a final block that
    does not parse, which is what a length-limited generation leaves behind. Only blocks that
    start at or before the reported error line can hold the error, which bounds the search.
    """
    lines = code.splitlines(keepends=True)
    last = len(lines) if not error_line or error_line < 1 else error_line
    starts = [
        i
        for i, line in enumerate(lines[:last])
        if line[:1]
        and not line[:1].isspace()
        and not line.startswith("#")
        and not (i > 0 and lines[i - 1].startswith("@"))  # keep decorators with their def
    ]
    for start in reversed(starts[-50:]):
        tree, err = _parse("".join(lines[:start]))
        if err is None and tree is not None:
            return start, tree
    return None


# ------------------------------------------------------------------------------ registry


@dataclass(frozen=True)
class Rule:
    """One taxonomy entry's test: tried for exceptions whose MRO contains a class in ``on``."""

    label: str
    on: tuple[str, ...]
    test: Callable[[Evidence], bool]

    @property
    def name(self) -> str:
        return self.test.__name__

    @property
    def doc(self) -> str:
        return (self.test.__doc__ or "").strip()


#: The ordered rule registry (rule name -> Rule). Order matters only among rules for the same
#: exception class.
RULES = TAXONOMY_RULES


def rule(
    label: str, *on: str
) -> Callable[[Callable[[Evidence], bool]], Callable[[Evidence], bool]]:
    """Register a rule for ``label``; ``on`` defaults to the label's exception class."""
    if not is_valid_label(label):
        raise ValueError(f"not a taxonomy label: {label!r}")

    def register(fn: Callable[[Evidence], bool]) -> Callable[[Evidence], bool]:
        RULES.register(fn.__name__, Rule(label, on or (label.split(":", 1)[0],), fn), help=label)
        return fn

    return register


# --- compile errors --------------------------------------------------------------------


@rule("SyntaxError:function_overflow", "IndentationError", "SyntaxError")
def function_overflow(ev: Evidence) -> bool:
    """SyntaxError:function_overflow: the code breaks only in its last top-level block and the
    generation hit its token limit (or, without metadata, a sound prefix already holds a
    function and the extra block was cut at end of input)."""
    if ev.length_limited is False or ev.syntax_error is None:
        return False
    tail = _truncated_tail(ev.solution, ev.syntax_error.lineno)
    if tail is None:
        return False
    start, prefix = tail
    if not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in prefix.body):
        return False  # nothing complete came before the break: not an *extra* function
    if ev.length_limited:
        return True
    # No generation metadata: insist on the overflow shape, a new block cut at end of input.
    tail_text = "".join(ev.solution.splitlines(keepends=True)[start:]).lstrip()
    starts_block = re.match(r"(?:@|def\s|async\s+def\s|class\s)", tail_text) is not None
    eof_like = bool(_EOF_MSG.search(ev.message)) or not _delimiters_balanced(tail_text)
    return starts_block and eof_like


@rule("IndentationError:inconsistent_indentation")
def inconsistent_indentation(ev: Evidence) -> bool:
    """IndentationError:inconsistent_indentation: any IndentationError (TabError included)."""
    return True


@rule("SyntaxError:unbalanced_delimiters")
def unbalanced_delimiters(ev: Evidence) -> bool:
    """SyntaxError:unbalanced_delimiters: an unclosed, unmatched or mismatched bracket or quote
    (an apostrophe in prose, "Here's the code:", is invalid syntax instead)."""
    if re.search(r"unterminated string literal|EOL while scanning", ev.message):
        return not _apostrophe_in_prose(ev)
    if re.search(
        r"was never closed|unmatched '|does not match opening parenthesis|"
        r"unterminated triple-quoted string|EOF while scanning|unexpected EOF",
        ev.message,
    ):
        return True
    generic = not ev.message or ev.message.startswith("invalid syntax")
    return generic and not _delimiters_balanced(ev.solution)


def _apostrophe_in_prose(ev: Evidence) -> bool:
    """The unterminated "string" starts at an apostrophe inside a word of an English sentence."""
    err = ev.syntax_error
    lines = ev.solution.splitlines()
    if err is None or not err.lineno or err.lineno > len(lines):
        return False
    return re.search(r"[A-Za-z]'[A-Za-z]", lines[err.lineno - 1]) is not None


@rule("SyntaxError:invalid_syntax")
def invalid_syntax(ev: Evidence) -> bool:
    """SyntaxError:invalid_syntax: any other compile error."""
    return True


# --- wrong answers ---------------------------------------------------------------------


@rule("AssertionError:empty_function")
def empty_function(ev: Evidence) -> bool:
    """AssertionError:empty_function: the entry point's body is pass / ... / a docstring /
    return None / return a constant."""
    functions = ev.entry_functions
    return bool(functions) and all(_is_empty_body(f.body) for f in functions)


@rule("AssertionError:wrong_answer")
def wrong_answer(ev: Evidence) -> bool:
    """AssertionError:wrong_answer: the output differs from the expected one (an ``assert``
    failing inside the candidate's own code is ``AssertionError:other``)."""
    return ev.error_in != "candidate"


# --- names -----------------------------------------------------------------------------


@rule("UnboundLocalError:unassigned_variable")
def unassigned_variable(ev: Evidence) -> bool:
    """UnboundLocalError:unassigned_variable: a local read before assignment."""
    return True


def _entry_missing(ev: Evidence) -> bool:
    if _ENTRY_MSG.search(ev.message):
        return True
    return ev.entry is not None and ev.missing_name == ev.entry and not ev.entry_defined


@rule("NameError:wrong_function_name")
def wrong_function_name(ev: Evidence) -> bool:
    """NameError:wrong_function_name: the entry point is missing but other functions exist."""
    return _entry_missing(ev) and ev.defines_function


@rule("NameError:missing_content")
def missing_content(ev: Evidence) -> bool:
    """NameError:missing_content: no function at all (empty, comments or imports only)."""
    return _entry_missing(ev)


def _used_as_module(tree: ast.Module | None, name: str) -> bool:
    if tree is None:
        return True
    return any(
        isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == name
        for n in ast.walk(tree)
    )


@rule("NameError:missing_import")
def missing_import(ev: Evidence) -> bool:
    """NameError:missing_import: a stdlib module, common alias (np, pd, plt, ...) or stdlib
    member (List, defaultdict, sqrt, ...) used without an import."""
    name = ev.missing_name
    if name is None:
        return False
    if name in STDLIB_MEMBERS:
        return True
    if name in _STDLIB_MODULES or name in COMMON_ALIASES:
        return _used_as_module(ev.tree, name)
    return False


@rule("NameError:undefined_name")
def undefined_name(ev: Evidence) -> bool:
    """NameError:undefined_name: any other name that is never defined."""
    return True


@rule("ModuleNotFoundError:missing_module")
def missing_module(ev: Evidence) -> bool:
    """ModuleNotFoundError:missing_module: imports a module the sandbox does not have."""
    return True


# --- values ----------------------------------------------------------------------------

_EMPTY_SEQUENCE = re.compile(
    r"empty sequence|iterable argument is empty|empty iterable|empty range|empty data|"
    r"at least one data point|pop from (?:an )?empty|got 0\)|zero-size array",
    re.I,
)


def _raised_here(ev: Evidence) -> list[str | None]:
    names = (
        {ev.error_type, *ev.chain[: ev.chain.index("ValueError") + 1]}
        if "ValueError" in ev.chain
        else {ev.error_type}
    )
    return ev.raise_messages(names)


def _message_matches(message: str, literal: str | None) -> bool:
    if literal is None:
        return False
    if literal == "":
        return message == ""
    return message == literal or message.startswith(literal)


@rule("ValueError:deliberate_raise")
def deliberate_raise_matching(ev: Evidence) -> bool:
    """ValueError:deliberate_raise: the message is that of a ``raise ValueError(...)`` in the code."""
    if ev.error_in not in (None, "candidate"):
        return False
    return any(_message_matches(ev.message, m) for m in _raised_here(ev))


@rule("ValueError:empty_sequence")
def empty_sequence(ev: Evidence) -> bool:
    """ValueError:empty_sequence: max()/min() of nothing, an empty range, popping an empty
    container, unpacking nothing."""
    return bool(_EMPTY_SEQUENCE.search(ev.message))


_BUILTIN_VALUE_MESSAGE = re.compile(
    r"invalid literal for|could not convert|math domain error|not in list|substring not found|"
    r"must not be zero|too many values to unpack|not enough values to unpack|"
    r"Unknown format code|must be non-negative|must be in range|arg not in range|"
    r"base must be|out of range|could not be converted|too large to convert",
    re.I,
)


@rule("ValueError:deliberate_raise")
def deliberate_raise_present(ev: Evidence) -> bool:
    """ValueError:deliberate_raise: the code raises ValueError itself and the message is not a
    built-in one."""
    if ev.error_in not in (None, "candidate"):
        return False
    return bool(_raised_here(ev)) and not _BUILTIN_VALUE_MESSAGE.search(ev.message)


@rule("ValueError:inappropriate_argument")
def inappropriate_argument(ev: Evidence) -> bool:
    """ValueError:inappropriate_argument: a built-in got a value of the right type but wrong
    content (int('x'), math.sqrt(-1), list.index of an absent item, ...)."""
    return True


# --- other runtime errors --------------------------------------------------------------


@rule("IndexError:out_of_range")
def out_of_range(ev: Evidence) -> bool:
    """IndexError:out_of_range: any IndexError."""
    return True


@rule("TypeError:incompatible_operation")
def incompatible_operation(ev: Evidence) -> bool:
    """TypeError:incompatible_operation: any TypeError (operand types, call arity, not
    subscriptable, ...)."""
    return True


@rule("AttributeError:nonexistent_attribute")
def nonexistent_attribute(ev: Evidence) -> bool:
    """AttributeError:nonexistent_attribute: any AttributeError."""
    return True


@rule("KeyError:missing_key")
def missing_key(ev: Evidence) -> bool:
    """KeyError:missing_key: any KeyError."""
    return True


@rule("TimeoutError:timeout")
def timeout(ev: Evidence) -> bool:
    """TimeoutError:timeout: the sample ran past its time limit."""
    return True


@rule("RecursionError:infinite_recursion")
def infinite_recursion(ev: Evidence) -> bool:
    """RecursionError:infinite_recursion: maximum recursion depth exceeded."""
    return True


@rule("NotImplementedError:deliberate_raise")
def not_implemented(ev: Evidence) -> bool:
    """NotImplementedError:deliberate_raise: the model left ``raise NotImplementedError``."""
    return True


# ---------------------------------------------------------------------------- public API


def explain(
    row: Mapping[str, Any], solution: str, entry_point: str | None = None
) -> tuple[str, Rule | None] | None:
    """The label and the rule that gave it (None for ``:other``); None when the sample passed."""
    if row.get("passed"):
        return None
    ev = Evidence(row, solution if isinstance(solution, str) else "", entry_point)
    rules = RULES.values()
    for cls in ev.chain:
        for r in rules:
            if cls in r.on and r.test(ev):
                return r.label, r
    return f"{ev.error_type}:other", None


def classify(row: Mapping[str, Any], solution: str, entry_point: str | None = None) -> str | None:
    """The taxonomy label of a failed sample, None when it passed.

    ``entry_point`` sharpens the AST checks; without it the row's ``entry_point`` key or the
    sandbox's "entry point 'f' is not defined" message is used.
    """
    found = explain(row, solution, entry_point)
    return None if found is None else found[0]


def is_complete(solution: str, entry_point: str) -> bool:
    """True when the code parses and binds the entry point at module level (def or assignment)."""
    tree, err = _parse(solution if isinstance(solution, str) else "")
    return err is None and tree is not None and entry_point in _module_bindings(tree)


def classify_rows(
    rows: Iterable[dict[str, Any]],
    solutions: Iterable[str],
    entry_points: Iterable[str | None],
) -> list[dict[str, Any]]:
    """Fill ``category`` and ``complete`` into each row (in place), and return the rows."""
    rows = list(rows)
    solutions, entry_points = list(solutions), list(entry_points)
    if not len(rows) == len(solutions) == len(entry_points):
        raise ValueError(
            f"{len(rows)} rows, {len(solutions)} solutions and {len(entry_points)} entry points"
        )
    for row, solution, entry in zip(rows, solutions, entry_points, strict=True):
        row["category"] = classify(row, solution, entry)
        row["complete"] = is_complete(solution, entry) if entry else _parse(solution)[1] is None
    return rows


# ----------------------------------------------------------------------------- Table 13

UNCLASSIFIED = "unclassified"


def table13(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A model's failure profile like the AKD paper's Table 13.

    Counts per category (failures only; a failed row without a ``category`` counts as
    ``unclassified``), complete vs incomplete code, correct, total, and the share of
    complete code that passes.
    """
    categories: Counter[str] = Counter()
    total = correct = complete = incomplete = complete_correct = 0
    for row in rows:
        total += 1
        passed = bool(row.get("passed"))
        correct += passed
        if row.get("complete") is True:
            complete += 1
            complete_correct += passed
        elif row.get("complete") is False:
            incomplete += 1
        if not passed:
            category = row.get("category")
            categories[category if isinstance(category, str) and category else UNCLASSIFIED] += 1
    return {
        "total": total,
        "correct": correct,
        "failed": total - correct,
        "complete": complete,
        "incomplete": incomplete,
        "complete_correct": complete_correct,
        "complete_pass_rate": complete_correct / complete if complete else None,
        "categories": dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def _category_counts(data: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, int]:
    if isinstance(data, Mapping) and isinstance(data.get("categories"), Mapping):
        return dict(data["categories"])
    return table13(data)["categories"]  # type: ignore[arg-type]


def category_diff(
    student_rows: Iterable[Mapping[str, Any]] | Mapping[str, Any],
    teacher_rows: Iterable[Mapping[str, Any]] | Mapping[str, Any],
) -> dict[str, int]:
    """Student minus teacher failures per category, over the union of both models' categories.

    Either argument may be rows or a :func:`table13` result. Positive numbers are errors the
    distillation introduced; the release gate's ``max_category_increase`` checks them.
    """
    student, teacher = _category_counts(student_rows), _category_counts(teacher_rows)
    keys = sorted(set(student) | set(teacher))
    diff = {k: student.get(k, 0) - teacher.get(k, 0) for k in keys}
    return dict(sorted(diff.items(), key=lambda kv: (-kv[1], kv[0])))


def render_table13(
    tables: Mapping[str, Mapping[str, Any]] | Mapping[str, Any], *, markdown: bool = True
) -> str:
    """Render one or more :func:`table13` results side by side (markdown or aligned text).

    ``tables`` is ``{model name: table13(...)}`` or a single table. With exactly two models
    a third column shows the first minus the second (student minus teacher).
    """
    if isinstance(tables.get("categories"), Mapping):
        tables = {"model": tables}
    names = list(tables)
    cats: list[str] = []
    for t in tables.values():
        cats.extend(c for c in t["categories"] if c not in cats)
    cats.sort(key=lambda c: (-sum(t["categories"].get(c, 0) for t in tables.values()), c))
    with_diff = len(names) == 2

    def _signed(n: int) -> str:
        return f"{n:+d}" if n else "0"

    def fmt_rate(v: Any) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    header = ["category", *names, *(["diff"] if with_diff else [])]
    body: list[list[str]] = []
    for c in cats:
        counts = [tables[n]["categories"].get(c, 0) for n in names]
        body.append(
            [c, *map(str, counts), *([_signed(counts[0] - counts[1])] if with_diff else [])]
        )
    for key, title in (
        ("failed", "failed (total)"),
        ("complete", "complete code"),
        ("incomplete", "incomplete code"),
        ("correct", "correct"),
        ("total", "samples"),
    ):
        counts = [int(tables[n][key]) for n in names]
        body.append(
            [title, *map(str, counts), *([_signed(counts[0] - counts[1])] if with_diff else [])]
        )
    body.append(
        [
            "complete code passing",
            *(fmt_rate(tables[n]["complete_pass_rate"]) for n in names),
            *([""] if with_diff else []),
        ]
    )

    if markdown:
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines) + "\n"
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    out = []
    for r in [header, *body]:
        out.append(
            "  ".join(
                r[0].ljust(widths[0]) if i == 0 else r[i].rjust(widths[i]) for i in range(len(r))
            ).rstrip()
        )
    return "\n".join(out) + "\n"
