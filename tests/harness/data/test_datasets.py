from __future__ import annotations

import pytest

from harness.core.errors import UsageError
from harness.data.datasets import load_dataset, split_asserts


@pytest.mark.parametrize(("name", "count"), [("humaneval", 164), ("humaneval+", 164), ("mbpp", 500), ("mbpp+", 399)])
def test_sizes_and_ids(data_dir, name, count):
    ds = load_dataset(name, data_dir)
    assert len(ds) == count
    prefix = "HumanEval/" if name.startswith("humaneval") else "Mbpp/"
    assert all(t.startswith(prefix) for t in ds.tasks)
    assert ds.has_plus == name.endswith("+")
    for task in ds.tasks.values():
        assert task.entry_point
        assert task.base_tests or task.residual_asserts
        assert (task.plus_tests is not None) == ds.has_plus


def test_mbpp_test_split_and_prompt(data_dir):
    ds = load_dataset("mbpp", data_dir)
    nums = sorted(int(t.split("/")[1]) for t in ds.tasks)
    assert nums[0] == 11 and nums[-1] == 510
    task = ds.tasks["Mbpp/11"]
    # description plus one test, as evalplus / bigcode-evaluation-harness present MBPP
    assert "remove first and last occurrence" in task.prompt
    assert 'assert remove_Occ("hello","l") == "heo"' in task.prompt
    assert task.entry_point == "remove_Occ"
    assert [t.args for t in task.base_tests] == [["hello", "l"], ["abcda", "a"], ["PHP", "P"]]
    assert task.base_tests[0].expected == "heo"


def test_mbpp_setup_code_kept_as_residual(data_dir):
    task = load_dataset("mbpp", data_dir).tasks["Mbpp/367"]
    assert "root = Node(1)" in task.setup_code
    # its asserts use names from the setup code, so they cannot become call tests
    assert not task.base_tests
    assert "is_tree_balanced(root)" in task.residual_asserts


def test_mbpp_plus_inputs_deserialised_with_evalplus(data_dir):
    task = load_dataset("mbpp+", data_dir).tasks["Mbpp/2"]
    assert isinstance(task.base_tests[0].args[0], tuple)  # evalplus turns these lists into tuples
    assert task.prompt.startswith('"""\nWrite a function to find the shared elements')


def test_humaneval_asserts_become_call_tests(data_dir):
    ds = load_dataset("humaneval", data_dir)
    task = ds.tasks["HumanEval/0"]
    assert task.base_tests[0].args == [[1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3]
    assert task.base_tests[0].expected is True
    assert not task.residual_asserts
    # HumanEval/32 checks with random inputs and a tolerance: stays an assert
    assert "check(find_zero)" in ds.tasks["HumanEval/32"].residual_asserts


def test_split_asserts_shapes():
    import ast

    body = ast.parse(
        "assert f(1) == 2\nassert 3 == f(2)\nassert f(0) is True\nassert not f(5)\nassert f(9)\n"
        "assert abs(f(1) - 2) < 1e-6\nassert f(x) == 1\n"
    ).body
    tests, rest = split_asserts(body, "f")
    assert [(t.args, t.expected, t.op) for t in tests] == [
        ([1], 2, "eq"), ([2], 3, "eq"), ([0], True, "is_true"), ([5], False, "falsy"), ([9], True, "truthy")]
    assert len(rest) == 2


def test_unknown_dataset_and_bad_data_dir(tmp_path):
    with pytest.raises(UsageError, match="unknown dataset"):
        load_dataset("apps")
    with pytest.raises(UsageError, match="data directory not found"):
        load_dataset("humaneval+", tmp_path / "nope")


def test_select(data_dir):
    ds = load_dataset("humaneval+", data_dir)
    assert list(ds.select(limit=3).tasks) == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    with pytest.raises(UsageError, match="unknown task id"):
        ds.select(task_ids=["HumanEval/999"])
