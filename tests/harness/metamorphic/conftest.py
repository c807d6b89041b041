"""Fixtures for the metamorphic tests: offline dataset samples and the program runner seam.

``run_outputs`` is the seam: it runs programs on a task's inputs and returns encoded outputs.
Here it is a local subprocess runner (canonical code only, trusted); the harness can override
this fixture to route the same tests through its sandbox.
"""

from __future__ import annotations

import gzip
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from harness.metamorphic import RunOutputs, SimpleTask, dataset_inputs, subprocess_runner

DATA_DIR = Path(os.environ.get("HARNESS_DATA_DIR", Path(__file__).parents[4] / "shared" / "data"))
FILES = {"humaneval+": "HumanEvalPlus-v0.1.10.jsonl.gz", "mbpp+": "MbppPlus-v0.1.0.jsonl.gz"}

# Tasks with helpers the tests call (32, 38, 50), recursion, closures, tabs, range loops...
HE_SAMPLE = [0, 2, 5, 10, 12, 18, 26, 32, 38, 39, 46, 50, 55, 64, 73, 95, 107, 130, 139, 160]
MBPP_SAMPLE = [2, 3, 6, 11, 18, 20, 57, 62, 77, 89, 100, 123, 160, 230, 301, 406, 556, 580, 630, 797]


class RawTask(SimpleTask):
    """A task read straight from the evalplus file (with its inputs)."""


@lru_cache(maxsize=2)
def load(name: str) -> dict[str, Any]:
    """Tasks by id, read straight from the evalplus file (fast, and independent of the
    harness's loader); MBPP+ prompts get evalplus's docstring + assertion form."""
    path = DATA_DIR / FILES[name]
    if not path.exists():
        pytest.skip(f"offline data missing: {path}")
    out: dict[str, Any] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            prompt = row["prompt"]
            if name == "mbpp+":
                text = prompt.strip().strip("'\"").strip()
                prompt = f'"""\n{text}\n{row.get("assertion", "").strip()}\n"""\n'
            task = RawTask(row["task_id"], prompt, row["entry_point"], row["canonical_solution"])
            object.__setattr__(task, "base_inputs", row["base_input"])
            object.__setattr__(task, "plus_inputs", row["plus_input"])
            out[row["task_id"]] = task
    return out


def light(task: Any) -> SimpleTask:
    return SimpleTask(task.task_id, task.prompt, task.entry_point, task.canonical_solution)


def sample(name: str) -> list[SimpleTask]:
    tasks = load(name)
    prefix, ids = ("HumanEval", HE_SAMPLE) if name == "humaneval+" else ("Mbpp", MBPP_SAMPLE)
    return [light(tasks[f"{prefix}/{i}"]) for i in ids if f"{prefix}/{i}" in tasks]


@pytest.fixture(scope="session")
def he_tasks() -> dict[str, SimpleTask]:
    return {tid: light(t) for tid, t in load("humaneval+").items()}


@pytest.fixture(scope="session")
def mbpp_tasks() -> dict[str, SimpleTask]:
    return {tid: light(t) for tid, t in load("mbpp+").items()}


def make_runner(which: str = "base") -> RunOutputs:
    """The runner seam: programs run on their task's ``which`` inputs in a subprocess."""
    tasks = list(load("humaneval+").values()) + list(load("mbpp+").values())
    return subprocess_runner(dataset_inputs(tasks, which), timeout=60, jobs=2)


@pytest.fixture(scope="session")
def run_outputs() -> RunOutputs:
    return make_runner("base")
