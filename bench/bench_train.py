"""Benchmark one distillation training step: this trainer's loss vs a naive implementation.

Default shapes are the paper's pair with random weights: a StarCoderBase-1B student (GPTBigCode,
24 layers, 2048 wide, 16 heads, multi-query, vocab 49152) and a StarCoderBase-7B teacher (42
layers, 4096 wide, 32 heads, multi-query) in bf16, batch 8 x 512, for KD and AKD. "trainer" is
``harness.train.trainer.LossComputer`` (response-position logits only, one shared fp32
log-softmax pass per chunk, gradient written in the same pass, beta from detached statistics);
"naive" materialises the full logits of both models in fp32 and computes KL and RKL separately
through autograd (beta as a tensor with requires_grad). Prints step time and peak memory for each
and the AKD/KD ratios against the goals: AKD time <= 1.05 x KD, AKD peak <= KD peak + 0.5 GiB,
AKD peak <= 36 GiB without gradient checkpointing.

    python bench/bench_train.py                      # needs a GPU (about 40 GiB)
    python bench/bench_train.py --device cpu --tiny  # smoke run with tiny shapes
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL_TIME_RATIO = 1.05
GOAL_EXTRA_GIB = 0.5
GOAL_PEAK_GIB = 36.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda or cpu")
    p.add_argument("--tiny", action="store_true", help="tiny shapes (smoke test)")
    p.add_argument("--batch-size", type=int, default=None, help="default 8 (2 with --tiny)")
    p.add_argument("--seq-len", type=int, default=None, help="default 512 (64 with --tiny)")
    p.add_argument("--prompt-len", type=int, default=None, help="prompt tokens per sample "
                   "(no loss); default seq-len / 8")
    p.add_argument("--steps", type=int, default=3, help="measured steps per configuration")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured steps (optimizer state)")
    p.add_argument("--chunk-size", type=int, default=512)
    p.add_argument("--student-dtype", default=None, help="bf16 (default on cuda) or fp32")
    p.add_argument("--teacher-dtype", default="bf16")
    p.add_argument("--impl", default="trainer,naive", help="comma list: trainer, naive")
    p.add_argument("--methods", default="kd,akd", help="comma list of methods")
    p.add_argument("--json", default=None, help="also write the results to this file")
    return p.parse_args(argv)


def _configs(tiny: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    if tiny:
        common = dict(vocab_size=1024, n_positions=512, multi_query=True, bos_token_id=0,
                      eos_token_id=0)
        return (
            dict(n_layer=2, n_embd=64, n_head=4, **common),
            dict(n_layer=2, n_embd=128, n_head=4, **common),
        )
    common = dict(vocab_size=49152, n_positions=8192, multi_query=True)
    return (
        dict(n_layer=24, n_embd=2048, n_head=16, **common),  # StarCoderBase-1B
        dict(n_layer=42, n_embd=4096, n_head=32, **common),  # StarCoderBase-7B
    )


def build_models(args: argparse.Namespace) -> tuple[Any, Any]:
    """Random-init student and teacher directly on the device in their dtypes."""
    import torch
    from transformers import AutoModelForCausalLM, GPTBigCodeConfig

    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}
    s_cfg, t_cfg = _configs(args.tiny)
    device = torch.device(args.device)
    s_dtype = dtypes[args.student_dtype or ("bf16" if device.type == "cuda" else "fp32")]
    torch.manual_seed(0)
    with device:
        student = AutoModelForCausalLM.from_config(
            GPTBigCodeConfig(**s_cfg), dtype=s_dtype, attn_implementation="sdpa"
        )
        teacher = AutoModelForCausalLM.from_config(
            GPTBigCodeConfig(**t_cfg), dtype=dtypes[args.teacher_dtype],
            attn_implementation="sdpa",
        )
    student.config.use_cache = False
    teacher.config.use_cache = False
    teacher.eval().requires_grad_(False)
    student.train()
    return student, teacher


def make_batch(vocab: int, batch: int, seq: int, prompt: int, device: Any) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (batch, seq), generator=g)
    labels = ids.clone()
    labels[:, :prompt] = -100
    # uneven responses: the last rows are padded a little, as real batches are
    attention = torch.ones_like(ids)
    for i in range(batch):
        pad = (i * seq) // (8 * batch)
        if pad:
            attention[i, seq - pad:] = 0
            labels[i, seq - pad:] = -100
    return {
        "input_ids": ids.to(device),
        "attention_mask": attention.to(device),
        "labels": labels.to(device),
    }


def naive_loss(
    student: Any, teacher: Any, batch: dict[str, Any], beta: Any, temperature: float = 1.0
) -> Any:
    """Paper-style loss: full fp32 logits of both models, KL and RKL computed separately."""
    import torch

    ids, attn, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    with torch.no_grad():
        zt = teacher(input_ids=ids, attention_mask=attn).logits.float()[:, :-1]
    zs = student(input_ids=ids, attention_mask=attn).logits.float()[:, :-1]
    mask = ((labels[:, 1:] != -100) & attn[:, 1:].bool()).float()
    lengths = mask.sum(-1).clamp(min=1)
    kl_tok = torch.nn.functional.kl_div(
        torch.log_softmax(zs / temperature, -1), torch.log_softmax(zt / temperature, -1),
        reduction="none", log_target=True,
    ).sum(-1)
    kl = (kl_tok * mask).sum(-1) / lengths
    if isinstance(beta, float) and beta == 0.0:
        return kl.mean()
    rkl_tok = torch.nn.functional.kl_div(
        torch.log_softmax(zt / temperature, -1), torch.log_softmax(zs / temperature, -1),
        reduction="none", log_target=True,
    ).sum(-1)
    rkl = (rkl_tok * mask).sum(-1) / lengths
    return (beta * rkl + (1 - beta) * kl).mean()


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gib(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def make_step(
    impl: str, method: str, student: Any, teacher: Any, optimizer: Any, batch: dict[str, Any],
    chunk_size: int,
) -> Callable[[], float]:
    """A closure running one full training step (forward, backward, optimizer, beta)."""
    import torch

    from harness.train.methods import resolve_method
    from harness.train.trainer import BetaController, LossComputer

    spec = resolve_method(method)
    controller = BetaController(spec, seed=0)
    controller.begin_epoch(0)
    if impl == "trainer":
        computer = LossComputer(spec, teacher, 1.0, chunk_size)

        def step() -> float:
            loss, stats = computer(student, batch, controller.value)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            s = stats.tolist()
            if s[2] > 0:
                controller.update((s[1] - s[0]) / s[2])
            return float(loss.detach())

        return step

    def naive_step() -> float:
        if spec.learned_beta:
            beta = torch.tensor(controller.value, device=student.device, requires_grad=True)
        else:
            beta = float(spec.beta or 0.0)
        loss = naive_loss(student, teacher, batch, beta)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if isinstance(beta, torch.Tensor) and beta.grad is not None:
            controller.update(float(beta.grad))
        return float(loss.detach())

    return naive_step


def measure(step: Callable[[], float], steps: int, warmup: int, device: Any) -> dict[str, float]:
    import torch

    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    loss = float("nan")
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {"step_s": sorted(times)[len(times) // 2], "peak_gib": _peak_gib(device), "loss": loss}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_train: no CUDA device; use --device cpu --tiny for a smoke run",
              file=sys.stderr)
        return 2
    batch_size = args.batch_size or (2 if args.tiny else 8)
    seq = args.seq_len or (64 if args.tiny else 512)
    prompt = args.prompt_len if args.prompt_len is not None else seq // 8
    student, teacher = build_models(args)
    batch = make_batch(student.config.vocab_size, batch_size, seq, prompt, device)
    kwargs: dict[str, Any] = {"fused": True} if device.type == "cuda" else {}
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-5, weight_decay=0.0, **kwargs)
    n_s = sum(p.numel() for p in student.parameters()) / 1e9
    n_t = sum(p.numel() for p in teacher.parameters()) / 1e9
    print(
        f"device {device} | student {n_s:.3f}B {student.dtype} | teacher {n_t:.3f}B "
        f"{teacher.dtype} | batch {batch_size} x {seq} (prompt {prompt}) | "
        f"chunk {args.chunk_size} | gradient checkpointing off"
    )
    results: dict[str, dict[str, dict[str, float]]] = {}
    for impl in [s.strip() for s in args.impl.split(",") if s.strip()]:
        for method in [s.strip() for s in args.methods.split(",") if s.strip()]:
            step = make_step(impl, method, student, teacher, optimizer, batch, args.chunk_size)
            try:
                r = measure(step, args.steps, args.warmup, device)
            except torch.cuda.OutOfMemoryError:
                r = {"step_s": float("nan"), "peak_gib": float("nan"), "loss": float("nan"),
                     "oom": 1.0}
                optimizer.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
            results.setdefault(impl, {})[method] = r
            print(f"{impl:8s} {method:5s} step {r['step_s'] * 1e3:9.1f} ms   "
                  f"peak {r['peak_gib']:7.2f} GiB   loss {r['loss']:.4f}")
    if device.type != "cuda":
        print("(cpu: peak is the process's max RSS, not per configuration)")
    ok = True
    for impl, per in results.items():
        if "kd" in per and "akd" in per:
            kd, akd = per["kd"], per["akd"]
            t_ratio = akd["step_s"] / kd["step_s"]
            extra = akd["peak_gib"] - kd["peak_gib"]
            print(f"{impl:8s} AKD/KD step time {t_ratio:.3f} (goal <= {GOAL_TIME_RATIO})   "
                  f"AKD-KD peak {extra:+.2f} GiB (goal <= {GOAL_EXTRA_GIB})   "
                  f"AKD peak {akd['peak_gib']:.2f} GiB (goal <= {GOAL_PEAK_GIB})")
            if impl == "trainer" and device.type == "cuda":
                ok &= t_ratio <= GOAL_TIME_RATIO and extra <= GOAL_EXTRA_GIB
                ok &= akd["peak_gib"] <= GOAL_PEAK_GIB
    if "trainer" in results and "naive" in results:
        for m in results["trainer"]:
            if m in results["naive"]:
                a, b = results["trainer"][m], results["naive"][m]
                print(f"trainer/naive {m:5s} step time {a['step_s'] / b['step_s']:.3f}   "
                      f"peak {a['peak_gib'] - b['peak_gib']:+.2f} GiB")
    if device.type == "cuda":
        print("goals: " + ("met" if ok else "NOT met"))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
