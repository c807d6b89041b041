"""Unit tests of the relations on small programs and on the known pitfalls."""

from __future__ import annotations

import ast
import io
import tokenize
from typing import Any

import pytest

from harness.core.errors import UsageError
from harness.metamorphic import (
    REGISTRY,
    NotApplicable,
    Relation,
    SimpleTask,
    Source,
    Transformed,
    full_program,
    get_relations,
    parses_as_prefix,
    partial_prompt,
    register,
    static_check,
)
from harness.metamorphic.naming import camel_to_snake, snake_to_camel


def task(prompt: str, solution: str, entry: str, task_id: str = "T/0") -> SimpleTask:
    return SimpleTask(task_id, prompt, entry, solution)


def call(program: str, entry: str, *args: Any) -> Any:
    ns: dict[str, Any] = {}
    exec(compile(program, "<t>", "exec"), ns)
    return ns[entry](*args)


def helpers(program: str, entry: str) -> dict[str, str]:
    """ast dumps of the top-level functions other than the entry point."""
    module = ast.parse(program)
    return {
        n.name: ast.dump(n)
        for n in module.body
        if isinstance(n, ast.FunctionDef) and n.name != entry
    }


# --------------------------------------------------------------------------- registry


def test_registry_has_ten_strict_and_soft_apart() -> None:
    strict = get_relations(group="strict")
    soft = get_relations(group="soft")
    assert len(strict) >= 10
    assert {r.name for r in soft} >= {"docstring_synonyms", "docstring_typos", "docstring_case"}
    assert all(r.group in ("strict", "soft") for r in REGISTRY.values())
    assert all(name == r.name for name, r in REGISTRY.items())


def test_register_rejects_duplicates_and_unknown_names() -> None:
    class Dup(Relation):
        name = "blank_lines"

        def transform(self, src: Source, rng: Any) -> Source | None:
            return None

    with pytest.raises(ValueError):
        register(Dup)
    with pytest.raises(UsageError, match="unknown relation 'no_such_relation'; available: "):
        get_relations(["no_such_relation"])


# --------------------------------------------------------------------------- partial code


def test_partial_prompt_cuts_at_statement_boundary(he_tasks: dict[str, SimpleTask]) -> None:
    t = he_tasks["HumanEval/0"]
    part = partial_prompt(t)
    assert part is not None
    assert part.prompt.startswith(t.prompt)
    assert part.prompt != t.prompt
    assert ast.parse(part.prompt)
    assert part.prompt + part.canonical_solution == full_program(t)
    assert part.canonical_solution.strip().startswith("return")


def test_partial_prompt_mbpp_keeps_header_and_leaves_work(mbpp_tasks: dict[str, SimpleTask]) -> None:
    t = mbpp_tasks["Mbpp/2"]  # a one-statement body
    part = partial_prompt(t)
    assert part is not None
    assert part.prompt.rstrip().endswith(":")
    assert parses_as_prefix(part.prompt)
    assert "return" in part.canonical_solution


def test_partial_prompt_none_for_one_line_function() -> None:
    assert partial_prompt(task("", "def f(x): return x\n", "f")) is None


# --------------------------------------------------------------------------- naming pitfalls


@pytest.mark.parametrize("tid", ["HumanEval/32", "HumanEval/38", "HumanEval/50"])
@pytest.mark.parametrize("rel", ["param_rename", "local_rename", "entry_point_case"])
def test_renames_never_touch_helpers(he_tasks: dict[str, SimpleTask], tid: str, rel: str) -> None:
    t = he_tasks[tid]
    out = REGISTRY[rel].apply(t, 3)
    if out is None:
        return
    before = helpers(full_program(t), t.entry_point)
    after = helpers(out.program, out.entry_point)
    assert after == before
    if rel != "entry_point_case":
        assert out.entry_point == t.entry_point


def test_entry_point_case_renames_only_the_entry_point(he_tasks: dict[str, SimpleTask]) -> None:
    t = he_tasks["HumanEval/38"]
    out = REGISTRY["entry_point_case"].apply(t, 0)
    assert out is not None and out.entry_point == "decodeCyclic"
    assert "def decodeCyclic(" in out.prompt and "def encode_cyclic(" in out.prompt
    assert "encode_cyclic function" in out.prompt  # the helper's mention is untouched
    s = "abcdefgh"
    enc = call(full_program(t), "encode_cyclic", s)
    assert call(out.program, "decodeCyclic", enc) == s


def test_entry_point_case_renames_recursion_and_doctests() -> None:
    t = task(
        'def fact_of(n):\n    """fact_of(n) is n!\n    >>> fact_of(3)\n    6\n    """\n',
        "    return 1 if n < 2 else n * fact_of(n - 1)\n",
        "fact_of",
    )
    out = REGISTRY["entry_point_case"].apply(t, 0)
    assert out is not None and out.entry_point == "factOf"
    assert "fact_of" not in out.program
    assert call(out.program, "factOf", 5) == 120
    assert camel_to_snake("isPalindrome") == "is_palindrome"
    assert snake_to_camel("differ_At_One_Bit_Pos") == "differAtOneBitPos"
    assert snake_to_camel("fib") is None


def test_entry_point_case_leaves_a_local_of_the_same_name() -> None:
    # libcst links the read of the local in ``max(max_sum, k)`` to the function too (MBPP/245)
    t = task(
        '"""Largest element (max_sum([1, 5]) == 5)."""\n',
        "def max_sum(arr):\n    max_sum = 0\n    for k in arr:\n"
        "        max_sum = max(max_sum, k)\n    return max_sum\n",
        "max_sum",
    )
    out = REGISTRY["entry_point_case"].apply(t, 0)
    assert out is not None and out.entry_point == "maxSum"
    assert "maxSum([1, 5])" in out.prompt
    assert "max(max_sum, k)" in out.program
    assert call(out.program, "maxSum", [3, 9, 2]) == 9


def test_param_rename_updates_keyword_calls_closures_and_prose() -> None:
    t = task(
        'def count_down(steps, acc=0):\n    """Count steps down to zero."""\n',
        "    def inner():\n        return steps\n"
        "    if inner() == 0:\n        return acc\n"
        "    return count_down(steps=steps - 1, acc=acc + 1)\n",
        "count_down",
    )
    out = REGISTRY["param_rename"].apply(t, 1)
    assert out is not None
    sig = ast.parse(out.program).body[0]
    assert isinstance(sig, ast.FunctionDef)
    new_names = [a.arg for a in sig.args.args]
    assert "steps" not in new_names and "acc" not in new_names
    assert f"Count {new_names[0]} down" in out.prompt
    assert call(out.program, "count_down", 4) == 4


def test_param_rename_keeps_prose_stopwords() -> None:
    t = task('def add(a, b):\n    """Add a and b."""\n', "    return a + b\n", "add")
    out = REGISTRY["param_rename"].apply(t, 0)
    assert out is not None
    assert "Add a and" in out.prompt  # the article "a" is not a variable mention
    assert call(out.program, "add", 2, 3) == 5


def test_local_rename_is_scope_aware() -> None:
    t = task(
        "total = 100\n\ndef f(xs):\n",
        "    total = 0\n    for x in xs:\n        total += x\n"
        "    g = lambda: total\n    return g() + len([total for total in xs])\n",
        "f",
    )
    out = REGISTRY["local_rename"].apply(t, 0)
    assert out is not None
    assert out.program.startswith("total = 100\n")  # the global keeps its name
    assert call(out.program, "f", [1, 2]) == call(full_program(t), "f", [1, 2])


# --------------------------------------------------------------------------- for -> while


def _loop_task(body: str) -> SimpleTask:
    return task("def f(n, xs):\n", body, "f")


def test_for_to_while_converts_a_range_loop() -> None:
    t = _loop_task("    s = 0\n    for i in range(1, n, 2):\n        s += i * i\n    return s\n")
    out = REGISTRY["for_to_while"].apply(t, 0)
    assert out is not None and out.partial
    assert "while i < n:" in out.prompt and "for " not in out.prompt
    for n in range(0, 7):
        assert call(out.program, "f", n, []) == call(full_program(t), "f", n, [])


def test_for_to_while_counts_down() -> None:
    t = _loop_task("    out = []\n    for i in range(n, 0, -1):\n        out.append(i)\n    return out\n")
    out = REGISTRY["for_to_while"].apply(t, 0)
    assert out is not None and "while i > 0:" in out.prompt
    assert call(out.program, "f", 4, []) == [4, 3, 2, 1]


@pytest.mark.parametrize(
    "body",
    [
        # continue would skip the increment
        "    s = 0\n    for i in range(n):\n        if i % 2:\n            continue\n        s += i\n    return s\n",
        # for/else
        "    for i in range(n):\n        if i == 3:\n            break\n    else:\n        return -1\n    return 1\n",
        # loop variable read after the loop
        "    for i in range(n):\n        pass\n    return i\n",
        # loop variable captured by a closure (late binding)
        "    fs = []\n    for i in range(n):\n        fs.append(lambda: i)\n    return [g() for g in fs]\n",
        # loop variable reassigned in the body
        "    s = 0\n    for i in range(n):\n        i = i * 2\n        s += i\n    return s\n",
        # not a range
        "    s = 0\n    for x in xs:\n        s += x\n    return s\n",
    ],
)
def test_for_to_while_skips_unsafe_loops(body: str) -> None:
    assert REGISTRY["for_to_while"].apply(_loop_task(body), 0) is None


def test_for_to_while_skips_shadowed_range() -> None:
    t = task(
        "def range(n):\n    return [0]\n\ndef f(n):\n",
        "    s = 0\n    for i in range(n):\n        s += 1\n    return s\n",
        "f",
    )
    assert REGISTRY["for_to_while"].apply(t, 0) is None


def test_for_to_while_hoists_a_bound_the_body_changes() -> None:
    t = _loop_task(
        "    xs = list(xs)\n    for i in range(len(xs)):\n        xs.append(i)\n    return xs\n"
    )
    out = REGISTRY["for_to_while"].apply(t, 0)
    assert out is not None
    assert call(out.program, "f", 0, [5, 6]) == [5, 6, 0, 1]


def test_for_to_while_inner_continue_belongs_to_inner_loop() -> None:
    t = _loop_task(
        "    s = 0\n    for i in range(n):\n        for x in xs:\n            if x:\n"
        "                continue\n            s += i\n    return s\n"
    )
    out = REGISTRY["for_to_while"].apply(t, 0)
    assert out is not None
    assert call(out.program, "f", 4, [0, 1, 0]) == call(full_program(t), "f", 4, [0, 1, 0])


# --------------------------------------------------------------------------- dead code


FORBIDDEN = (ast.Yield, ast.YieldFrom, ast.Await, ast.Global, ast.Nonlocal)


def _count(program: str, kinds: tuple[type, ...]) -> int:
    return sum(isinstance(n, kinds) for n in ast.walk(ast.parse(program)))


def _stored(program: str) -> set[str]:
    return {
        n.id
        for n in ast.walk(ast.parse(program))
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _names(program: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(program)) if isinstance(n, ast.Name)}


@pytest.mark.parametrize("seed", range(12))
def test_dead_code_adds_no_yield_await_global_or_shadowing(
    he_tasks: dict[str, SimpleTask], mbpp_tasks: dict[str, SimpleTask], seed: int
) -> None:
    for t in (he_tasks["HumanEval/32"], he_tasks["HumanEval/39"], mbpp_tasks["Mbpp/20"]):
        out = REGISTRY["dead_code"].apply(t, seed)
        assert out is not None
        before = full_program(t)
        assert _count(out.program, FORBIDDEN) == _count(before, FORBIDDEN)
        new_stores = _stored(out.program) - _stored(before)
        assert not new_stores & _names(before)  # fresh names only: nothing becomes local
        assert _stored(out.program) - new_stores == _stored(before)


def test_dead_code_goes_after_the_docstring(he_tasks: dict[str, SimpleTask]) -> None:
    t = he_tasks["HumanEval/0"]
    out = REGISTRY["dead_code"].apply(t, 0)
    assert out is not None and not out.partial
    fd = [n for n in ast.parse(out.program).body if isinstance(n, ast.FunctionDef)][0]
    assert ast.get_docstring(fd) is not None
    assert out.prompt.startswith(t.prompt.rstrip("\n").rsplit('"""', 1)[0])


# --------------------------------------------------------------------------- indentation


def _indents(program: str) -> set[str]:
    toks = tokenize.generate_tokens(io.StringIO(program).readline)
    return {tok.string for tok in toks if tok.type == tokenize.INDENT}


@pytest.mark.parametrize(
    "rel, check",
    [
        ("indent_tabs", lambda s: set(s) == {"\t"}),
        ("indent_spaces", lambda s: set(s) == {" "} and len(s) % 2 == 0),
    ],
)
def test_indentation_applies_to_the_solution(
    he_tasks: dict[str, SimpleTask], rel: str, check: Any
) -> None:
    t = he_tasks["HumanEval/32"]
    out = REGISTRY[rel].apply(t, 0)
    assert out is not None
    indents = _indents(out.program)
    assert indents and all(check(s) for s in indents)
    assert _indents(out.prompt + "    pass\n" if out.prompt.endswith(":\n") else out.prompt)
    assert call(out.program, "find_zero", [-6, 11, -6, 1]) == pytest.approx(
        call(full_program(t), "find_zero", [-6, 11, -6, 1])
    )


def test_indent_spaces_two_to_four_for_mbpp(mbpp_tasks: dict[str, SimpleTask]) -> None:
    t = mbpp_tasks["Mbpp/18"]  # tab-indented, body of three statements
    out = REGISTRY["indent_spaces"].apply(t, 0)
    assert out is not None and out.partial
    assert _indents(out.program) == {"    ", "        "}
    assert REGISTRY["indent_tabs"].apply(t, 0) is None  # already tabs


# --------------------------------------------------------------------------- other relations


def test_docstring_to_comments_prompt_is_completable(he_tasks: dict[str, SimpleTask]) -> None:
    t = he_tasks["HumanEval/0"]
    out = REGISTRY["docstring_to_comments"].apply(t, 0)
    assert out is not None
    assert '"""' not in out.prompt and "    # Check if in given list" in out.prompt
    assert parses_as_prefix(out.prompt)
    assert static_check(out) is None


def test_split_signature_breaks_inside_brackets(he_tasks: dict[str, SimpleTask]) -> None:
    t = he_tasks["HumanEval/0"]
    outs = {REGISTRY["split_signature"].apply(t, s).prompt for s in range(6)}  # type: ignore[union-attr]
    assert any("def has_close_elements(\n    numbers: List[float],\n" in p for p in outs)
    assert any("def has_close_elements(\n    numbers: List[float], threshold: float\n)" in p for p in outs)


def test_comparison_swap_mirrors_pure_operands_only() -> None:
    t = task(
        "def f(xs, k):\n",
        "    a = len(xs) <= k\n    b = xs.pop() < xs.pop() if len(xs) > 1 else False\n"
        "    c = 0 < k < 5\n    return a, b, c\n",
        "f",
    )
    out = REGISTRY["comparison_swap"].apply(t, 0)
    assert out is not None
    assert "k >= len(xs)" in out.prompt
    assert "xs.pop() < xs.pop()" in out.prompt  # calls with side effects keep their order
    assert "0 < k < 5" in out.program  # chains are left alone
    assert call(out.program, "f", [3, 1], 2) == call(full_program(t), "f", [3, 1], 2)


@pytest.mark.parametrize("rel", ["docstring_synonyms", "docstring_typos", "docstring_case"])
def test_soft_relations_leave_code_and_doctests(he_tasks: dict[str, SimpleTask], rel: str) -> None:
    t = he_tasks["HumanEval/0"]
    out = REGISTRY[rel].apply(t, 5)
    assert out is not None and out.group == "soft"
    assert out.solution == t.canonical_solution
    for line in t.prompt.splitlines():
        if ">>>" in line or line.strip() in ("True", "False") or "def " in line:
            assert line in out.prompt


def test_static_check_reasons() -> None:
    base = dict(
        task_id="T/0", relation="x", group="strict", seed=0, base_prompt="def f():\n",
        base_program="def f():\n    return 1\n", base_entry_point="f", partial=False,
    )
    same = Transformed(prompt="def f():\n", program="def f():\n    return 1\n", entry_point="f", **base)  # type: ignore[arg-type]
    assert static_check(same) == "prompt unchanged"
    broken = Transformed(prompt="def  f():\n", program="def  f():\n    return (\n", entry_point="f", **base)  # type: ignore[arg-type]
    assert "does not parse" in (static_check(broken) or "")
    wrong = Transformed(prompt="def  f():\n", program="def  f():\n    return 1\n", entry_point="g", **base)  # type: ignore[arg-type]
    assert "does not define g" in (static_check(wrong) or "")


def test_not_applicable_is_none() -> None:
    class Never(Relation):
        name = "never_registered"

        def transform(self, src: Source, rng: Any) -> Source | None:
            raise NotApplicable("never")

    assert Never().apply(task("def f():\n", "    return 1\n", "f"), 0) is None
