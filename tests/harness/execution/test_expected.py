"""Reference outputs: a reference run split into slices across runners (how a cold run keeps a
long task from idling the other runners) gives exactly the reference of one whole run, and the
cache round-trips it."""

from __future__ import annotations

import pytest

from harness.data.datasets import load_dataset
from harness.execution import expected as E
from sandbox import Job
from sandbox.local import LocalBackend

CASES = [
    ("humaneval+", ["HumanEval/0", "HumanEval/12", "HumanEval/53", "HumanEval/130"]),
    ("humaneval", ["HumanEval/8", "HumanEval/31", "HumanEval/2"]),  # residual asserts
]


@pytest.mark.parametrize(("name", "ids"), CASES)
def test_sliced_reference_equals_one_whole_run(data_dir, tmp_path, monkeypatch, name, ids):
    ds = load_dataset(name, data_dir).select(task_ids=ids)
    with LocalBackend(jobs=2) as backend:
        monkeypatch.setenv(E.CACHE_ENV, str(tmp_path / "whole"))
        monkeypatch.setattr(E, "FIRST_SLICE_CPU", 1e9)
        whole = E.compute_expected(ds, backend)
        monkeypatch.setenv(E.CACHE_ENV, str(tmp_path / "sliced"))
        monkeypatch.setattr(E, "FIRST_SLICE_CPU", 0.0)  # every task pauses after its first test
        monkeypatch.setattr(E, "SLICE_CPU", (0.0, 0.003))  # ... and continues in many slices
        jobs_seen: list[Job] = []
        run = backend.run

        def spy(jobs, watch=None):
            jobs = list(jobs)
            jobs_seen.extend(jobs)
            return run(jobs, watch)

        monkeypatch.setattr(backend, "run", spy)
        sliced = E.compute_expected(ds, backend)
    for tid in ids:
        w, s = whole[tid], sliced[tid]
        assert w.canonical_ok and s.canonical_ok, (w.note, s.note)
        assert s.expected == w.expected and s.floats == w.floats
        assert len(s.ref_times) == len(w.ref_times)
        slices = [j for j in jobs_seen if j.id == tid and j.cpu_budget is None]
        n = len(E.all_inputs(ds.tasks[tid]))
        if n > 1:
            assert len(slices) >= 2, tid  # really sliced
        # the slices tile the inputs after the first slice, and only the last runs the residual asserts
        spans = sorted((j.first, j.last) for j in slices)
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
        assert [bool(j.asserts) for j in sorted(slices, key=lambda j: j.first)][:-1] == [False] * (len(slices) - 1)
    assert E.compute_expected(ds, LocalBackend(jobs=1)) == sliced  # from the cache file, nothing runs


def test_cache_file_keeps_inputs_and_maps_outputs(data_dir, tmp_path, monkeypatch):
    """A warm run reads each task's encoded inputs from the cache file (not re-encoded) and its
    expected outputs only when compared; both are the bytes a cold run produced, also through
    pickling (Ray ships oracles to its nodes)."""
    import pickle

    ds = load_dataset("humaneval+", data_dir).select(task_ids=["HumanEval/15", "HumanEval/53"])
    monkeypatch.setenv(E.CACHE_ENV, str(tmp_path))
    with LocalBackend(jobs=2) as backend:
        cold = E.compute_expected(ds, backend)
    fresh = {tid: E.encoded_inputs(ds, ds.tasks[tid]) for tid in ds.tasks}
    monkeypatch.setattr(E, "_ENCODED", {})
    monkeypatch.setattr(E, "_STORED_INPUTS", {})
    warm = E.compute_expected(ds, LocalBackend(jobs=1))  # nothing runs: all from the file
    assert set(E._STORED_INPUTS) == {(ds.content_hash, tid) for tid in ds.tasks}
    for tid in ds.tasks:
        assert isinstance(warm[tid].expected, E.Blobs)
        assert warm[tid].expected == cold[tid].expected and list(warm[tid].expected) == list(cold[tid].expected)
        assert pickle.loads(pickle.dumps(warm[tid])).expected == list(cold[tid].expected)
        assert E.encoded_inputs(ds, ds.tasks[tid]) == fresh[tid]
    assert not E._STORED_INPUTS  # taken over by the per-process table on first use


def test_a_damaged_cache_file_is_recomputed(data_dir, tmp_path, monkeypatch):
    """A cache file cut short (or of an older layout) is ignored whole: neither its outputs nor its
    inputs are used, and the next run writes a good one."""
    ds = load_dataset("humaneval+", data_dir).select(task_ids=["HumanEval/0", "HumanEval/53"])
    monkeypatch.setenv(E.CACHE_ENV, str(tmp_path))
    with LocalBackend(jobs=2) as backend:
        cold = E.compute_expected(ds, backend)
    [path] = (tmp_path / "expected").iterdir()
    path.write_bytes(path.read_bytes()[:-1])
    monkeypatch.setattr(E, "_STORED_INPUTS", {})
    assert E._load(path, ds.content_hash) == {} and not E._STORED_INPUTS
    with LocalBackend(jobs=2) as backend:
        again = E.compute_expected(ds, backend)
    reloaded = E._load(path, ds.content_hash)  # a whole file again (times are measured anew)
    for tid in ds.tasks:
        assert again[tid].canonical_ok and again[tid].expected == cold[tid].expected
        assert reloaded[tid].expected == cold[tid].expected and reloaded[tid].ref_times == again[tid].ref_times
