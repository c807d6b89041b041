"""Hand-labelled failing solutions: at least two per taxonomy category, on HumanEval+ and MBPP+.

Each entry is a full program (evalplus ``solution``) written to fail in one way on the real
tests of its task, *at the first failing test input*: the sandbox reports only the first
failure, so a solution that gave a wrong answer on an earlier input would be labelled
``AssertionError:wrong_answer`` instead. The bugs imitate what code models actually produce
(off-by-one ranges, a forgotten ``i += 1``, markdown fences, hallucinated helper modules,
generation cut by the token limit).

Used twice: ``test_taxonomy.py`` checks the structure and classifies each entry against the
row the sandbox is expected to produce (:func:`expected_row`); the slow sandbox test runs
every solution through ``harness.execution.execute`` and checks the label end to end.

Keys: ``id`` (unique), ``task_id``, ``solution``, ``category`` (the label), ``error_type`` (the
exception the sandbox should report), ``message`` (``str(exc)`` as CPython 3.11 words it, or
the sandbox's own text for a missing entry point; None where no message is expected or
needed), optional ``finish_reason`` (generation metadata, for ``function_overflow``) and
``why``. Every entry was checked against the real HumanEval+/MBPP+ inputs.
"""

from __future__ import annotations

from typing import Any

FIXTURES: list[dict[str, Any]] = [
    # ------------------------------------------------------------ AssertionError:empty_function
    {
        "id": "he13-pass",
        "task_id": "HumanEval/13",
        "category": "AssertionError:empty_function",
        "error_type": "AssertionError",
        "message": None,
        "solution": (
            "def greatest_common_divisor(a: int, b: int) -> int:\n"
            '    """ Return a greatest common divisor of two integers a and b """\n'
            "    pass\n"
        ),
        "why": "body is a docstring and pass: returns None",
    },
    {
        "id": "he0-docstring-only",
        "task_id": "HumanEval/0",
        "category": "AssertionError:empty_function",
        "error_type": "AssertionError",
        "message": None,
        "solution": (
            "from typing import List\n\n\n"
            "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
            '    """ Check if in given list of numbers, are any two numbers closer to each other\n'
            '    than given threshold. """\n'
        ),
        "why": "the model repeated the prompt and stopped",
    },
    {
        "id": "mbpp8-return-constant",
        "task_id": "Mbpp/8",
        "category": "AssertionError:empty_function",
        "error_type": "AssertionError",
        "message": None,
        "solution": "def square_nums(nums):\n    # TODO: square every element\n    return []\n",
        "why": "returns a constant",
    },
    # ------------------------------------------------------------ AssertionError:wrong_answer
    {
        "id": "he35-min-for-max",
        "task_id": "HumanEval/35",
        "category": "AssertionError:wrong_answer",
        "error_type": "AssertionError",
        "message": None,
        "solution": "def max_element(l: list):\n    return min(l)\n",
    },
    {
        "id": "mbpp17-area-for-perimeter",
        "task_id": "Mbpp/17",
        "category": "AssertionError:wrong_answer",
        "error_type": "AssertionError",
        "message": None,
        "solution": "def square_perimeter(a):\n    return a * a\n",
    },
    # ------------------------------------------------------------ NameError:wrong_function_name
    {
        "id": "he53-add-numbers",
        "task_id": "HumanEval/53",
        "category": "NameError:wrong_function_name",
        "error_type": "NameError",
        "message": "entry point 'add' is not defined",
        "solution": "def add_numbers(x: int, y: int) -> int:\n    return x + y\n",
    },
    {
        "id": "mbpp62-smallest-number",
        "task_id": "Mbpp/62",
        "category": "NameError:wrong_function_name",
        "error_type": "NameError",
        "message": "entry point 'smallest_num' is not defined",
        "solution": "def smallest_number(xs):\n    return min(xs)\n",
    },
    # ------------------------------------------------------------ NameError:missing_content
    {
        "id": "he2-comment-only",
        "task_id": "HumanEval/2",
        "category": "NameError:missing_content",
        "error_type": "NameError",
        "message": "entry point 'truncate_number' is not defined",
        "solution": "# I am sorry, I cannot complete this function.\n",
    },
    {
        "id": "mbpp14-imports-only",
        "task_id": "Mbpp/14",
        "category": "NameError:missing_content",
        "error_type": "NameError",
        "message": "entry point 'find_Volume' is not defined",
        "solution": "import math\n\n",
    },
    # ------------------------------------------------------------ NameError:missing_import
    {
        "id": "he4-typing-list",
        "task_id": "HumanEval/4",
        "category": "NameError:missing_import",
        "error_type": "NameError",
        "message": "name 'List' is not defined",
        "solution": (
            "def mean_absolute_deviation(numbers: List[float]) -> float:\n"
            "    mean = sum(numbers) / len(numbers)\n"
            "    return sum(abs(x - mean) for x in numbers) / len(numbers)\n"
        ),
        "why": (
            "annotation evaluated at def time, typing never imported (also checks that the "
            "sandbox does not compile candidates under `from __future__ import annotations`)"
        ),
    },
    {
        "id": "he4-statistics-module",
        "task_id": "HumanEval/4",
        "category": "NameError:missing_import",
        "error_type": "NameError",
        "message": "name 'statistics' is not defined",
        "solution": (
            "def mean_absolute_deviation(numbers):\n"
            "    mean = statistics.mean(numbers)\n"
            "    return sum(abs(x - mean) for x in numbers) / len(numbers)\n"
        ),
    },
    {
        "id": "mbpp82-math-pi",
        "task_id": "Mbpp/82",
        "category": "NameError:missing_import",
        "error_type": "NameError",
        "message": "name 'math' is not defined",
        "solution": "def volume_sphere(r):\n    return (4 / 3) * math.pi * r ** 3\n",
    },
    # ------------------------------------------------------------ NameError:undefined_name
    {
        "id": "he16-wrong-parameter",
        "task_id": "HumanEval/16",
        "category": "NameError:undefined_name",
        "error_type": "NameError",
        "message": "name 's' is not defined",
        "solution": (
            "def count_distinct_characters(string: str) -> int:\n    return len(set(s.lower()))\n"
        ),
    },
    {
        "id": "mbpp66-undefined-list",
        "task_id": "Mbpp/66",
        "category": "NameError:undefined_name",
        "error_type": "NameError",
        "message": "name 'nums' is not defined",
        "solution": "def pos_count(lst):\n    return len([x for x in nums if x > 0])\n",
    },
    # ------------------------------------------------------------ SyntaxError:unbalanced_delimiters
    {
        "id": "he23-unclosed-paren",
        "task_id": "HumanEval/23",
        "category": "SyntaxError:unbalanced_delimiters",
        "error_type": "SyntaxError",
        "message": "'(' was never closed (<candidate>, line 2)",
        "solution": "def strlen(string: str) -> int:\n    return len(string\n",
    },
    {
        "id": "mbpp8-mismatched-bracket",
        "task_id": "Mbpp/8",
        "category": "SyntaxError:unbalanced_delimiters",
        "error_type": "SyntaxError",
        "message": "closing parenthesis ']' does not match opening parenthesis '(' (<candidate>, line 2)",
        "solution": "def square_nums(nums):\n    return list(map(lambda x: x ** 2, nums)]\n",
    },
    # ------------------------------------------------------------ SyntaxError:function_overflow
    {
        "id": "he53-overflow-docstring",
        "task_id": "HumanEval/53",
        "category": "SyntaxError:function_overflow",
        "error_type": "SyntaxError",
        "message": "unterminated triple-quoted string literal (detected at line 11) (<candidate>, line 10)",
        "finish_reason": "length",
        "solution": (
            "def add(x: int, y: int):\n"
            "    return x + y\n\n\n"
            "def subtract(x: int, y: int):\n"
            "    return x - y\n\n\n"
            "def multiply(x: int, y: int):\n"
            '    """Multiply two numbers x and y\n'
            "    >>> multiply(2, 3)\n"
        ),
        "why": "kept writing sibling functions until max_new_tokens cut a docstring",
    },
    {
        "id": "mbpp17-overflow-expression",
        "task_id": "Mbpp/17",
        "category": "SyntaxError:function_overflow",
        "error_type": "SyntaxError",
        "message": "'(' was never closed (<candidate>, line 10)",
        "finish_reason": "length",
        "solution": (
            "def square_perimeter(a):\n"
            "    return 4 * a\n\n\n"
            "def square_area(a):\n"
            "    return a * a\n\n\n"
            "def rectangle_perimeter(length, width):\n"
            "    return 2 * (length +\n"
        ),
    },
    {
        "id": "he55-overflow-empty-block",
        "task_id": "HumanEval/55",
        "category": "SyntaxError:function_overflow",
        "error_type": "IndentationError",
        "message": "expected an indented block after function definition on line 8 (<candidate>, line 8)",
        "finish_reason": "length",
        "solution": (
            "def fib(n: int):\n"
            "    a, b = 0, 1\n"
            "    for _ in range(n):\n"
            "        a, b = b, a + b\n"
            "    return a\n\n\n"
            "def fib_memo(n: int, memo={}):\n"
        ),
        "why": "cut right after a def line: an IndentationError, still an overflow",
    },
    # ------------------------------------------------------------ SyntaxError:invalid_syntax
    {
        "id": "he34-missing-colon",
        "task_id": "HumanEval/34",
        "category": "SyntaxError:invalid_syntax",
        "error_type": "SyntaxError",
        "message": "expected ':' (<candidate>, line 3)",
        "solution": (
            "def unique(l: list):\n"
            "    result = []\n"
            "    for x in sorted(l)\n"
            "        if x not in result:\n"
            "            result.append(x)\n"
            "    return result\n"
        ),
    },
    {
        "id": "mbpp62-markdown-fence",
        "task_id": "Mbpp/62",
        "category": "SyntaxError:invalid_syntax",
        "error_type": "SyntaxError",
        "message": "invalid syntax (<candidate>, line 1)",
        "solution": "```python\ndef smallest_num(xs):\n    return min(xs)\n```\n",
    },
    {
        "id": "mbpp79-chatty-prose",
        "task_id": "Mbpp/79",
        "category": "SyntaxError:invalid_syntax",
        "error_type": "SyntaxError",
        "message": "unterminated string literal (detected at line 1) (<candidate>, line 1)",
        "solution": (
            "Here's the function you asked for:\n\ndef word_len(s):\n    return len(s) % 2 == 1\n"
        ),
        "why": "the apostrophe reads as an unterminated string, but this is prose, not a delimiter",
    },
    # ------------------------------------------------------------ ValueError:empty_sequence
    {
        "id": "he12-max-of-empty",
        "task_id": "HumanEval/12",
        "category": "ValueError:empty_sequence",
        "error_type": "ValueError",
        "message": "max() arg is an empty sequence",
        "solution": (
            "from typing import List, Optional\n\n\n"
            "def longest(strings: List[str]) -> Optional[str]:\n"
            "    return max(strings, key=len)\n"
        ),
        "why": "the first test input is []",
    },
    {
        "id": "mbpp9-min-of-empty",
        "task_id": "Mbpp/9",
        "category": "ValueError:empty_sequence",
        "error_type": "ValueError",
        "message": "min() arg is an empty sequence",
        "solution": (
            "def find_Rotations(s):\n"
            "    return min(i for i in range(1, len(s)) if s[i:] + s[:i] == s)\n"
        ),
        "why": "off by one: a full rotation (i == len(s)) is never tried, 'ab' has none left",
    },
    # ------------------------------------------------------------ ValueError:deliberate_raise
    {
        "id": "he12-raise-on-empty",
        "task_id": "HumanEval/12",
        "category": "ValueError:deliberate_raise",
        "error_type": "ValueError",
        "message": "empty list",
        "solution": (
            "from typing import List, Optional\n\n\n"
            "def longest(strings: List[str]) -> Optional[str]:\n"
            "    if not strings:\n"
            '        raise ValueError("empty list")\n'
            "    best = strings[0]\n"
            "    for s in strings:\n"
            "        if len(s) > len(best):\n"
            "            best = s\n"
            "    return best\n"
        ),
        "why": "the docstring asks for None on []; the model raises instead",
    },
    {
        "id": "mbpp3-raise-small-n",
        "task_id": "Mbpp/3",
        "category": "ValueError:deliberate_raise",
        "error_type": "ValueError",
        "message": "n must be at least 2, got 1",
        "solution": (
            "def is_not_prime(n):\n"
            "    if n < 2:\n"
            '        raise ValueError(f"n must be at least 2, got {n}")\n'
            "    for i in range(2, int(n ** 0.5) + 1):\n"
            "        if n % i == 0:\n"
            "            return True\n"
            "    return False\n"
        ),
    },
    # ------------------------------------------------------------ ValueError:inappropriate_argument
    {
        "id": "he19-index-of-empty-word",
        "task_id": "HumanEval/19",
        "category": "ValueError:inappropriate_argument",
        "error_type": "ValueError",
        "message": "'' is not in list",
        "solution": (
            "def sort_numbers(numbers: str) -> str:\n"
            "    names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',\n"
            "             'eight', 'nine']\n"
            "    return ' '.join(sorted(numbers.split(' '), key=names.index))\n"
        ),
        "why": "''.split(' ') is [''], and '' is not a number name",
    },
    {
        "id": "mbpp57-int-of-spaced",
        "task_id": "Mbpp/57",
        "category": "ValueError:inappropriate_argument",
        "error_type": "ValueError",
        "message": "invalid literal for int() with base 10: '3 2 1'",
        "solution": (
            "def find_Max_Num(arr):\n"
            "    digits = sorted(arr, reverse=True)\n"
            "    return int(' '.join(str(d) for d in digits))\n"
        ),
    },
    # ------------------------------------------------------------ IndexError:out_of_range
    {
        "id": "he12-last-of-empty",
        "task_id": "HumanEval/12",
        "category": "IndexError:out_of_range",
        "error_type": "IndexError",
        "message": "list index out of range",
        "solution": (
            "from typing import List, Optional\n\n\n"
            "def longest(strings: List[str]) -> Optional[str]:\n"
            "    return sorted(strings, key=len)[-1]\n"
        ),
    },
    {
        "id": "mbpp8-off-by-one",
        "task_id": "Mbpp/8",
        "category": "IndexError:out_of_range",
        "error_type": "IndexError",
        "message": "list index out of range",
        "solution": (
            "def square_nums(nums):\n    return [nums[i] ** 2 for i in range(len(nums) + 1)]\n"
        ),
    },
    # ------------------------------------------------------------ TypeError:incompatible_operation
    {
        "id": "he23-sum-of-str",
        "task_id": "HumanEval/23",
        "category": "TypeError:incompatible_operation",
        "error_type": "TypeError",
        "message": "unsupported operand type(s) for +: 'int' and 'str'",
        "solution": "def strlen(string: str) -> int:\n    return sum(string)\n",
        "why": "passes on '' (sum('') == 0), fails on 'x'",
    },
    {
        "id": "mbpp66-len-of-generator",
        "task_id": "Mbpp/66",
        "category": "TypeError:incompatible_operation",
        "error_type": "TypeError",
        "message": "object of type 'generator' has no len()",
        "solution": "def pos_count(lst):\n    return len(x for x in lst if x > 0)\n",
    },
    # ------------------------------------------------------------ AttributeError:nonexistent_attribute
    {
        "id": "he27-swap-case",
        "task_id": "HumanEval/27",
        "category": "AttributeError:nonexistent_attribute",
        "error_type": "AttributeError",
        "message": "'str' object has no attribute 'swap_case'",
        "solution": "def flip_case(string: str) -> str:\n    return string.swap_case()\n",
    },
    {
        "id": "mbpp8-list-map",
        "task_id": "Mbpp/8",
        "category": "AttributeError:nonexistent_attribute",
        "error_type": "AttributeError",
        "message": "'list' object has no attribute 'map'",
        "solution": "def square_nums(nums):\n    return nums.map(lambda x: x ** 2)\n",
    },
    # ------------------------------------------------------------ TimeoutError:timeout
    {
        "id": "he31-missing-increment",
        "task_id": "HumanEval/31",
        "category": "TimeoutError:timeout",
        "error_type": "TimeoutError",
        "message": None,
        "solution": (
            "def is_prime(n):\n"
            "    if n < 2:\n"
            "        return False\n"
            "    i = 2\n"
            "    while i * i <= n:\n"
            "        if n % i == 0:\n"
            "            return False\n"
            "    return True\n"
        ),
        "why": "returns at once for 6, loops forever on 101 (i never grows)",
    },
    {
        "id": "mbpp80-missing-increment",
        "task_id": "Mbpp/80",
        "category": "TimeoutError:timeout",
        "error_type": "TimeoutError",
        "message": None,
        "solution": (
            "def tetrahedral_number(n):\n"
            "    total = 0\n"
            "    k = 1\n"
            "    while k <= n:\n"
            "        total += k * (k + 1) // 2\n"
            "    return total\n"
        ),
    },
    # ------------------------------------------------------------ IndentationError:inconsistent_indentation
    {
        "id": "he53-dedent-mismatch",
        "task_id": "HumanEval/53",
        "category": "IndentationError:inconsistent_indentation",
        "error_type": "IndentationError",
        "message": "unindent does not match any outer indentation level (<candidate>, line 3)",
        "solution": "def add(x: int, y: int):\n    result = x + y\n  return result\n",
    },
    {
        "id": "mbpp17-tabs-and-spaces",
        "task_id": "Mbpp/17",
        "category": "IndentationError:inconsistent_indentation",
        "error_type": "TabError",
        "message": "inconsistent use of tabs and spaces in indentation (<candidate>, line 3)",
        "solution": "def square_perimeter(a):\n    if a < 0:\n\treturn 0\n    return 4 * a\n",
    },
    # ------------------------------------------------------------ ModuleNotFoundError:missing_module
    {
        "id": "he13-hallucinated-module",
        "task_id": "HumanEval/13",
        "category": "ModuleNotFoundError:missing_module",
        "error_type": "ModuleNotFoundError",
        "message": "No module named 'number_theory'",
        "solution": (
            "from number_theory import gcd\n\n\n"
            "def greatest_common_divisor(a: int, b: int) -> int:\n"
            "    return gcd(a, b)\n"
        ),
    },
    {
        "id": "mbpp65-hallucinated-module",
        "task_id": "Mbpp/65",
        "category": "ModuleNotFoundError:missing_module",
        "error_type": "ModuleNotFoundError",
        "message": "No module named 'listutils'",
        "solution": (
            "from listutils import flatten\n\n\n"
            "def recursive_list_sum(data_list):\n"
            "    return sum(flatten(data_list))\n"
        ),
    },
    # ------------------------------------------------------------ KeyError:missing_key
    {
        "id": "he19-dict-of-empty-word",
        "task_id": "HumanEval/19",
        "category": "KeyError:missing_key",
        "error_type": "KeyError",
        "message": "''",
        "solution": (
            "def sort_numbers(numbers: str) -> str:\n"
            "    value = {'zero': 0, 'one': 1, 'two': 2, 'three': 3, 'four': 4,\n"
            "             'five': 5, 'six': 6, 'seven': 7, 'eight': 8, 'nine': 9}\n"
            "    return ' '.join(sorted(numbers.split(' '), key=lambda w: value[w]))\n"
        ),
    },
    {
        "id": "mbpp74-never-inserted",
        "task_id": "Mbpp/74",
        "category": "KeyError:missing_key",
        "error_type": "KeyError",
        "message": "'a'",
        "solution": (
            "def is_samepatterns(colors, patterns):\n"
            "    if len(colors) != len(patterns):\n"
            "        return False\n"
            "    seen = {}\n"
            "    for color, pattern in zip(colors, patterns):\n"
            "        if seen[pattern] != color:\n"
            "            return False\n"
            "    return True\n"
        ),
    },
    # ------------------------------------------------------------ UnboundLocalError:unassigned_variable
    {
        "id": "he12-best-never-set",
        "task_id": "HumanEval/12",
        "category": "UnboundLocalError:unassigned_variable",
        "error_type": "UnboundLocalError",
        "message": "cannot access local variable 'best' where it is not associated with a value",
        "solution": (
            "from typing import List, Optional\n\n\n"
            "def longest(strings: List[str]) -> Optional[str]:\n"
            "    for s in strings:\n"
            "        if best is None or len(s) > len(best):\n"
            "            best = s\n"
            "    return best\n"
        ),
    },
    {
        "id": "mbpp62-smallest-never-set",
        "task_id": "Mbpp/62",
        "category": "UnboundLocalError:unassigned_variable",
        "error_type": "UnboundLocalError",
        "message": "cannot access local variable 'smallest' where it is not associated with a value",
        "solution": (
            "def smallest_num(xs):\n"
            "    for x in xs:\n"
            "        if x < smallest:\n"
            "            smallest = x\n"
            "    return smallest\n"
        ),
    },
    # ------------------------------------------------------------ RecursionError:infinite_recursion
    {
        "id": "he55-no-base-case",
        "task_id": "HumanEval/55",
        "category": "RecursionError:infinite_recursion",
        "error_type": "RecursionError",
        "message": "maximum recursion depth exceeded",
        "solution": "def fib(n: int):\n    return fib(n - 1) + fib(n - 2)\n",
    },
    {
        "id": "mbpp65-recurse-on-whole-list",
        "task_id": "Mbpp/65",
        "category": "RecursionError:infinite_recursion",
        "error_type": "RecursionError",
        "message": "maximum recursion depth exceeded",
        "solution": (
            "def recursive_list_sum(data_list):\n"
            "    total = 0\n"
            "    for element in data_list:\n"
            "        if isinstance(element, list):\n"
            "            total += recursive_list_sum(data_list)\n"
            "        else:\n"
            "            total += element\n"
            "    return total\n"
        ),
        "why": "recurses on data_list instead of element",
    },
    # ------------------------------------------------------------ NotImplementedError:deliberate_raise
    {
        "id": "he39-todo",
        "task_id": "HumanEval/39",
        "category": "NotImplementedError:deliberate_raise",
        "error_type": "NotImplementedError",
        "message": "TODO",
        "solution": (
            "def prime_fib(n: int):\n"
            '    """prime_fib returns n-th number that is a Fibonacci number and also prime."""\n'
            '    raise NotImplementedError("TODO")\n'
        ),
    },
    {
        "id": "mbpp67-stub",
        "task_id": "Mbpp/67",
        "category": "NotImplementedError:deliberate_raise",
        "error_type": "NotImplementedError",
        "message": "",
        "solution": "def bell_number(n):\n    raise NotImplementedError\n",
    },
    # ------------------------------------------------------------ <ExceptionName>:other
    {
        "id": "he24-modulo-zero",
        "task_id": "HumanEval/24",
        "category": "ZeroDivisionError:other",
        "error_type": "ZeroDivisionError",
        "message": "integer modulo by zero",
        "solution": (
            "def largest_divisor(n: int) -> int:\n"
            "    return max(i for i in range(n) if n % i == 0)\n"
        ),
        "why": "range starts at 0",
    },
    {
        "id": "mbpp61-empty-substring",
        "task_id": "Mbpp/61",
        "category": "ZeroDivisionError:other",
        "error_type": "ZeroDivisionError",
        "message": "division by zero",
        "solution": (
            "def count_Substrings(s):\n"
            "    count = 0\n"
            "    for i in range(len(s)):\n"
            "        for j in range(i, len(s)):\n"
            "            digits = s[i:j]\n"
            "            if sum(int(c) for c in digits) / len(digits) == 1:\n"
            "                count += 1\n"
            "    return count\n"
        ),
        "why": "s[i:i] is empty",
    },
]

#: Where the sandbox reports each fixture's failure (DESIGN.md ``error_in``).
ERROR_IN: dict[str, str] = {
    "AssertionError": "test",
    "SyntaxError": "compile",
    "IndentationError": "compile",
    "TabError": "compile",
    "TimeoutError": "harness",
}


def expected_row(fixture: dict[str, Any]) -> dict[str, Any]:
    """The results.jsonl row the sandbox should produce for a fixture (for unit tests)."""
    error_type = fixture["error_type"]
    error_in = ERROR_IN.get(error_type, "candidate")
    if (fixture["message"] or "").startswith("entry point "):
        error_in = "harness"
    row: dict[str, Any] = {
        "task_id": fixture["task_id"],
        "sample_index": 0,
        "passed": False,
        "base_passed": False,
        "plus_passed": False,
        "error_type": error_type,
        "error_message": fixture["message"],
        "error_in": error_in,
    }
    if "finish_reason" in fixture:
        row["finish_reason"] = fixture["finish_reason"]
    return row
