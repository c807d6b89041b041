"""The validity table: static and dynamic verdicts, reasons, JSON round trip."""

from __future__ import annotations

import itertools
import random
from typing import Any

from harness.metamorphic import (
    REGISTRY,
    ProgramSpec,
    Relation,
    SimpleTask,
    Source,
    ValidityTable,
    valid_transforms,
    validate,
)

INPUTS = {"T/0": [[1, 2], [3, 4]], "T/1": [[5]]}


def tasks() -> list[SimpleTask]:
    return [
        SimpleTask(
            "T/0",
            'def add_two(a, b):\n    """Add the first number to the second number."""\n',
            "add_two",
            "    s = 0\n    for i in range(a):\n        s += 1\n    return s + b\n",
        ),
        SimpleTask("T/1", "def twice(x):\n", "twice", "    return x * 2\n"),
    ]


def in_process(programs: list[ProgramSpec]) -> list[list[Any] | None]:
    """A tiny trusted runner: exec each program in-process."""
    out: list[list[Any] | None] = []
    for task_id, program, entry in programs:
        ns: dict[str, Any] = {}
        try:
            exec(program, ns)
            out.append([repr(ns[entry](*args)) for args in INPUTS[task_id]])
        except Exception:
            out.append(None)
    return out


class Breaks(Relation):
    """Changes behaviour on purpose: the dynamic check must reject it."""

    name = "breaks_behaviour"

    def transform(self, src: Source, rng: random.Random) -> Source | None:
        rest = src.rest.replace("* 2", "* 3").replace("+ b", "- b")
        return Source(src.prompt + "    # changed\n", rest, src.entry_point)


def test_validate_static_and_dynamic() -> None:
    rels = ["dead_code", "entry_point_case", "for_to_while", Breaks()]
    table = validate(tasks(), rels, in_process)
    assert table.dynamic
    assert table.is_valid("T/0", "dead_code") and table.is_valid("T/1", "dead_code")
    assert table.is_valid("T/0", "entry_point_case")
    assert table.get("T/0", "entry_point_case").entry_point == "addTwo"  # type: ignore[union-attr]
    assert table.get("T/1", "entry_point_case").stage == "not_applicable"  # type: ignore[union-attr]
    assert table.is_valid("T/0", "for_to_while")
    broken = table.get("T/1", "breaks_behaviour")
    assert broken is not None and not broken.valid
    assert broken.stage == "dynamic" and broken.reason == "output differs on input 0"
    summary = table.summary()
    assert summary["dead_code"]["valid"] == 2 and summary["dead_code"]["share"] == 1.0
    assert summary["breaks_behaviour"]["static_valid"] == 2
    assert summary["breaks_behaviour"]["valid"] == 0


def test_validate_static_only_and_json_round_trip() -> None:
    table = validate(tasks(), None, None, seed=7)
    assert not table.dynamic and table.seed == 7
    assert set(table.relations) == set(REGISTRY)
    assert len(table.verdicts) == 2 * len(REGISTRY)
    again = ValidityTable.from_json(table.to_json())
    assert again.to_dict() == table.to_dict()
    assert again.valid_pairs() == table.valid_pairs()
    assert set(table.valid_tasks("blank_lines")) == {"T/0", "T/1"}
    recreated = list(valid_transforms(tasks(), table))
    assert len(recreated) == len(table.valid_pairs())


def test_runner_failures_and_nondeterminism_are_reasons() -> None:
    def failing(programs: list[ProgramSpec]) -> list[list[Any] | None]:
        outs = in_process(programs)
        return [None if entry == "twice" else o for o, (_, _, entry) in zip(outs, programs, strict=True)]

    table = validate(tasks(), ["blank_lines"], failing)
    assert table.get("T/1", "blank_lines").reason == "original program failed to run"  # type: ignore[union-attr]

    counter = itertools.count()

    def flaky(programs: list[ProgramSpec]) -> list[list[Any] | None]:
        return [[str(next(counter))] for _ in programs]

    table = validate(tasks(), ["blank_lines"], flaky)
    assert all(v.reason == "original outputs are not deterministic" for v in table.verdicts)


def test_relation_errors_are_recorded_not_raised() -> None:
    class Crashes(Relation):
        name = "crashes"

        def transform(self, src: Source, rng: random.Random) -> Source | None:
            raise RuntimeError("bug")

    table = validate(tasks(), [Crashes()], None)
    assert all(v.stage == "error" and "bug" in (v.reason or "") for v in table.verdicts)


def test_parallel_static_phase_matches_serial() -> None:
    from .conftest import sample

    few = sample("humaneval+")[:4]
    rels = ["param_rename", "local_rename", "docstring_typos"]
    serial = validate(few, rels, None, seed=3)
    parallel = validate(few, rels, None, seed=3, jobs=2)
    assert serial.to_dict() == parallel.to_dict()


def test_subprocess_runner_encoding_and_failures() -> None:
    from harness.metamorphic import run_program, subprocess_runner

    prog = "def f(x):\n    print('noise')\n    return 10 ** x if x > 0 else 1 // x\n"
    outs = run_program(prog, "f", [[2], [0], [5000]])
    assert outs is not None
    assert outs[:2] == ["100", "!ZeroDivisionError"]
    assert outs[2].startswith("int:")  # huge ints are hashed, not printed
    assert run_program("def f(:\n", "f", [[1]]) is None
    assert run_program("def f():\n    while True: pass\n", "f", [[]], timeout=1) is None
    run = subprocess_runner({"T/0": [[1], [2]]}, jobs=2)
    assert run([("T/0", "def g(x):\n    return -x\n", "g")] * 2) == [["-1", "-2"]] * 2
