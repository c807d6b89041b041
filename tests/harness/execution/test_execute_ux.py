"""What a user sees when ``harness execute`` meets the real world: a read-only or full output
disk, a pipe instead of a terminal, a rerun into an old directory, Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.data.datasets import load_dataset
from tests.conftest import REPO, read_jsonl, write_jsonl


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "CI": ""}


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          env=_env(), timeout=timeout)


@contextlib.contextmanager
def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A real filesystem mounted for the test (needs root; skipped otherwise)."""
    where.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _canonical_samples(data_dir: Path, n: int, prefix: str = "") -> list[dict[str, str]]:
    ds = load_dataset("humaneval+", data_dir)
    return [{"task_id": tid, "solution": prefix + ds.tasks[tid].canonical_program} for tid in list(ds.tasks)[:n]]


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


def test_read_only_out_is_one_line_exit_2_before_any_work(data_dir, tmp_path):
    samples = write_jsonl(tmp_path / "s.jsonl", _canonical_samples(data_dir, 3))
    with _tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        proc = _cli("execute", "--dataset", "humaneval+", "--samples", str(samples), "--out", str(ro),
                    "--data-dir", str(data_dir), "--jobs", "1")
    assert proc.returncode == 2, proc.stderr
    line = _one_line(proc.stderr)
    assert line.startswith("harness execute: error: cannot write to output directory")
    assert "Read-only file system" in line


def test_full_disk_is_one_line_exit_3_and_a_rerun_resumes(data_dir, tmp_path):
    """Each row keeps 1000 characters of its sample's output, so a 16 KiB disk fills after a few
    rows; after more space the rerun says it resumes and completes every sample once."""
    rows_in = _canonical_samples(data_dir, 24, prefix="print('x' * 2000)\n")
    samples = write_jsonl(tmp_path / "s.jsonl", rows_in)
    with _tmpfs(tmp_path / "small", "size=16k") as out:
        args = ("execute", "--dataset", "humaneval+", "--samples", str(samples), "--out", str(out),
                "--data-dir", str(data_dir), "--jobs", "2")
        proc = _cli(*args)
        assert proc.returncode == 3, proc.stderr
        progress_lines = ("humaneval+: reference run ", "humaneval+: executing ")
        line = _one_line("\n".join(x for x in proc.stderr.splitlines() if not x.startswith(progress_lines)))
        assert "no space left on device writing" in line and "results.jsonl" in line
        kept = int(line.split(" results kept")[0].rsplit(" ", 1)[1])
        assert 0 < kept < len(rows_in)
        assert kept == len(read_partial(out / "results.partial.jsonl"))

        subprocess.run(["mount", "-o", "remount,size=8m", str(out)], check=True)
        again = _cli(*args)
        assert again.returncode == 0, again.stderr
        assert f"resuming: {kept} of {len(rows_in)} samples already done" in again.stderr
        rows = read_jsonl(out / "results.jsonl")
    assert [r["task_id"] for r in rows] == [s["task_id"] for s in rows_in]
    assert all(r["passed"] for r in rows)


def read_partial(path: Path) -> list[dict[str, object]]:
    rows = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            rows.append(json.loads(line))
    return rows


def test_progress_lines_when_output_is_a_pipe(data_dir, tmp_path):
    samples = write_jsonl(tmp_path / "s.jsonl", _canonical_samples(data_dir, 10))
    args = ("execute", "--dataset", "humaneval+", "--samples", str(samples), "--data-dir", str(data_dir),
            "--jobs", "2")
    proc = _cli(*args, "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("humaneval+: executing")]
    assert any(x.startswith("humaneval+: executing 5/10 (50%)") and "ETA" in x for x in lines), proc.stderr
    assert lines[-1].startswith("humaneval+: executing 10/10 (100%)")
    quiet = _cli(*args, "--out", str(tmp_path / "q"), "--no-progress")
    assert quiet.returncode == 0 and "executing" not in quiet.stderr


def test_rerun_with_other_samples_says_it_replaces_them(data_dir, tmp_path):
    first = write_jsonl(tmp_path / "a.jsonl", _canonical_samples(data_dir, 2))
    second = write_jsonl(tmp_path / "b.jsonl", _canonical_samples(data_dir, 3))
    out = str(tmp_path / "o")
    common = ("--dataset", "humaneval+", "--data-dir", str(data_dir), "--out", out, "--jobs", "1")
    assert _cli("execute", "--samples", str(first), *common).returncode == 0
    proc = _cli("execute", "--samples", str(second), *common)
    assert proc.returncode == 0
    assert f"{out} held results of a different samples file; replacing them" in proc.stderr
    assert len(read_jsonl(Path(out) / "results.jsonl")) == 3


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.add(int(stat.parent.name))
    return found


def test_ctrl_c_stops_at_once_keeping_what_is_done(data_dir, tmp_path):
    """Two quick samples finish, two that sleep for minutes hold both runners; SIGINT must kill
    those runners and start no new one (retrying the interrupted samples is what made it slow),
    keep the two rows, say so, and exit 130."""
    ds = load_dataset("humaneval+", data_dir)
    task = ds.tasks["HumanEval/0"]
    sleeper = f"import time\ndef {task.entry_point}(*a):\n    time.sleep(1000)\n"
    rows_in = [{"task_id": "HumanEval/0", "solution": task.canonical_program}] * 2
    rows_in += [{"task_id": "HumanEval/0", "solution": sleeper}] * 2
    samples = write_jsonl(tmp_path / "s.jsonl", rows_in)
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "execute", "--dataset", "humaneval+", "--samples", str(samples),
         "--out", str(out), "--data-dir", str(data_dir), "--jobs", "2", "--min-time-limit", "60"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A suite started in the background by a non-interactive shell inherits SIGINT ignored,
        # and so would the harness: give it the disposition a terminal gives.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    partial = out / "results.partial.jsonl"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (partial.exists() and len(read_partial(partial)) >= 2):
            time.sleep(0.05)
        assert len(read_partial(partial)) == 2
        time.sleep(1.0)  # the sleepers are running
        before = _children(proc.pid)
        assert before, "no runner processes"
        proc.send_signal(signal.SIGINT)
        started_after = set()
        while proc.poll() is None:
            started_after |= _children(proc.pid) - before
            time.sleep(0.01)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert started_after == set(), "runners were started after Ctrl-C"
    assert "Traceback" not in stderr
    assert f"interrupted: 2 of 4 results kept in {out}; rerun to resume" in stderr
    assert len(read_partial(partial)) == 2


def test_eval_into_a_read_only_out_is_one_line_exit_2(data_dir, tmp_path):
    samples = write_jsonl(tmp_path / "s.jsonl", _canonical_samples(data_dir, 2))
    with _tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        proc = _cli("eval", "--student-samples", str(samples), "--teacher-samples", str(samples), "--dataset",
                    "humaneval+", "--limit", "2", "--data-dir", str(data_dir), "--out", str(ro), "--no-progress",
                    "--quiet")
    assert proc.returncode == 2, proc.stderr
    line = _one_line(proc.stderr)
    assert line == f"harness eval: error: cannot write to output directory {ro}: Read-only file system"


def test_eval_on_a_full_disk_is_one_line_exit_3_and_a_rerun_completes(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))  # the cache is on a disk with room
    samples = write_jsonl(tmp_path / "s.jsonl", _canonical_samples(data_dir, 5, prefix="print('x' * 3000)\n"))
    with _tmpfs(tmp_path / "small", "size=16k") as disk:
        args = ("eval", "--student-samples", str(samples), "--teacher-samples", str(samples), "--dataset",
                "humaneval+", "--limit", "5", "--data-dir", str(data_dir), "--out", str(disk / "e"),
                "--no-progress", "--quiet")
        proc = _cli(*args)
        assert proc.returncode == 3, proc.stderr
        line = _one_line(proc.stderr)
        assert line.startswith(f"harness eval: error: no space left on device writing {disk / 'e'}/")
        assert line.endswith("; free some space and rerun to resume")
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        again = _cli(*args)
        assert again.returncode == 0, again.stderr
        assert (disk / "e" / "report.html").is_file()
