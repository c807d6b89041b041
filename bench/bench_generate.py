"""Greedy generation throughput: the harness backend vs plain ``model.generate``.

The default workload is StarCoderBase-1B's architecture (GPTBigCode: 24 layers, 2048 wide,
16 heads, multi-query attention, vocabulary 49152) with random weights in bfloat16, 164 prompts
of 128 tokens (HumanEval's size) and 256 new tokens, both at the same batch size in the same
run. Before timing, both paths run greedily in float32 on a small model and must produce
identical tokens. ``--tiny --device cpu`` is a smoke mode that runs anywhere in seconds.

    python bench/bench_generate.py                  # on a GPU
    python bench/bench_generate.py --tiny --device cpu

``--engine transformers,vllm,openai`` instead compares the generation engines through the whole
samples path on the 164 HumanEval prompts (see bench/engines.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _model(device: Any, dtype: Any, tiny: bool, seed: int = 0) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, GPTBigCodeConfig

    if tiny:
        cfg = GPTBigCodeConfig(
            vocab_size=1024,
            n_positions=512,
            n_embd=64,
            n_layer=2,
            n_head=4,
            multi_query=True,
            bos_token_id=None,
            eos_token_id=None,
        )
    else:  # StarCoderBase-1B
        cfg = GPTBigCodeConfig(
            vocab_size=49152,
            n_positions=8192,
            n_embd=2048,
            n_layer=24,
            n_head=16,
            multi_query=True,
            bos_token_id=None,
            eos_token_id=None,
        )
    cfg.bos_token_id = cfg.eos_token_id = None  # random weights: never stop early, time every token
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    model.generation_config.eos_token_id = None
    model.generation_config.bos_token_id = None
    return model.eval()


def _prompts(n: int, length: int, vocab: int, seed: int, vary: bool = False) -> list[list[int]]:
    import random

    rng = random.Random(seed)
    lengths = [rng.randint(max(1, length // 4), length) if vary else length for _ in range(n)]
    return [[rng.randrange(1, vocab) for _ in range(m)] for m in lengths]


def run_backend(
    model: Any, prompts: Sequence[Sequence[int]], batch_size: int, new_tokens: int, static: bool
) -> tuple[list[list[int]], int]:
    """The harness path: length-bucketed batches through :class:`Decoder`."""
    from harness.generation.backend import Decoder

    decoder = Decoder(
        model,
        None,
        pad_id=0,
        eos_ids=[],
        static_cache=static,
        max_cache_len=max(len(p) for p in prompts) + new_tokens if static else None,
    )
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    outs: list[list[int]] = [[] for _ in prompts]
    n_tokens = 0
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        for i, res in zip(
            idx, decoder.generate([prompts[i] for i in idx], new_tokens), strict=True
        ):
            outs[i] = res.tokens
            n_tokens += res.n_tokens
    return outs, n_tokens


def run_plain(
    model: Any, prompts: Sequence[Sequence[int]], batch_size: int, new_tokens: int
) -> tuple[list[list[int]], int]:
    """The baseline: prompts in their given order, left-padded, one ``model.generate`` per batch."""
    import torch

    outs: list[list[int]] = []
    n_tokens = 0
    for b in range(0, len(prompts), batch_size):
        batch = prompts[b : b + batch_size]
        width = max(len(p) for p in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, p in enumerate(batch):
            ids[i, width - len(p) :] = torch.tensor(list(p))
            mask[i, width - len(p) :] = 1
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids.to(model.device),
                attention_mask=mask.to(model.device),
                max_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=0,
                eos_token_id=None,
            )
        for row in out[:, width:].tolist():
            outs.append(row)
            n_tokens += len(row)
    return outs, n_tokens


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Any, device: Any) -> tuple[Any, float]:
    _sync(device)
    t0 = time.perf_counter()
    result = fn()
    _sync(device)
    return result, time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--engine" or a.startswith("--engine=") for a in argv):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from engines import run as run_engines

        return int(run_engines(argv))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="small model and workload (smoke test)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--dtype",
        default="auto",
        help="auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16, float16",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="default 32 (4 with --tiny)")
    parser.add_argument("--n-prompts", type=int, default=None, help="default 164 (8 with --tiny)")
    parser.add_argument("--prompt-len", type=int, default=None, help="default 128 (16 with --tiny)")
    parser.add_argument("--new-tokens", type=int, default=None, help="default 256 (8 with --tiny)")
    parser.add_argument(
        "--static-cache",
        choices=("auto", "on", "off"),
        default="auto",
        help="backend's static KV cache (auto: on CUDA)",
    )
    args = parser.parse_args(argv)

    import torch

    from harness.generation.backend import resolve_device, resolve_dtype

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    batch = args.batch_size or (4 if args.tiny else 32)
    n_prompts = args.n_prompts or (8 if args.tiny else 164)
    plen = args.prompt_len or (16 if args.tiny else 128)
    new = args.new_tokens or (8 if args.tiny else 256)
    static = device.type == "cuda" if args.static_cache == "auto" else args.static_cache == "on"

    # 1. Same greedy tokens in float32 on a small model (prompts of varied length: padding).
    small = _model(device, torch.float32, tiny=True)
    check = _prompts(12, 24, 1024, seed=1, vary=True)
    ours, _ = run_backend(small, check, 4, 12, static)
    theirs, _ = run_plain(small, check, 4, 12)
    identical = ours == theirs
    print(f"greedy outputs identical (float32, small model): {identical}")
    if not identical:
        return 1
    del small

    # 2. Throughput on the benchmark model.
    model = _model(device, dtype, tiny=args.tiny)
    prompts = _prompts(n_prompts, plen, model.config.vocab_size, seed=2)
    warm = prompts[:batch]
    _, t_warm_backend = _timed(lambda: run_backend(model, warm, batch, new, static), device)
    _, t_warm_plain = _timed(lambda: run_plain(model, warm, batch, new), device)
    (_, n_backend), t_backend = _timed(
        lambda: run_backend(model, prompts, batch, new, static), device
    )
    (_, n_plain), t_plain = _timed(lambda: run_plain(model, prompts, batch, new), device)
    backend_tps, plain_tps = n_backend / t_backend, n_plain / t_plain
    result = {
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "model": "tiny-gpt_bigcode" if args.tiny else "starcoderbase-1b-arch (random weights)",
        "prompts": n_prompts,
        "prompt_len": plen,
        "new_tokens": new,
        "batch_size": batch,
        "static_cache": static,
        "warmup_s": {"backend": round(t_warm_backend, 3), "plain": round(t_warm_plain, 3)},
        "backend_tok_s": round(backend_tps, 1),
        "plain_tok_s": round(plain_tps, 1),
        "ratio": round(backend_tps / plain_tps, 3),
        "greedy_identical_fp32": identical,
    }
    print(f"backend: {backend_tps:10.1f} tok/s  ({n_backend} tokens in {t_backend:.2f} s)")
    print(f"plain:   {plain_tps:10.1f} tok/s  ({n_plain} tokens in {t_plain:.2f} s)")
    print(f"ratio:   {backend_tps / plain_tps:10.3f}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
