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
    return [json.loads(line) for line in path.read_text().split("\n") if line.strip()]  # not splitlines: U+2028


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
         "--max-logprobs", "-1",  # teacher forcing may ask for the whole (512-token) vocabulary
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


# ----------------------------------------------------------------------------- teacher forcing

#: Largest difference allowed between a logprob from vLLM (its CPU kernels, fp32) and one from
#: transformers (fp32) on the same weights and tokens; measured differences are ~1e-6 (summation
#: order of the matmuls and of the softmax), so 1e-4 is two orders above rounding and three below
#: any real difference (a wrong position or token shifts logprobs by tenths).
LOGPROB_TOL = 1e-4
VOCAB = 512  # the tiny tokenizer's


def _forced_ids(data_dir: Path, tok: Any) -> list[list[int]]:
    ds = load_dataset("humaneval", data_dir)
    out = []
    for tid in ("HumanEval/0", "HumanEval/2", "HumanEval/5"):
        task = ds.tasks[tid]
        out.append(tok(task.prompt)["input_ids"] + tok(task.canonical_solution, add_special_tokens=False)["input_ids"])
    return out


def test_prompt_logprobs_of_both_engines_match_transformers(
    vllm_engine: Any, server: dict[str, Any], vllm_model: Path, data_dir: Path
) -> None:
    """vLLM's prompt_logprobs (worker) and the server's echo + logprobs give, at every position,
    the logprobs transformers computes from the same fp32 weights, keyed by token id; a server
    that refuses the request gives a reason, not an error."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.generation.openai_engine import OpenAIEngine

    tok = AutoTokenizer.from_pretrained(vllm_model)
    seqs = _forced_ids(data_dir, tok)
    model = AutoModelForCausalLM.from_pretrained(vllm_model, torch_dtype=torch.float32).eval()
    served = OpenAIEngine(_served(server, concurrency=2))
    served.start()
    assert served.forced_source() == str(vllm_model)
    try:
        for k in (20, VOCAB):
            for name, got in (("vllm", vllm_engine.prompt_logprobs(seqs, k)),
                              ("openai", served.prompt_logprobs(seqs, k))):
                assert not isinstance(got, str), got
                for ids, positions in zip(seqs, got, strict=True):
                    with torch.no_grad():
                        rows = model(input_ids=torch.tensor([ids])).logits[0].float().log_softmax(-1)
                    assert positions[0] is None and len(positions) == len(ids)
                    for i in range(1, len(ids)):
                        here, want = positions[i], rows[i - 1]
                        assert here is not None and ids[i] in here
                        assert len(here) in (k, k + 1), (name, i)  # the top k, and the token if not in them
                        assert max(here, key=here.__getitem__) == int(want.argmax()), (name, i)
                        diff = max(abs(v - float(want[t])) for t, v in here.items())
                        assert diff < LOGPROB_TOL, (name, k, i, diff)
        refused = served.prompt_logprobs(seqs[:1], 100_000)  # more than the server allows
        assert isinstance(refused, str) and "gives no prompt logprobs" in refused and "100000" in refused
    finally:
        served.close()


@pytest.fixture(scope="module")
def perturbed_model(vllm_model: Path, workdir: Path) -> Path:
    """The vLLM test model with noise on its weights: a student that agrees with it on some
    tokens, not all (same tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = workdir / "perturbed-h64"
    model = AutoModelForCausalLM.from_pretrained(vllm_model, torch_dtype=torch.float32)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(vllm_model).save_pretrained(out)
    return out


def test_forced_stats_from_prompt_logprobs_match_the_weights(
    server: dict[str, Any], vllm_model: Path, perturbed_model: Path, data_dir: Path
) -> None:
    """The teacher behind the server (scored by its prompt logprobs), the student in
    transformers, against both in transformers on the same sequences: top-1 agreement exactly,
    KL within rounding at k = the vocabulary and a lower bound at k = 20; a teacher served
    against itself agrees fully."""
    from harness.generation.loading import load_tokenizer
    from harness.metamorphic.forced_logprobs import open_scorers
    from harness.metamorphic.teacher_forced import ForcedSequence, load_models, teacher_forced_stats

    tok = load_tokenizer(str(vllm_model))
    ds = load_dataset("humaneval", data_dir)
    seqs = [ForcedSequence(tuple(tok(ds.tasks[t].prompt)["input_ids"]),
                           tuple(tok(ds.tasks[t].canonical_solution, add_special_tokens=False)["input_ids"])
                           + (tok.eos_token_id,)) for t in list(ds.tasks)[:6]]
    local = GenerationConfig(model=str(vllm_model), dtype="float32", device="cpu")
    student = GenerationConfig(model=str(perturbed_model), dtype="float32", device="cpu")
    models = load_models(local, student)
    assert not isinstance(models, str)
    exact = teacher_forced_stats(models.teacher, models.student, seqs)
    scorers = open_scorers(_served(server), student)
    assert not isinstance(scorers, str), scorers
    try:
        assert scorers.eos_id() == tok.eos_token_id
        full, top20 = scorers.stats(seqs, VOCAB), scorers.stats(seqs, 20)
    finally:
        scorers.close()
    assert not isinstance(full, str) and not isinstance(top20, str)
    for want, f, t in zip(exact, full, top20, strict=True):
        assert f.n_tokens == t.n_tokens == want.n_tokens > 0
        assert f.agree == t.agree == want.agree
        assert f.kl / f.n_tokens == pytest.approx(want.kl / want.n_tokens, abs=LOGPROB_TOL)
        assert f.covered / f.n_tokens == pytest.approx(1.0, abs=1e-5)
        assert 0.0 <= t.kl <= want.kl + LOGPROB_TOL * t.n_tokens and 0.0 < t.covered <= t.n_tokens
    agree = sum(s.agree for s in exact) / sum(s.n_tokens for s in exact)
    assert 0.0 < agree < 1.0  # the student agrees on some tokens, not all: not a trivial case
    itself = open_scorers(_served(server), _served(server))
    assert not isinstance(itself, str)
    try:
        same = itself.stats(seqs, 20)
    finally:
        itself.close()
    assert not isinstance(same, str)
    assert all(s.agree == s.n_tokens and s.kl == pytest.approx(0.0, abs=1e-6) for s in same)


def _meta_eval(out: Path, student: Path, data_dir: Path, *extra: str) -> dict[str, Any]:
    argv = ["eval", "--student", str(student), "--teacher", "tiny", "--dataset", "humaneval",
            "--data-dir", str(data_dir), "--limit", "3", "--max-new-tokens", "64", "--dtype", "float32",
            "--metamorphic-relations", "param_rename", "--out", str(out),
            "--cache-dir", str(out.parent / "cache"), "--no-progress", "--quiet", "--jobs", "2", *extra]
    assert main(argv) == 0
    meta: dict[str, Any] = json.loads((out / "summary.json").read_text())["datasets"]["humaneval"]["metamorphic"]
    return meta


def test_eval_metamorphic_with_a_served_teacher(
    server: dict[str, Any], perturbed_model: Path, data_dir: Path, tmp_path: Path
) -> None:
    """``eval --metamorphic`` with the teacher behind the server: teacher-forced numbers from
    its prompt logprobs (and how: source, top_k, the teacher mass the top k cover); a server
    that refuses the request: ``teacher_forced: null`` and the reason, exit 0."""
    served = ["--teacher-engine", "openai", "--teacher-base-url", server["url"], "--api-key-env", KEY_VAR]
    meta = _meta_eval(tmp_path / "k20", perturbed_model, data_dir, *served)
    block = meta["relations"]["param_rename"]["teacher_forced"]
    assert (block["source"], block["top_k"]) == ("prompt_logprobs", 20)
    assert block["n_pairs"] == meta["relations"]["param_rename"]["pairs"] > 0
    for side in ("original", "transformed"):
        assert block[side]["n_tokens"] > 0 and 0.0 <= block[side]["top1_agreement"] <= 1.0
        assert block[side]["mean_kl"] >= 0.0 and 0.0 < block[side]["teacher_mass_covered"] <= 1.0
    refused = _meta_eval(tmp_path / "no", perturbed_model, data_dir, *served, "--forced-top-k", "100000")
    assert refused["overall"]["teacher_forced"] is None
    assert "tiny (openai engine)" in refused["teacher_forced_reason"]
    assert "gives no prompt logprobs" in refused["teacher_forced_reason"]


# ----------------------------------------------------------------------------- LoRA


@pytest.fixture(scope="module")
def lora_model(workdir: Path, tokenizer_dir: Path) -> tuple[Path, Path, Path]:
    """A tiny Llama (64-wide heads, large random weights so outputs depend on the prompt), a
    peft LoRA adapter on its attention projections with random non-zero A and B, and the model
    with the adapter merged by peft: (base, adapter, merged)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    base, adapter, merged = workdir / "llama", workdir / "llama-lora", workdir / "llama-merged"
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    gen = torch.Generator().manual_seed(0)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    model.save_pretrained(base)
    tok.save_pretrained(base)
    lora = get_peft_model(LlamaForCausalLM.from_pretrained(base), LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], lora_dropout=0.0,
        init_lora_weights=False, task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    lora.save_pretrained(adapter)
    lora.merge_and_unload().save_pretrained(merged)
    tok.save_pretrained(merged)
    return base, adapter, merged


def test_lora_adapter_in_vllm_matches_transformers_with_peft(
    lora_model: tuple[Path, Path, Path], data_dir: Path, tmp_path: Path
) -> None:
    """``--engine vllm --lora DIR`` (vLLM's LoRARequest on the CPU) writes the greedy fp32
    outputs of transformers on the peft-merged model, which differ from the base model's; and
    the adapted model is scored for teacher forcing from vLLM's prompt logprobs: the merged
    model's logprobs, agreeing fully with it."""
    from harness.metamorphic.forced_logprobs import open_scorers
    from harness.metamorphic.teacher_forced import ForcedSequence

    base, adapter, merged = lora_model
    ds = load_dataset("humaneval", data_dir)
    common = {"dtype": "float32", "max_new_tokens": 48}
    lora = GenerationConfig(model=str(base), engine="vllm", lora=str(adapter), **common)
    files = {"vllm+lora": generate_samples(ds, lora, tmp_path / "v.jsonl", limit=5, quiet=True),
             "merged": generate_samples(ds, GenerationConfig(model=str(merged), **common), tmp_path / "m.jsonl",
                                        limit=5, quiet=True),
             "base": generate_samples(ds, GenerationConfig(model=str(base), **common), tmp_path / "b.jsonl",
                                      limit=5, quiet=True)}
    raw = {name: [r["raw"] for r in _rows(path)] for name, path in files.items()}
    assert len(raw["merged"]) == 5 and raw["vllm+lora"] == raw["merged"]
    assert all(a != b for a, b in zip(raw["merged"], raw["base"], strict=True))  # the adapter matters
    tok = open_engine(lora).tokenizer
    seqs = [ForcedSequence(tuple(tok(ds.tasks[t].prompt)["input_ids"]),
                           tuple(tok(ds.tasks[t].canonical_solution, add_special_tokens=False)["input_ids"]))
            for t in list(ds.tasks)[:3]]
    scorers = open_scorers(lora, GenerationConfig(model=str(merged), dtype="float32", device="cpu"))
    assert not isinstance(scorers, str), scorers
    try:
        stats = scorers.stats(seqs, VOCAB)
    finally:
        scorers.close()
        open_engine(lora).close()  # its worker's memory back for the rest of the module
    assert not isinstance(stats, str), stats
    for s in stats:
        assert s.n_tokens > 0 and s.agree == s.n_tokens
        assert s.kl / s.n_tokens == pytest.approx(0.0, abs=LOGPROB_TOL)
