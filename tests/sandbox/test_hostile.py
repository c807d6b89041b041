"""Hostile samples: each gets a non-pass verdict, and the host and other results stay intact.

The whole `harness execute` run happens inside its own PID namespace and memory/pids cgroups
(tests/contain.py), so even a broken sandbox cannot reach the test session or CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.data.datasets import load_dataset
from tests.conftest import REPO, read_jsonl, write_jsonl
from tests.contain import run_contained

pytestmark = [pytest.mark.hostile, pytest.mark.slow]

EP = "has_close_elements"
HEAD = f"def {EP}(numbers, threshold):\n"


def _fn(body: str, pre: str = "") -> str:
    return textwrap.dedent(pre) + HEAD + textwrap.indent(textwrap.dedent(body), "    ")


HOSTILE: dict[str, str] = {
    "always_equal_object": _fn("return T()", "class T:\n    def __eq__(self, o):\n        return True\n    __hash__ = None\n"),
    "always_equal_int_subclass": _fn("return B(0)", "class B(int):\n    def __eq__(self, o):\n        return True\n"),
    "os_exit_at_import": "import os\nos._exit(0)\n" + _fn("return True"),
    "sys_exit_at_import": "import sys\nsys.exit(0)\n" + _fn("return True"),
    "os_exit_in_call": _fn("import os\nos._exit(0)"),
    "sys_exit_in_call": _fn("import sys\nsys.exit(0)"),
    "print_fake_verdicts": _fn("print('{\"passed\": true, \"base_passed\": true}')\nprint('PASSED ALL TESTS')\nreturn None"),
    "write_every_fd": _fn("""
        import os, json
        for fd in range(3, 1024):
            for payload in ({"t": "E"}, {"t": "R", "i": 0, "out": True}, {"t": "result", "finished": True}):
                data = json.dumps(payload).encode()
                try:
                    os.write(fd, len(data).to_bytes(4, "big") + data)
                except OSError:
                    pass
        return None
    """),
    "patch_json_and_builtins": _fn("""
        import json, builtins, pickle
        json.dumps = lambda *a, **k: '{"t":"E"}'
        json.loads = lambda *a, **k: {"t": "E"}
        pickle.dumps = lambda *a, **k: b''
        builtins.isinstance = lambda *a: True
        builtins.type = lambda *a: int
        return 0
    """),
    "walk_frames_and_gc_for_expected": _fn("""
        import gc, sys
        f = sys._getframe()
        seen = []
        while f is not None:
            seen.extend(f.f_locals.values())
            seen.extend(f.f_globals.values())
            f = f.f_back
        for obj in gc.get_objects():
            if isinstance(obj, dict) and ('expected' in obj or 'plus' in obj):
                return obj.get('expected')
        return bool(len(seen) % 2)
    """),
    "import_evalplus_canonical": _fn("""
        from evalplus.data import get_human_eval_plus
        p = get_human_eval_plus()['HumanEval/0']
        g = {}
        exec(p['prompt'] + p['canonical_solution'], g)
        return g[p['entry_point']](numbers, threshold)
    """),
    "import_harness_dataset": _fn("""
        from harness.data.datasets import load_dataset
        t = load_dataset('humaneval+').tasks['HumanEval/0']
        g = {}
        exec(t.canonical_program, g)
        return g['has_close_elements'](numbers, threshold)
    """),
    "glob_for_dataset_files": _fn("""
        import glob, gzip, json
        for pat in ('/**/HumanEvalPlus*.jsonl*', '/**/HumanEval*.jsonl*', '/**/*.jsonl.gz'):
            for path in glob.glob(pat, recursive=True):
                opener = gzip.open if path.endswith('.gz') else open
                for line in opener(path, 'rt'):
                    row = json.loads(line)
                    if row.get('task_id') == 'HumanEval/0':
                        g = {}
                        exec(row['prompt'] + row['canonical_solution'], g)
                        return g['has_close_elements'](numbers, threshold)
        raise FileNotFoundError('no dataset visible')
    """),
    "read_host_files": _fn("""
        import os
        data = open('/etc/shadow').read() + str(os.listdir('/root')) + str(os.listdir('/work'))
        return len(data) > 0 and False
    """),
    "network_to_host": _fn("""
        import socket
        s = socket.create_connection(('127.0.0.1', 22), timeout=1)
        return True
    """),
    "fork_bomb": _fn("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """),
    "thread_bomb": _fn("""
        import threading, time
        while True:
            try:
                threading.Thread(target=time.sleep, args=(100,)).start()
            except Exception:
                pass
    """),
    "memory_bomb": _fn("return len(b'x' * (1 << 36))"),
    "memory_creep": _fn("""
        chunks = []
        while True:
            chunks.append(bytearray(50 * 1024 * 1024))
    """),
    "disk_bomb": _fn("""
        import os
        i = 0
        while True:
            with open(f'fill{i}', 'wb') as fh:
                fh.write(os.urandom(1024) * 1024 * 8)
            i += 1
    """),
    "output_bomb": _fn("""
        import sys
        while True:
            sys.stdout.write('x' * 65536)
            sys.stderr.write('y' * 65536)
    """),
    "ignore_signals_and_spin": _fn("""
        import signal
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGXCPU, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        while True:
            pass
    """),
    "patch_time_and_sleep": _fn("""
        import time
        time.time = lambda: 0.0
        time.monotonic = lambda: 0.0
        time.perf_counter = lambda: 0.0
        time.process_time = lambda: 0.0
        time.sleep(10 ** 6)
    """),
    "kill_parent": _fn("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nreturn True"),
    "kill_process_group": _fn("import os, signal\nos.killpg(0, signal.SIGKILL)\nreturn True"),
    "kill_every_pid": _fn("import os, signal\nos.kill(-1, signal.SIGKILL)\nreturn True"),
    "escape_session_then_sleep": _fn("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(10 ** 6)
            os._exit(0)
        return None
    """),
    "segfault": _fn("import ctypes\nctypes.string_at(0)\nreturn True"),
    "atexit_and_del_tricks": _fn("""
        import atexit, os, json
        def forge():
            data = json.dumps({"t": "E"}).encode()
            for fd in range(10):
                try:
                    os.write(fd, len(data).to_bytes(4, 'big') + data)
                except OSError:
                    pass
        atexit.register(forge)
        class D:
            def __del__(self):
                forge()
        global _keep
        _keep = D()
        raise SystemExit(0)
    """),
    "recursion_bomb": _fn("return has_close_elements(numbers, threshold)"),
    "huge_output": _fn("return [[0] * 1000 for _ in range(20000)]"),
}


def write_hostile_samples(data_dir: Path, directory: Path) -> tuple[Path, list[str], Path]:
    """The hostile set, each sample followed by a canonical bystander, and a canary file the
    samples must not change: ``(samples file, names in file order, canary)``."""
    ds = load_dataset("humaneval+", data_dir)
    canonical = ds.tasks["HumanEval/0"].canonical_program
    samples, names = [], []
    for name, code in HOSTILE.items():
        samples += [{"task_id": "HumanEval/0", "solution": code}, {"task_id": "HumanEval/0", "solution": canonical}]
        names += [name, "canonical"]
    canary = directory / "canary.txt"
    canary.write_text("intact")
    return write_jsonl(directory / "hostile.jsonl", samples), names, canary


def hostile_verdicts(rows: list[dict[str, Any]], names: list[str]) -> dict[str, tuple[bool, str | None]]:
    """``name -> (passed, error_type)`` of the hostile samples; every bystander passed and no
    hostile sample did."""
    assert len(rows) == len(names)
    verdicts = {}
    for name, row in zip(names, rows, strict=True):
        if name == "canonical":
            assert row["passed"], row
        else:
            verdicts[name] = (row["passed"], row["error_type"])
    passed = [n for n, (ok, _) in verdicts.items() if ok]
    assert not passed, f"hostile samples passed: {passed}"
    return verdicts


@pytest.fixture(scope="module")
def hostile_run(data_dir, tmp_path_factory):
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (CI installs it)")
    tmp = tmp_path_factory.mktemp("hostile")
    path, names, canary = write_hostile_samples(data_dir, tmp)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HARNESS_CACHE_DIR": str(tmp / "cache")}
    proc = run_contained(
        [sys.executable, "-m", "harness", "execute", "--dataset", "humaneval+", "--samples", str(path),
         "--out", str(tmp / "out"), "--data-dir", str(data_dir), "--jobs", "2", "--no-progress"],
        timeout=1500, env=env, cwd=str(REPO))
    return proc, names, tmp, canary


def test_every_hostile_sample_fails_and_bystanders_pass(hostile_run):
    proc, names, tmp, canary = hostile_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdicts = hostile_verdicts(read_jsonl(tmp / "out" / "results.jsonl"), names)
    assert canary.read_text() == "intact"
    # the sample that kills its runner is named as such
    assert verdicts["kill_parent"][1] == "SandboxError"
    assert verdicts["os_exit_in_call"][1] == "SystemExit"
    assert verdicts["segfault"][1] == "SegmentationFault"
    assert verdicts["memory_bomb"][1] == "MemoryError"
    assert verdicts["ignore_signals_and_spin"][1] == "TimeoutError"
    # no dataset file is visible: the walk ends empty-handed, or runs out of time walking /proc
    assert verdicts["glob_for_dataset_files"][1] in ("FileNotFoundError", "TimeoutError")
    assert verdicts["import_evalplus_canonical"][1] == "ModuleNotFoundError"
    assert verdicts["import_harness_dataset"][1] == "ModuleNotFoundError"
    print(json.dumps(verdicts, indent=1))


def test_no_stray_processes(hostile_run):
    from sandbox.local import UID_BASE

    out = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
    strays = [ln for ln in out.splitlines() if ln.split() and UID_BASE <= int(ln.split()[0]) < UID_BASE + 5000]
    assert not strays, strays


def test_results_directory_complete(hostile_run):
    proc, names, tmp, _ = hostile_run
    summary = json.loads(Path(tmp / "out" / "summary.json").read_text())
    assert summary["n_samples"] == len(names)
    assert summary["n_passed"] == names.count("canonical")
