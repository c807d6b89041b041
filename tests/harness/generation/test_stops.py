"""Stop rules, fence handling, code extraction and program building."""

from __future__ import annotations

from harness.generation.stops import (
    HUMANEVAL_STOPS,
    MBPP_STOPS,
    StopRule,
    build_program,
    closed_fence_end,
    completion_stops,
    extract_code,
    prompt_context,
)


def test_stops_per_dataset() -> None:
    assert completion_stops("humaneval") == completion_stops("humaneval+") == HUMANEVAL_STOPS
    assert completion_stops("mbpp") == completion_stops("mbpp+") == MBPP_STOPS
    assert "\ndef " in HUMANEVAL_STOPS and "\ndef " not in MBPP_STOPS
    for s in ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert"):
        assert s in HUMANEVAL_STOPS


def test_rule_finds_earliest_stop() -> None:
    rule = StopRule(strings=("\ndef ", "\nprint("))
    assert rule.find("    return 1\nprint(f())\ndef g") == len("    return 1")
    assert rule.find("    return 1\n") is None
    assert rule.find("    def inner():\n        pass") is None  # nested def is not a stop
    assert rule.window >= len("\nprint(")


def test_closed_fence() -> None:
    text = "Sure:\n```python\ndef f():\n    return 1\n```\nmore text"
    end = closed_fence_end(text)
    assert end is not None and text[:end].endswith("return 1\n```")
    assert closed_fence_end("```python\ndef f():\n    return 1\n") is None
    assert closed_fence_end("```") is None
    # a block without the entry point does not end the answer
    two = "```bash\npip install x\n```\n```python\ndef f():\n    return 1\n```\n"
    assert two[: closed_fence_end(two, "def f(")].endswith("return 1\n```")
    rule = StopRule(close_fence=True, fence_needle="def f(")
    assert rule.find(two) == closed_fence_end(two, "def f(")
    assert rule.maybe_in_tail("x\n```") and not rule.maybe_in_tail("x = 1")


def test_extract_prefers_block_with_entry_point() -> None:
    text = "```python\nimport os\n```\nthen\n```python\ndef g():\n    return 2\n\ndef f():\n    return g()\n\nassert f() == 2\n```"
    code = extract_code(text, "f")
    assert code == "def g():\n    return 2\n\ndef f():\n    return g()\n"


def test_extract_raw_answer_skips_prose() -> None:
    text = "The answer is below.\ndef f(x):\n    return x + 1\n"
    assert extract_code(text, "f") == "def f(x):\n    return x + 1\n"


def test_extract_keeps_unparsable_code_visible() -> None:
    text = "```python\ndef f(x):\n    return (x +\n"
    assert extract_code(text, "f") == "def f(x):\n    return (x +\n"


def test_extract_keeps_decorators_and_imports() -> None:
    text = "```python\nimport functools\n\n@functools.lru_cache\ndef f(n):\n    return n\nprint(f(2))\n```"
    assert (
        extract_code(text, "f")
        == "import functools\n\n@functools.lru_cache\ndef f(n):\n    return n\n"
    )


def test_program_gets_prompt_imports_and_helpers() -> None:
    prompt = (
        "import math\nfrom typing import List\n\n\ndef is_palindrome(s: str) -> bool:\n    return s == s[::-1]\n\n\n"
        'def make_palindrome(s: str) -> str:\n    """ doc """\n'
    )
    imports, helpers = prompt_context(prompt, "make_palindrome")
    assert imports == ["import math", "from typing import List"]
    assert [name for name, _ in helpers] == ["is_palindrome"]
    code = (
        "def make_palindrome(s: str) -> str:\n    return s if is_palindrome(s) else s + s[::-1]\n"
    )
    program = build_program(code, prompt, "make_palindrome")
    assert program.startswith(
        "import math\nfrom typing import List\n\n\ndef is_palindrome(s: str) -> bool:\n    return s == s[::-1]\n\n\ndef make_palindrome"
    )
    ns: dict[str, object] = {}
    exec(program, ns)
    # an answer that brings its own imports and helper gets nothing prepended
    own = (
        "import math\nfrom typing import List\n\ndef is_palindrome(s):\n    return True\n\n" + code
    )
    assert build_program(own, prompt, "make_palindrome") == own
