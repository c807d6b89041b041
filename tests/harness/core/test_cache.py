"""``harness cache info`` and ``harness cache clear``: on a real cache filled by a real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from harness.data.datasets import load_dataset
from tests.conftest import REPO, write_jsonl


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_info_and_clear(data_dir, tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HARNESS_CACHE_DIR": str(cache)}
    ds = load_dataset("humaneval", data_dir)
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0",
                                                  "solution": ds.tasks["HumanEval/0"].canonical_program}])
    run = _cli(env, "execute", "--dataset", "humaneval", "--samples", str(samples), "--out", str(tmp_path / "o"),
               "--data-dir", str(data_dir), "--jobs", "1")
    assert run.returncode == 0, run.stderr
    (cache / "models" / "k" / "humaneval").mkdir(parents=True)
    (cache / "models" / "k" / "humaneval" / "results.jsonl").write_text("{}\n" * 100)
    (cache / "unrelated.txt").write_text("not ours")

    info = _cli(env, "cache", "info")
    assert info.returncode == 0
    assert info.stdout.splitlines()[0] == f"cache: {cache}"
    sizes = json.loads(_cli(env, "cache", "info", "--json").stdout)
    assert sizes["root"] == str(cache)
    assert sizes["kinds"]["expected"]["bytes"] > 0 and sizes["kinds"]["expected"]["files"] >= 1
    assert sizes["kinds"]["models"] == {"path": str(cache / "models"), "bytes": 300, "files": 1}
    assert sizes["total_bytes"] == sizes["kinds"]["expected"]["bytes"] + 300

    cleared = _cli(env, "cache", "clear", "--models")
    assert cleared.returncode == 0 and f"removed {cache / 'models'} (300 B)" in cleared.stdout
    assert not (cache / "models").exists() and any((cache / "expected").iterdir())
    assert _cli(env, "cache", "clear").returncode == 0
    assert not (cache / "expected").exists()
    assert (cache / "unrelated.txt").read_text() == "not ours"  # only the cache's own kinds go
    assert _cli(env, "cache").returncode == 2
