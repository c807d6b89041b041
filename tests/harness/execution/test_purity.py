"""Which samples may run their inputs in several processes: every way to keep state is refused."""

from __future__ import annotations

import pytest

from harness.execution.purity import blocked_attributes, stateless

STATELESS = {
    "loop": "def f(n):\n    s = 0\n    for i in range(1, n + 1):\n        s += i\n    return s, s / n\n",
    "shadowed builtin": "def f(n):\n    sum = 0\n    for i in range(n):\n        sum += i\n    return sum\n",
    "helpers and constants": "import math\nfrom typing import List\nMOD = 10 ** 9 + 7\nNAMES = ('a', 'b')\n"
                             "def g(x):\n    return math.isqrt(x) % MOD\n"
                             "def f(xs: List[int]) -> int:\n    return sum(g(x) for x in xs) + len(NAMES)\n",
    "memo inside the call": "import functools\ndef f(n):\n    @functools.lru_cache(None)\n    def fib(k):\n"
                            "        return k if k < 2 else fib(k - 1) + fib(k - 2)\n    return fib(n)\n",
    "nonlocal in a closure": "def f(n):\n    c = 0\n    def bump():\n        nonlocal c\n        c += 1\n"
                             "    for _ in range(n):\n        bump()\n    return c\n",
    "mutates its argument": "import heapq\ndef f(xs):\n    heapq.heapify(xs)\n    xs.append(1)\n    return xs\n",
    "main guard": "def f(x):\n    return x\nif __name__ == '__main__':\n    print(f(1))\n    counter = []\n",
    "recursion": "def f(n):\n    return 1 if n < 2 else n * f(n - 1)\n",
    "exceptions": "def f(x):\n    try:\n        return 1 / x\n    except ZeroDivisionError as e:\n"
                  "        raise ValueError('zero') from e\n",
    "docstring and pass": "'''module'''\npass\ndef f(x=None, *, y=(1, 'a'), z=-1):\n    return x\n",
}

STATEFUL = {
    "global counter": "n_calls = 0\ndef f(x):\n    global n_calls\n    n_calls += 1\n    return n_calls\n",
    "mutable default": "def f(x, seen=[]):\n    seen.append(x)\n    return len(seen)\n",
    "module-level list": "CACHE = []\ndef f(x):\n    CACHE.append(x)\n    return len(CACHE)\n",
    "module-level dict": "memo = {}\ndef f(x):\n    memo[x] = memo.get(x, 0) + 1\n    return memo[x]\n",
    "decorated memo": "import functools\n@functools.lru_cache(None)\ndef f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\n",
    "state in a helper": "import itertools\nticks = itertools.count()\ndef g():\n    return next(ticks)\n"
                         "def f(x):\n    return g()\n",
    "helper with global": "c = 0\ndef g():\n    global c\n    c += 1\n    return c\ndef f(x):\n    return g()\n",
    "function attribute": "def f(x):\n    f.calls = getattr(f, 'calls', 0) + 1\n    return f.calls\n",
    "attribute store on a module": "import math\ndef f(x):\n    math.tau = x\n    return math.tau\n",
    "random": "import random\ndef f(x):\n    return random.random()\n",
    "random through statistics": "import statistics\ndef f(x):\n    return statistics.random.random()\n",
    "sys through typing": "import typing\ndef f(n):\n    typing.sys.setrecursionlimit(n)\n    return n\n",
    "import inside": "def f(x):\n    import os\n    return os.getpid()\n",
    "globals()": "def f(x):\n    g = globals()\n    g['k'] = g.get('k', 0) + 1\n    return g['k']\n",
    "globals() under a local name": "def f(x):\n    def h():\n        globals = None\n    d = globals()\n    return d\n",
    "dunder access": "def f(x):\n    return f.__defaults__\n",
    "builtins": "def f(x):\n    __builtins__['len'] = None\n    return x\n",
    "print": "def f(x):\n    print(x)\n    return x\n",
    "id": "def f(x):\n    return id(x) % 2\n",
    "ABC register": "import collections\ndef f(x):\n    collections.abc.Sequence.register(int)\n    return 1\n",
    "class at module level": "class C:\n    n = 0\ndef f(x):\n    C.n += 1\n    return C.n\n",
    "call at module level": "def f(x):\n    return x\nf(1)\n",
    "star import": "from math import *\ndef f(x):\n    return sqrt(x)\n",
    "stateful import": "import time\ndef f(x):\n    return x\n",
    "redefined later as a constant": "def f(x):\n    return x\nf = 3\n",
    "no entry point": "def g(x):\n    return x\n",
    "syntax error": "def f(x)\n    return x\n",
    "async": "async def f(x):\n    return x\n",
    "decimal context": "import decimal\ndef f(x):\n    decimal.getcontext().prec = x\n    return 1\n",
    "computed default": "import math\ndef f(x, k=math.factorial(3)):\n    return x\n",
}


@pytest.mark.parametrize("name", sorted(STATELESS))
def test_stateless_programs_are_recognised(name):
    assert stateless(STATELESS[name], "f")


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_every_way_to_keep_state_is_refused(name):
    assert not stateless(STATEFUL[name], "f")


def test_blocked_attributes_lead_out_of_the_safe_modules():
    blocked = blocked_attributes()
    assert {"sys", "random", "register"} <= blocked
    assert not blocked & {"abc", "math", "copy", "append", "sqrt"}
