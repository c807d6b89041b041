"""vLLM and OpenAI-compatible engines against the transformers engine, with real components:
vLLM's offline engine in its worker process, and vLLM's OpenAI server started on 127.0.0.1.

One engine and one server serve the whole module (each takes about a minute to start on a CPU).
The model is the tiny GPT-2 trained to emit known solutions (64-wide heads, which vLLM's CPU
attention supports); everything runs in float32, where greedy outputs must agree exactly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.data.datasets import load_dataset
from harness.generation import GenerationConfig
from harness.generation.engine import close_engines, generate_samples, open_engine
from harness.generation.vllm_engine import die_with_parent

pytestmark = [pytest.mark.vllm, pytest.mark.slow]  # minutes: an engine and a server start

KEY_VAR = "HARNESS_TEST_VLLM_KEY"
KEY = "test-key-4711"
REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _keys(path: Path) -> list[tuple[str, int]]:
    return [(str(r["task_id"]), int(r["sample_index"])) for r in _rows(path)]


@pytest.fixture(scope="module", autouse=True)
def _vllm_env() -> Iterator[None]:
    from harness.generation.vllm_engine import vllm_python

    try:
        vllm_python()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"vllm marker: {exc}")
    old = {k: os.environ.get(k) for k in ("VLLM_CPU_KVCACHE_SPACE", KEY_VAR)}
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache on the CPU
    os.environ[KEY_VAR] = KEY
    yield
    close_engines()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def vllm_engine(vllm_model: Path) -> Any:
    """The module's one vLLM engine (pooled: every run on this model in this process uses it)."""
    engine = open_engine(GenerationConfig(model=str(vllm_model), engine="vllm", dtype="float32"))
    engine.start()
    return engine


class _Forwarder:
    """A TCP forwarder in front of the server: stopping it makes the server unreachable for
    the harness (connections refused) without the minute-long restart of vLLM."""

    def __init__(self, port: int, target: int) -> None:
        self.port, self.target = port, target
        self.sock: socket.socket | None = None

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.sock = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def stop(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the accept loop
            except OSError:
                pass
            sock.close()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b, sock), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, listener: socket.socket) -> None:
        try:
            while self.sock is listener and (data := src.recv(65536)):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):  # shutdown first: it wakes the other direction's blocked recv
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@pytest.fixture(scope="module")
def server(vllm_model: Path, workdir: Path) -> Iterator[dict[str, Any]]:
    """vLLM's OpenAI-compatible server on 127.0.0.1 (with an API key), behind a forwarder;
    stopped by its process id."""
    from harness.generation.vllm_engine import vllm_python

    port = _free_port()
    log = open(workdir / "vllm-server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [vllm_python(), "-I", "-m", "vllm.entrypoints.openai.api_server", "--model", str(vllm_model),
         "--served-model-name", "tiny", "--dtype", "float32", "--max-model-len", "1024",
         "--host", "127.0.0.1", "--port", str(port), "--api-key", KEY],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
    )
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the vLLM server did not start; see {log.name}")
                time.sleep(1)
        front = _Forwarder(_free_port(), port)
        front.start()
        yield {"url": f"http://127.0.0.1:{front.port}/v1", "front": front}
        front.stop()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group, by its pid
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _served(server: dict[str, Any], **kw: Any) -> GenerationConfig:
    fields = {"model": "tiny", "engine": "openai", "base_url": server["url"], "api_key_env": KEY_VAR,
              "max_new_tokens": 200, **kw}
    return GenerationConfig(**fields)


def _execute(data_dir: Path, samples: Path, out: Path) -> dict[str, bool]:
    argv = ["execute", "--dataset", "humaneval", "--samples", str(samples), "--out", str(out),
            "--data-dir", str(data_dir), "--jobs", "2"]
    assert main(argv) == 0
    return {r["task_id"]: bool(r["base_passed"]) for r in _rows(out / "results.jsonl")}


def test_greedy_outputs_and_verdicts_agree_across_engines(
    vllm_engine: Any, server: dict[str, Any], vllm_model: Path, data_dir: Path, tmp_path: Path
) -> None:
    ds = load_dataset("humaneval", data_dir)
    base = GenerationConfig(model=str(vllm_model), dtype="float32", max_new_tokens=200)
    files = {
        "transformers": generate_samples(ds, base, tmp_path / "t.jsonl", limit=3, quiet=True),
        "vllm": generate_samples(ds, GenerationConfig(**{**base.to_dict(), "engine": "vllm"}),
                                 tmp_path / "v.jsonl", limit=3, quiet=True),
        "openai": generate_samples(ds, _served(server), tmp_path / "o.jsonl", limit=3, quiet=True),
    }
    rows = {name: {r["task_id"]: r for r in _rows(path)} for name, path in files.items()}
    t, v, o = rows["transformers"], rows["vllm"], rows["openai"]
    assert t["HumanEval/0"]["completion"] == ds.tasks["HumanEval/0"].canonical_solution
    for tid in t:
        assert t[tid]["solution"] == v[tid]["solution"] == o[tid]["solution"], tid
        assert t[tid]["finish_reason"] == v[tid]["finish_reason"] == o[tid]["finish_reason"], tid
        assert (t[tid]["n_tokens"], t[tid]["n_prompt_tokens"]) == (v[tid]["n_tokens"], v[tid]["n_prompt_tokens"])
    assert [t[k]["finish_reason"] for k in ("HumanEval/0", "HumanEval/2")] == ["eos", "stop"]
    assert {r["engine"] for r in o.values()} == {"openai"}
    verdicts = {name: _execute(data_dir, path, tmp_path / f"x-{name}") for name, path in files.items()}
    assert verdicts["transformers"] == verdicts["vllm"] == verdicts["openai"]
    assert verdicts["transformers"]["HumanEval/0"] is True


@pytest.mark.parametrize("engine", ["vllm", "openai"])
def test_seeded_sampling_reproduces(
    engine: str, vllm_engine: Any, server: dict[str, Any], vllm_model: Path, data_dir: Path,
    tmp_path: Path
) -> None:
    ds = load_dataset("humaneval", data_dir)
    sampling = {"n_samples": 5, "temperature": 1.0, "top_p": 0.95, "seed": 7, "max_new_tokens": 48}
    cfg = (GenerationConfig(model=str(vllm_model), engine="vllm", dtype="float32", **sampling)
           if engine == "vllm" else _served(server, **sampling))
    a = _rows(generate_samples(ds, cfg, tmp_path / "a.jsonl", limit=2, quiet=True))
    b = _rows(generate_samples(ds, cfg, tmp_path / "b.jsonl", limit=2, quiet=True))
    assert len(a) == 10 and [r["raw"] for r in a] == [r["raw"] for r in b]
    assert len({r["raw"] for r in a}) > 2  # sampled, not five copies of one output


def _wait_group_gone(leaders: list[int], timeout: float = 60) -> None:
    """Every process group led by ``leaders`` has ended (the worker runs in its own group)."""
    deadline = time.monotonic() + timeout
    for pgid in leaders:
        while True:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, f"process group {pgid} outlived the killed harness"
            time.sleep(0.5)


def test_vllm_killed_mid_generation_then_rerun_has_every_sample_once(
    vllm_engine: Any, vllm_model: Path, data_dir: Path, tmp_path: Path
) -> None:
    """A real ``harness generate --engine vllm`` process is killed (SIGKILL) once samples are
    on disk; its worker dies with it; the rerun (here on the module's engine) completes."""
    out = tmp_path / "k.jsonl"
    argv = [sys.executable, "-m", "harness", "generate", "--engine", "vllm", "--model", str(vllm_model),
            "--dtype", "float32", "--dataset", "humaneval", "--data-dir", str(data_dir), "--limit", "40",
            "--n-samples", "8", "--temperature", "1.0", "--max-new-tokens", "32", "--batch-size", "1",
            "--out", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not (out.exists() and out.read_text().count("\n") >= 1):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.2)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _wait_group_gone([int(c) for c in children])  # the worker and vLLM's engine processes
    partial = _keys(out)
    assert 0 < len(partial) < 320
    cfg = GenerationConfig(model=str(vllm_model), engine="vllm", dtype="float32", n_samples=8,
                           temperature=1.0, max_new_tokens=32, batch_size=1)
    generate_samples(load_dataset("humaneval", data_dir), cfg, out, limit=40, quiet=True)
    keys = _keys(out)
    assert len(keys) == len(set(keys)) == 320


def test_server_gone_mid_run_is_exit_3_then_rerun_completes(
    server: dict[str, Any], data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "g.jsonl"
    argv = ["generate", "--engine", "openai", "--base-url", server["url"], "--api-key-env", KEY_VAR,
            "--model", "tiny", "--dataset", "humaneval", "--data-dir", str(data_dir), "--limit", "40",
            "--max-new-tokens", "32", "--concurrency", "1", "--max-retries", "1", "--request-timeout", "60",
            "--out", str(out),
            "--quiet"]
    front = server["front"]

    def stop_when_written() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") >= 4):
            time.sleep(0.05)
        front.stop()

    stopper = threading.Thread(target=stop_when_written)
    stopper.start()
    try:
        code = main(argv)
    finally:
        stopper.join()
        front.start()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1 and server["url"] in err[0], err
    kept = _keys(out)
    assert 4 <= len(kept) < 40
    assert main(argv) == 0
    keys = _keys(out)
    assert len(keys) == len(set(keys)) == 40


def test_rejected_key_and_unserved_model_are_exit_3(
    server: dict[str, Any], data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["generate", "--engine", "openai", "--base-url", server["url"], "--dataset", "humaneval",
            "--data-dir", str(data_dir), "--limit", "1", "--out", str(tmp_path / "e.jsonl"), "--quiet"]
    monkeypatch.setenv("HARNESS_TEST_WRONG_KEY", "wrong")
    assert main([*base, "--model", "tiny", "--api-key-env", "HARNESS_TEST_WRONG_KEY"]) == 3
    assert main([*base, "--model", "other", "--api-key-env", KEY_VAR]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "rejected the API key in $HARNESS_TEST_WRONG_KEY" in err[0]
    assert "does not serve model 'other'" in err[1] and "tiny" in err[1]


@pytest.mark.parametrize(
    ("student", "teacher"), [("vllm", "vllm"), ("openai", "openai"), ("vllm", "openai"), ("transformers", "openai")]
)
def test_eval_end_to_end_per_engine_and_mixed(
    student: str, teacher: str, vllm_engine: Any, server: dict[str, Any], vllm_model: Path,
    data_dir: Path, tmp_path: Path
) -> None:
    def model(engine: str) -> str:
        return "tiny" if engine == "openai" else str(vllm_model)

    argv = ["eval", "--student", model(student), "--teacher", model(teacher), "--dataset", "humaneval",
            "--data-dir", str(data_dir), "--limit", "3", "--max-new-tokens", "200", "--dtype", "float32",
            "--student-engine", student, "--teacher-engine", teacher, "--api-key-env", KEY_VAR,
            "--out", str(tmp_path / "eval"), "--cache-dir", str(tmp_path / "cache"), "--no-progress",
            "--quiet", "--jobs", "2"]
    for role, engine in (("student", student), ("teacher", teacher)):
        if engine == "openai":
            argv += [f"--{role}-base-url", server["url"]]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    blocks = json.dumps(summary)
    assert "humaneval" in blocks
    samples = {role: _rows(next((tmp_path / "eval" / role).rglob("samples.jsonl")))
               for role in ("student", "teacher")}
    # same weights, greedy fp32: every engine writes the same programs
    assert [r["solution"] for r in samples["student"]] == [r["solution"] for r in samples["teacher"]]
    assert samples["student"][0]["completion"] == load_dataset("humaneval", data_dir).tasks[
        "HumanEval/0"].canonical_solution
