"""Unit tests of the error taxonomy (no sandbox): rules, MRO ordering, Table 13, ``harness classify``."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import taxonomy
from harness.cli import main
from harness.taxonomy import (
    LABELS,
    RULES,
    category_diff,
    classify,
    classify_rows,
    exception_chain,
    explain,
    is_complete,
    is_valid_label,
    render_table13,
    rule,
    table13,
)
from tests.harness.taxonomy_fixtures import FIXTURES, expected_row

DATA_DIR = Path(
    os.environ.get("HARNESS_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
needs_data = pytest.mark.skipif(
    not (DATA_DIR / "HumanEvalPlus-v0.1.10.jsonl.gz").is_file(), reason="offline data not found"
)


def failing(error_type: str | None, message: str | None = None, **extra: Any) -> dict[str, Any]:
    """A failed results.jsonl row as the sandbox writes it."""
    return {"passed": False, "error_type": error_type, "error_message": message, **extra}


# --------------------------------------------------------------------- one case per rule path

# fmt: off
CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    # (expected label, row, solution, entry point)
    ("AssertionError:empty_function", failing("AssertionError", error_in="test"), "def f(x):\n    pass\n", "f"),
    ("AssertionError:empty_function", failing("AssertionError", error_in="test"), "def f(x):\n    ...\n", "f"),
    ("AssertionError:empty_function", failing("AssertionError", error_in="test"), 'def f(x):\n    """Doc."""\n', "f"),
    ("AssertionError:empty_function", failing("AssertionError", error_in="test"), "def f(x):\n    return None\n", "f"),
    ("AssertionError:empty_function", failing("AssertionError", error_in="test"), "def f(x):\n    return 0\n", "f"),
    ("AssertionError:empty_function", failing("AssertionError", error_in="test"), "def f(x):\n    # todo\n    return -1\n", "f"),
    ("AssertionError:empty_function", failing("AssertionError", error_in="test"), "def f(x):\n    return {'a': [1, (2,)]}\n", "f"),
    ("AssertionError:empty_function", failing("AssertionError", error_in="test"), "def f(x):\n    return\n", "f"),
    ("AssertionError:empty_function", failing("AssertionError"), "def f(x):\n    pass\n", None),
    ("AssertionError:wrong_answer", failing("AssertionError", error_in="test"), "def f(x):\n    return x + 1\n", "f"),
    ("AssertionError:wrong_answer", failing("AssertionError", error_in="test"), "def f(x):\n    y = 0\n    return y\n", "f"),
    ("AssertionError:wrong_answer", failing("AssertionError", error_in="test"), "def g():\n    pass\n\ndef f(x):\n    return g()\n", "f"),
    ("AssertionError:wrong_answer", failing(None), "def f(x):\n    return x\n", "f"),
    ("AssertionError:other", failing("AssertionError", "", error_in="candidate"), "def f(x):\n    assert x > 0\n    return x\n", "f"),
    ("NameError:wrong_function_name", failing("NameError", "entry point 'f' is not defined", error_in="harness"), "def g(x):\n    return x\n", "f"),
    ("NameError:wrong_function_name", failing("NameError", "entry point 'f' is not defined"), "class Solution:\n    def f(self, x):\n        return x\n", None),
    ("NameError:wrong_function_name", failing("NameError", "name 'f' is not defined"), "def g(x):\n    return x\n\nprint(f(1))\n", "f"),
    ("NameError:wrong_function_name", failing("NameError", "entry point 'f' is not defined"), "g = lambda x: x\n", "f"),
    ("NameError:missing_content", failing("NameError", "entry point 'f' is not defined"), "", "f"),
    ("NameError:missing_content", failing("NameError", "entry point 'f' is not defined"), "# no idea\n", "f"),
    ("NameError:missing_content", failing("NameError", "entry point 'f' is not defined"), "import math\nx = 1\n", "f"),
    ("NameError:missing_import", failing("NameError", "name 'math' is not defined"), "def f(x):\n    return math.sqrt(x)\n", "f"),
    ("NameError:missing_import", failing("NameError", "name 'np' is not defined"), "def f(x):\n    return np.array(x)\n", "f"),
    ("NameError:missing_import", failing("NameError", "name 're' is not defined"), "def f(s):\n    return re.findall('a', s)\n", "f"),
    ("NameError:missing_import", failing("NameError", "name 'List' is not defined"), "def f(x: List[int]):\n    return x\n", "f"),
    ("NameError:missing_import", failing("NameError", "name 'defaultdict' is not defined"), "def f(x):\n    d = defaultdict(int)\n    return d\n", "f"),
    ("NameError:missing_import", failing("NameError", "name 'reduce' is not defined"), "def f(x):\n    return reduce(lambda a, b: a * b, x)\n", "f"),
    ("NameError:undefined_name", failing("NameError", "name 'helper' is not defined"), "def f(x):\n    return helper(x)\n", "f"),
    ("NameError:undefined_name", failing("NameError", "name 'arr' is not defined"), "def f(nums):\n    return sorted(arr)\n", "f"),
    # 'string' is a stdlib module, but here it is a variable the model forgot to bind
    ("NameError:undefined_name", failing("NameError", "name 'string' is not defined"), "def f(s):\n    return len(string)\n", "f"),
    ("NameError:undefined_name", failing("NameError", None), "def f(s):\n    return 1\n", "f"),
    ("SyntaxError:unbalanced_delimiters", failing("SyntaxError", "'(' was never closed (<candidate>, line 2)"), "def f(x):\n    return (x\n", "f"),
    ("SyntaxError:unbalanced_delimiters", failing("SyntaxError", "unmatched ')' (<candidate>, line 2)"), "def f(x):\n    return x)\n", "f"),
    ("SyntaxError:unbalanced_delimiters", failing("SyntaxError", "closing parenthesis ']' does not match opening parenthesis '('"), "def f(x):\n    return (x]\n", "f"),
    ("SyntaxError:unbalanced_delimiters", failing("SyntaxError", "unterminated string literal (detected at line 2)"), "def f(x):\n    return 'abc\n", "f"),
    # an older CPython only says "invalid syntax": the tokenizer finds the open bracket
    ("SyntaxError:unbalanced_delimiters", failing("SyntaxError", "invalid syntax (<candidate>, line 3)"), "def f(x):\n    y = [1, 2\n    return y\n", "f"),
    # no message at all: our own compile supplies it
    ("SyntaxError:unbalanced_delimiters", failing("SyntaxError"), "def f(x):\n    return {x: [1, 2}\n", "f"),
    ("SyntaxError:function_overflow", failing("SyntaxError", finish_reason="length"), "def f(x):\n    return x\n\n\ndef g(y):\n    return [y,\n", "f"),
    ("SyntaxError:function_overflow", failing("SyntaxError", n_tokens=512, max_new_tokens=512), "def f(x):\n    return x\n\n\ndef g(y):\n    return [y,\n", "f"),
    ("SyntaxError:function_overflow", failing("IndentationError", finish_reason="length"), "def f(x):\n    return x\n\n\n@cache\ndef g(y):\n", "f"),
    ("SyntaxError:function_overflow", failing("SyntaxError", finish_reason="length"), 'import math\n\ndef f(x):\n    return x\n\ndef test_f():\n    """Tests\n', "f"),
    # no metadata: the overflow shape alone (a sound function, then a new def cut at EOF)
    ("SyntaxError:function_overflow", failing("SyntaxError", "'(' was never closed"), "def f(x):\n    return x\n\n\ndef g(y):\n    return (y +\n", "f"),
    # the model stopped by itself: not a truncation
    ("SyntaxError:unbalanced_delimiters", failing("SyntaxError", "'(' was never closed", finish_reason="stop"), "def f(x):\n    return x\n\n\ndef g(y):\n    return (y +\n", "f"),
    # length-limited, but the break is in the middle, not at the end
    ("SyntaxError:invalid_syntax", failing("SyntaxError", "expected ':'", finish_reason="length"), "def f(x)\n    return x\n\n\ndef g(y):\n    return y\n", "f"),
    # length-limited, but nothing complete before the cut: not an *extra* function
    ("SyntaxError:unbalanced_delimiters", failing("SyntaxError", "'(' was never closed", finish_reason="length"), "import os\n\ndef f(x):\n    return (x\n", "f"),
    ("SyntaxError:invalid_syntax", failing("SyntaxError", "expected ':' (<candidate>, line 1)"), "def f(x)\n    return x\n", "f"),
    ("SyntaxError:invalid_syntax", failing("SyntaxError", "invalid syntax (<candidate>, line 1)"), "```python\ndef f(x):\n    return x\n```\n", "f"),
    ("SyntaxError:invalid_syntax", failing("SyntaxError", "unterminated string literal (detected at line 1)"), "Here's my answer:\ndef f(x):\n    return x\n", "f"),
    ("SyntaxError:invalid_syntax", failing("SyntaxError"), "def f(x):\n    return x +\n", "f"),
    ("IndentationError:inconsistent_indentation", failing("IndentationError", "unindent does not match any outer indentation level"), "def f(x):\n    y = x\n  return y\n", "f"),
    ("IndentationError:inconsistent_indentation", failing("IndentationError", "unexpected indent"), "  def f(x):\n    return x\n", "f"),
    ("IndentationError:inconsistent_indentation", failing("IndentationError", "expected an indented block after function definition on line 1"), "def f(x):\nreturn x\n", "f"),
    ("IndentationError:inconsistent_indentation", failing("TabError", "inconsistent use of tabs and spaces in indentation"), "def f(x):\n    if x:\n\treturn 1\n    return 0\n", "f"),
    ("ValueError:empty_sequence", failing("ValueError", "max() arg is an empty sequence"), "def f(x):\n    return max(x)\n", "f"),
    ("ValueError:empty_sequence", failing("ValueError", "min() iterable argument is empty"), "def f(x):\n    return min(x)\n", "f"),
    ("ValueError:empty_sequence", failing("ValueError", "empty range for randrange() (0, 0, 0)"), "import random\ndef f(x):\n    return random.randrange(x)\n", "f"),
    ("ValueError:empty_sequence", failing("ValueError", "not enough values to unpack (expected 2, got 0)"), "def f(x):\n    a, b = x\n    return a\n", "f"),
    ("ValueError:empty_sequence", failing("StatisticsError", "mean requires at least one data point"), "import statistics\ndef f(x):\n    return statistics.mean(x)\n", "f"),
    # raises ValueError somewhere, but this message comes from max(): still empty_sequence
    ("ValueError:empty_sequence", failing("ValueError", "max() arg is an empty sequence"), "def f(x):\n    if x is None:\n        raise ValueError(msg)\n    return max(x)\n", "f"),
    ("ValueError:deliberate_raise", failing("ValueError", "empty list", error_in="candidate"), "def f(x):\n    if not x:\n        raise ValueError('empty list')\n    return x[0]\n", "f"),
    ("ValueError:deliberate_raise", failing("ValueError", "bad value: -3"), "def f(x):\n    if x < 0:\n        raise ValueError(f'bad value: {x}')\n    return x\n", "f"),
    ("ValueError:deliberate_raise", failing("ValueError", "Input must be positive"), "def f(x):\n    err = 'Input must be positive'\n    if x < 0:\n        raise ValueError(err)\n    return x\n", "f"),
    ("ValueError:deliberate_raise", failing("ValueError", ""), "def f(x):\n    raise ValueError\n", "f"),
    ("ValueError:deliberate_raise", failing("InvalidInput", "nope", exception_chain=["InvalidInput", "ValueError", "Exception", "BaseException", "object"]), "class InvalidInput(ValueError):\n    pass\n\ndef f(x):\n    raise InvalidInput('nope')\n", "f"),
    ("ValueError:inappropriate_argument", failing("ValueError", "invalid literal for int() with base 10: 'a'"), "def f(x):\n    return int(x)\n", "f"),
    ("ValueError:inappropriate_argument", failing("ValueError", "math domain error"), "import math\ndef f(x):\n    return math.sqrt(x)\n", "f"),
    ("ValueError:inappropriate_argument", failing("ValueError", "3 is not in list"), "def f(x):\n    return x.index(3)\n", "f"),
    # the code raises ValueError elsewhere, but this message is int()'s
    ("ValueError:inappropriate_argument", failing("ValueError", "invalid literal for int() with base 10: 'a'"), "def f(x):\n    if x is None:\n        raise ValueError(msg)\n    return int(x)\n", "f"),
    ("IndexError:out_of_range", failing("IndexError", "list index out of range"), "def f(x):\n    return x[len(x)]\n", "f"),
    ("IndexError:out_of_range", failing("IndexError", "pop from empty list"), "def f(x):\n    return x.pop()\n", "f"),
    ("TypeError:incompatible_operation", failing("TypeError", "unsupported operand type(s) for +: 'int' and 'str'"), "def f(x):\n    return 1 + x\n", "f"),
    ("TypeError:incompatible_operation", failing("TypeError", "'int' object is not subscriptable"), "def f(x):\n    return x[0]\n", "f"),
    ("AttributeError:nonexistent_attribute", failing("AttributeError", "'list' object has no attribute 'push'"), "def f(x):\n    x.push(1)\n    return x\n", "f"),
    ("TimeoutError:timeout", failing("TimeoutError", "time limit exceeded in tests", error_in="candidate"), "def f(x):\n    while True:\n        pass\n", "f"),
    ("ModuleNotFoundError:missing_module", failing("ModuleNotFoundError", "No module named 'numpy'"), "import numpy as np\ndef f(x):\n    return np.sum(x)\n", "f"),
    ("KeyError:missing_key", failing("KeyError", "'a'"), "def f(x):\n    return {}[x]\n", "f"),
    ("UnboundLocalError:unassigned_variable", failing("UnboundLocalError", "cannot access local variable 'r' where it is not associated with a value"), "def f(x):\n    if x:\n        r = 1\n    return r\n", "f"),
    ("UnboundLocalError:unassigned_variable", failing("UnboundLocalError", "local variable 'r' referenced before assignment"), "def f(x):\n    r += 1\n    return r\n", "f"),
    ("RecursionError:infinite_recursion", failing("RecursionError", "maximum recursion depth exceeded"), "def f(x):\n    return f(x)\n", "f"),
    ("NotImplementedError:deliberate_raise", failing("NotImplementedError", ""), "def f(x):\n    raise NotImplementedError\n", "f"),
    ("ZeroDivisionError:other", failing("ZeroDivisionError", "division by zero"), "def f(x):\n    return 1 / 0\n", "f"),
    ("ImportError:other", failing("ImportError", "cannot import name 'foo' from 'math'"), "from math import foo\n", "f"),
    ("RuntimeError:other", failing("RuntimeError", "dictionary changed size during iteration"), "def f(d):\n    for k in d:\n        del d[k]\n", "f"),
    ("MemoryError:other", failing("MemoryError", ""), "def f(x):\n    return [0] * 10 ** 12\n", "f"),
    ("SystemExit:other", failing("SystemExit", "the process exited early (code 0)"), "import sys\nsys.exit(0)\n", "f"),
    ("SandboxError:other", failing("SandboxError", "runner crashed", error_in="harness"), "def f(x):\n    return x\n", "f"),
    ("OverflowError:other", failing("OverflowError", "int too large to convert to float"), "def f(x):\n    return float(10 ** 400)\n", "f"),
]
# fmt: on


@pytest.mark.parametrize(
    ("label", "row", "solution", "entry"),
    CASES,
    ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)],
)
def test_case_classifies_as_labelled(
    label: str, row: dict[str, Any], solution: str, entry: str | None
) -> None:
    assert classify(row, solution, entry) == label
    assert is_valid_label(label)


def test_every_fixed_label_has_a_unit_case() -> None:
    covered = {c[0] for c in CASES}
    assert set(LABELS) <= covered


def test_passing_row_has_no_category() -> None:
    row = {"passed": True, "error_type": None}
    assert classify(row, "def f(): pass\n", "f") is None
    assert explain(row, "") is None


# ------------------------------------------------------------------------- subclass ordering


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("IndentationError", "IndentationError:inconsistent_indentation"),
        ("TabError", "IndentationError:inconsistent_indentation"),
        ("SyntaxError", "SyntaxError:invalid_syntax"),
        ("UnboundLocalError", "UnboundLocalError:unassigned_variable"),
        ("NameError", "NameError:undefined_name"),
        ("ModuleNotFoundError", "ModuleNotFoundError:missing_module"),
        ("ImportError", "ImportError:other"),
        ("RecursionError", "RecursionError:infinite_recursion"),
        ("NotImplementedError", "NotImplementedError:deliberate_raise"),
        ("RuntimeError", "RuntimeError:other"),
        ("TimeoutError", "TimeoutError:timeout"),
        ("OSError", "OSError:other"),
        ("IndexError", "IndexError:out_of_range"),
        ("KeyError", "KeyError:missing_key"),
        ("LookupError", "LookupError:other"),
        ("UnicodeDecodeError", "ValueError:inappropriate_argument"),
    ],
)
def test_subclass_comes_before_its_base(error_type: str, expected: str) -> None:
    """Without an exception_chain the built-in hierarchy orders the rules."""
    solution = "def f(x):\n    return x + y\n"  # parses; no evidence for finer rules
    assert classify(failing(error_type, "x"), solution, "f") == expected


def test_row_chain_is_walked_for_unknown_classes() -> None:
    chain = ["ParseFailure", "ValueError", "Exception", "BaseException", "object"]
    row = failing("ParseFailure", "invalid literal for int()", exception_chain=chain)
    assert (
        classify(row, "def f(x):\n    return int(x)\n", "f") == "ValueError:inappropriate_argument"
    )
    # an unknown class without a chain is ":other"
    row = failing("ParseFailure", "invalid literal for int()")
    assert classify(row, "def f(x):\n    return int(x)\n", "f") == "ParseFailure:other"


def test_chain_from_row_and_from_builtins_agree() -> None:
    for name in (
        "UnboundLocalError",
        "TabError",
        "ModuleNotFoundError",
        "RecursionError",
        "KeyError",
    ):
        cls = __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
        mro = [c.__name__ for c in cls.__mro__]
        assert exception_chain({"error_type": name}) == tuple(mro)
        assert exception_chain({"error_type": name, "exception_chain": mro}) == tuple(mro)
    assert exception_chain({"error_type": "StatisticsError"})[:2] == (
        "StatisticsError",
        "ValueError",
    )
    assert exception_chain({"error_type": "builtins.KeyError"})[0] == "KeyError"


def test_fixed_label_prefixes_sit_in_their_own_chain() -> None:
    """Every label's exception class must be reachable from the class its rules fire on."""
    for r in RULES.values():
        prefix = r.label.split(":", 1)[0]
        for on in r.on:
            assert prefix in exception_chain({"error_type": on}) or prefix == "SyntaxError"


# ------------------------------------------------------------------------------- registry


def test_every_label_has_a_documented_rule() -> None:
    by_label: dict[str, list[taxonomy.Rule]] = {}
    for r in RULES.values():
        by_label.setdefault(r.label, []).append(r)
    assert set(by_label) == set(LABELS)
    for r in RULES.values():
        assert r.label in r.doc, f"rule {r.name} must say which taxonomy entry it implements"


def test_rule_rejects_unknown_labels() -> None:
    with pytest.raises(ValueError):
        rule("KeyError:made_up")


def test_registry_is_extensible() -> None:
    """A new rule for an unclaimed exception takes effect without touching the walker."""
    n = len(RULES)
    try:

        @rule("ZeroDivisionError:other")
        def divide_by_zero(ev: taxonomy.Evidence) -> bool:
            """ZeroDivisionError:other: claimed explicitly (test)."""
            return "modulo" in ev.message

        label, found = explain(failing("ZeroDivisionError", "integer modulo by zero"), "")  # type: ignore[misc]
        assert label == "ZeroDivisionError:other" and found is not None
        assert found.name == "divide_by_zero"
    finally:
        RULES.unregister("divide_by_zero")
    assert len(RULES) == n


# ------------------------------------------------------------------------------ completeness


@pytest.mark.parametrize(
    ("solution", "entry", "expected"),
    [
        ("def f(x):\n    return x\n", "f", True),
        ("async def f(x):\n    return x\n", "f", True),
        ("f = lambda x: x\n", "f", True),
        ("import math\nf: object = math.sqrt\n", "f", True),
        (
            "try:\n    from math import gcd\nexcept ImportError:\n    pass\n\ndef f(a, b):\n    return gcd(a, b)\n",
            "f",
            True,
        ),
        ("if True:\n    def f(x):\n        return x\n", "f", True),
        ("class f:\n    pass\n", "f", True),
        ("def g(x):\n    return x\n", "f", False),
        ("class S:\n    def f(self, x):\n        return x\n", "f", False),
        ("def outer():\n    def f(x):\n        return x\n", "f", False),
        ("def f(x):\n    return (x\n", "f", False),
        ("", "f", False),
        ("def f(x):\n    return x\n\ndef g(:\n", "f", False),
    ],
)
def test_is_complete(solution: str, entry: str, expected: bool) -> None:
    assert is_complete(solution, entry) is expected


def test_classify_rows_fills_category_and_complete() -> None:
    rows = [
        {"task_id": "T/0", "passed": True, "error_type": None},
        failing("AssertionError", error_in="test"),
        failing("SyntaxError", "'(' was never closed"),
    ]
    solutions = ["def f(x):\n    return x\n", "def f(x):\n    pass\n", "def f(x):\n    return (x\n"]
    out = classify_rows(rows, solutions, ["f", "f", "f"])
    assert out is not rows and out[0] is rows[0]  # filled in place
    assert [r["category"] for r in out] == [
        None,
        "AssertionError:empty_function",
        "SyntaxError:unbalanced_delimiters",
    ]
    assert [r["complete"] for r in out] == [True, True, False]
    with pytest.raises(ValueError):
        classify_rows(rows, solutions[:2], ["f", "f"])


# ----------------------------------------------------------------------------------- fixture


def test_fixture_structure() -> None:
    ids = [fx["id"] for fx in FIXTURES]
    assert len(ids) == len(set(ids)), "fixture ids must be unique"
    required = {"id", "task_id", "solution", "category", "error_type", "message"}
    allowed = required | {"finish_reason", "why"}
    for fx in FIXTURES:
        assert required <= set(fx) <= allowed, fx["id"]
        assert isinstance(fx["solution"], str) and fx["solution"].strip(), fx["id"]
        assert re.fullmatch(r"(HumanEval|Mbpp)/\d+", fx["task_id"]), fx["id"]
        assert is_valid_label(fx["category"]), fx["id"]
        assert fx.get("finish_reason", "length") in ("stop", "eos", "length"), fx["id"]
        # the label's class is the reported exception or one of its bases
        prefix = fx["category"].split(":", 1)[0]
        assert prefix in exception_chain({"error_type": fx["error_type"]}), fx["id"]


def test_fixture_covers_every_category_on_both_benchmarks() -> None:
    per_label: dict[str, set[str]] = {}
    for fx in FIXTURES:
        per_label.setdefault(fx["category"], set()).add(fx["task_id"].split("/")[0])
    counts = Counter(fx["category"] for fx in FIXTURES)
    for label in LABELS:
        assert counts[label] >= 2, f"{label}: need at least two labelled solutions"
        assert per_label[label] == {"HumanEval", "Mbpp"}, f"{label}: need HumanEval+ and MBPP+"


@needs_data
def test_fixture_tasks_exist_and_entry_points_match() -> None:
    from harness.data.datasets import load_dataset

    datasets = {
        "HumanEval": load_dataset("humaneval+", DATA_DIR),
        "Mbpp": load_dataset("mbpp+", DATA_DIR),
    }
    for fx in FIXTURES:
        task = datasets[fx["task_id"].split("/")[0]].tasks[fx["task_id"]]
        complete = is_complete(fx["solution"], task.entry_point)
        wants_entry = fx["category"].startswith(("NameError:wrong_function", "NameError:missing_c"))
        compile_error = fx["error_type"] in ("SyntaxError", "IndentationError", "TabError")
        assert complete is not (wants_entry or compile_error), fx["id"]


@pytest.mark.parametrize("fx", FIXTURES, ids=[fx["id"] for fx in FIXTURES])
def test_fixture_classifies_as_labelled_from_the_expected_row(fx: dict[str, Any]) -> None:
    row = expected_row(fx)
    entry = _entry_point_of(fx)
    assert classify(row, fx["solution"], entry) == fx["category"]
    # the same without an explicit entry point (harness.execution.execute's seam passes none)...
    assert classify(row, fx["solution"]) == fx["category"]
    # ...and with the MRO the sandbox sends along
    chained = {**row, "exception_chain": list(exception_chain(row))}
    assert classify(chained, fx["solution"], entry) == fx["category"]


def _entry_point_of(fx: dict[str, Any]) -> str | None:
    """The task's entry point, from the message or the first def (no dataset needed)."""
    found = re.search(r"entry point '(\w+)'", fx["message"] or "")
    if found:
        return found.group(1)
    found = re.search(r"^def (\w+)", fx["solution"], re.M)
    return found.group(1) if found else None


# ---------------------------------------------------------------------- property: one label

_EXC_NAMES = [
    n
    for n in dir(__import__("builtins"))
    if isinstance(getattr(__import__("builtins"), n), type)
    and issubclass(getattr(__import__("builtins"), n), BaseException)
]
_SNIPPETS = [
    "",
    "def f(x):\n    pass\n",
    "def f(x):\n    return x\n",
    "def g(x):\n    return (x\n",
    "def f(x):\n    return x\n\ndef g(:\n",
    "def f(x):\n    raise ValueError('no')\n",
    "import math\n",
    "```python\n",
    "\tdef f(x):\n  return x\n",
    "Here's it:\n",
]
_MESSAGES = [
    None,
    "",
    "entry point 'f' is not defined",
    "name 'math' is not defined",
    "name 'zz' is not defined",
    "max() arg is an empty sequence",
    "no",
    "'(' was never closed",
    "invalid literal for int() with base 10: 'a'",
]

rows_strategy = st.fixed_dictionaries(
    {
        "passed": st.booleans(),
        "error_type": st.one_of(
            st.none(),
            st.sampled_from(_EXC_NAMES),
            st.from_regex(r"[A-Z][A-Za-z]{0,12}(Error|Exception)", fullmatch=True),
            st.text(max_size=8),
        ),
        "error_message": st.one_of(st.sampled_from(_MESSAGES), st.text(max_size=40)),
        "error_in": st.sampled_from([None, "candidate", "test", "compile", "harness"]),
    },
    optional={
        "finish_reason": st.sampled_from(["stop", "eos", "length"]),
        "n_tokens": st.integers(0, 2048),
        "max_new_tokens": st.integers(0, 2048),
        "exception_chain": st.lists(st.sampled_from(_EXC_NAMES + ["object"]), max_size=5),
        "complete": st.booleans(),
    },
)
solutions_strategy = st.one_of(
    st.sampled_from(_SNIPPETS),
    st.lists(st.sampled_from(_SNIPPETS), max_size=4).map("".join),
    st.text(max_size=80),
)


@settings(max_examples=400, deadline=None)
@given(row=rows_strategy, solution=solutions_strategy, entry=st.sampled_from([None, "f", "g"]))
def test_property_exactly_one_valid_label(
    row: dict[str, Any], solution: str, entry: str | None
) -> None:
    label = classify(row, solution, entry)
    if row["passed"]:
        assert label is None
    else:
        assert isinstance(label, str) and is_valid_label(label)
        assert label.count(":") == 1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(rows_strategy, solutions_strategy), max_size=25),
)
def test_property_table13_counts_add_up(pairs: list[tuple[dict[str, Any], str]]) -> None:
    rows = [dict(r) for r, _ in pairs]
    classify_rows(rows, [s for _, s in pairs], ["f"] * len(rows))
    t = table13(rows)
    failures = sum(not r["passed"] for r in rows)
    assert sum(t["categories"].values()) == failures == t["failed"]
    assert t["correct"] + t["failed"] == t["total"] == len(rows)
    assert t["complete"] + t["incomplete"] == len(rows)
    assert t["complete_correct"] <= min(t["complete"], t["correct"])


# -------------------------------------------------------------------------------- Table 13


def _rows(*spec: tuple[bool, str | None, bool]) -> list[dict[str, Any]]:
    return [{"passed": p, "category": c, "complete": k} for p, c, k in spec]


def test_table13_counts() -> None:
    rows = _rows(
        (True, None, True),
        (True, None, True),
        (False, "AssertionError:wrong_answer", True),
        (False, "AssertionError:wrong_answer", True),
        (False, "SyntaxError:invalid_syntax", False),
        (False, None, False),  # failed but never classified
    )
    t = table13(rows)
    assert t["total"] == 6 and t["correct"] == 2 and t["failed"] == 4
    assert t["complete"] == 4 and t["incomplete"] == 2 and t["complete_correct"] == 2
    assert t["complete_pass_rate"] == pytest.approx(0.5)
    assert t["categories"] == {
        "AssertionError:wrong_answer": 2,
        "SyntaxError:invalid_syntax": 1,
        "unclassified": 1,
    }
    assert list(t["categories"])[0] == "AssertionError:wrong_answer"  # most frequent first
    assert table13([])["complete_pass_rate"] is None


def test_category_diff_is_student_minus_teacher_over_the_union() -> None:
    student = _rows(
        (False, "AssertionError:wrong_answer", True),
        (False, "AssertionError:wrong_answer", True),
        (False, "NameError:missing_import", True),
    )
    teacher = _rows(
        (False, "AssertionError:wrong_answer", True),
        (False, "TimeoutError:timeout", True),
        (True, None, True),
    )
    diff = category_diff(student, teacher)
    assert diff == {
        "AssertionError:wrong_answer": 1,
        "NameError:missing_import": 1,
        "TimeoutError:timeout": -1,
    }
    # table13 results work as inputs too
    assert category_diff(table13(student), table13(teacher)) == diff
    assert category_diff([], []) == {}


def test_render_table13_markdown_and_text() -> None:
    student = table13(_rows((False, "KeyError:missing_key", True), (True, None, True)))
    teacher = table13(_rows((True, None, True), (True, None, True)))
    md = render_table13({"student": student, "teacher": teacher})
    lines = md.strip().splitlines()
    assert lines[0] == "| category | student | teacher | diff |"
    assert lines[1].startswith("|---|")
    assert "| KeyError:missing_key | 1 | 0 | +1 |" in lines
    assert "| complete code passing | 50.0% | 100.0% |  |" in lines
    text = render_table13(student, markdown=False)
    assert "|" not in text and "KeyError:missing_key" in text and "model" in text.splitlines()[0]
    assert all(len(line) > 0 for line in text.splitlines())


# --------------------------------------------------------------------------- harness classify


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _results_dir(tmp_path: Path, *, completion: bool = False) -> tuple[Path, list[dict[str, Any]]]:
    """A results directory as ``harness execute`` leaves it, for the HumanEval fixtures."""
    from harness.data.datasets import load_dataset

    dataset = load_dataset("humaneval+", DATA_DIR)
    fixtures = [fx for fx in FIXTURES if fx["task_id"].startswith("HumanEval/")]
    samples, rows, seen = [], [], Counter[str]()
    for fx in fixtures:
        sample: dict[str, Any] = {"task_id": fx["task_id"], "solution": fx["solution"]}
        prompt = dataset.tasks[fx["task_id"]].prompt
        if completion and fx["solution"].startswith(prompt):
            sample = {"task_id": fx["task_id"], "completion": fx["solution"][len(prompt) :]}
        if "finish_reason" in fx:
            sample["finish_reason"] = fx["finish_reason"]
        samples.append(sample)
        row = expected_row(fx)
        row["sample_index"] = seen[fx["task_id"]]
        seen[fx["task_id"]] += 1
        row["category"] = "stale:other"
        rows.append(row)
    rows.append({**rows[0], "passed": True, "error_type": None, "error_message": None})
    samples.append({"task_id": rows[0]["task_id"], "solution": "def x(): pass\n"})
    rows[-1]["sample_index"] = seen[rows[0]["task_id"]]
    out = tmp_path / "run"
    out.mkdir()
    _write_jsonl(out / "results.jsonl", rows)
    _write_jsonl(out / "samples.jsonl", samples)
    (out / "summary.json").write_text(json.dumps({"dataset": "humaneval+"}))
    return out, fixtures


@needs_data
def test_classify_command_relabels_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, fixtures = _results_dir(tmp_path)
    assert main(["classify", str(out), "--data-dir", str(DATA_DIR)]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["category"] for r in rows[:-1]] == [fx["category"] for fx in fixtures]
    assert rows[-1]["category"] is None and rows[-1]["complete"] is False
    assert all(isinstance(r["complete"], bool) for r in rows)
    assert not list(out.glob(".results.jsonl.*"))  # no temp file left behind
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "humaneval+"  # kept
    assert summary["taxonomy"]["failed"] == len(fixtures)
    printed = capsys.readouterr().out
    assert "| category | humaneval+ |" in printed
    assert "AssertionError:empty_function" in printed

    assert main(["classify", str(out), "--data-dir", str(DATA_DIR), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["failed"] == len(fixtures) and summary["total"] == len(fixtures) + 1


@needs_data
def test_classify_command_with_completions_and_external_samples(tmp_path: Path) -> None:
    out, fixtures = _results_dir(tmp_path, completion=True)
    elsewhere = tmp_path / "samples.jsonl"
    (out / "samples.jsonl").rename(elsewhere)
    (out / "summary.json").unlink()
    code = main(
        [
            "classify",
            str(out),
            "--samples",
            str(elsewhere),
            "--dataset",
            "humaneval+",
            "--data-dir",
            str(DATA_DIR),
        ]
    )
    assert code == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["category"] for r in rows[:-1]] == [fx["category"] for fx in fixtures]


def test_classify_command_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", str(tmp_path / "nope")]) == 2
    assert "results directory not found" in capsys.readouterr().err

    assert main(["classify", str(tmp_path)]) == 2
    assert "results file not found" in capsys.readouterr().err

    (tmp_path / "results.jsonl").write_text('{"task_id": "HumanEval/0"}\n{oops\n')
    assert main(["classify", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "results.jsonl:2: malformed JSON" in err and "Traceback" not in err

    (tmp_path / "results.jsonl").write_text('{"task_id": "HumanEval/0", "sample_index": 0}\n')
    assert main(["classify", str(tmp_path)]) == 2
    assert "pass --samples" in capsys.readouterr().err

    (tmp_path / "samples.jsonl").write_text("[1, 2]\n")
    assert main(["classify", str(tmp_path)]) == 2
    assert "expected a JSON object" in capsys.readouterr().err

    (tmp_path / "samples.jsonl").write_text('{"task_id": "HumanEval/0", "solution": ""}\n')
    assert main(["classify", str(tmp_path)]) == 2
    assert "--dataset" in capsys.readouterr().err

    (tmp_path / "summary.json").write_text("{broken")
    assert main(["classify", str(tmp_path)]) == 2
    assert "summary.json" in capsys.readouterr().err


@needs_data
def test_classify_command_rejects_mismatched_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _results_dir(tmp_path)
    _write_jsonl(out / "samples.jsonl", [{"task_id": "HumanEval/1", "solution": ""}])
    before = (out / "results.jsonl").read_text()
    assert main(["classify", str(out), "--data-dir", str(DATA_DIR)]) == 2
    assert "no matching sample" in capsys.readouterr().err
    assert (out / "results.jsonl").read_text() == before  # untouched on error
