"""Generation settings, validated before any model is loaded (bad input must fail fast, exit 2)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError
from harness.generation.loading import DTYPE_NAMES, DTYPES, canonical_dtype  # noqa: F401

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


#: Engine options (GenerationConfig fields) and the engine each applies to.
ENGINE_OPTIONS: dict[str, str] = {
    "api_key_env": "openai",
    "concurrency": "openai",
    "request_timeout": "openai",
    "max_retries": "openai",
    "tensor_parallel_size": "vllm",
    "data_parallel_size": "vllm",
    "quantization": "vllm",
    "lora": "vllm",
}


def engine_fields(engine: str, base_url: str | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """GenerationConfig fields for ``engine``: the options meant for it (a mixed eval passes
    one set of options to models on different engines)."""
    fields = {k: v for k, v in options.items() if ENGINE_OPTIONS.get(k) == engine}
    return {"engine": engine, "base_url": base_url if engine == "openai" else None, **fields}


@dataclass(frozen=True, kw_only=True)
class Decoding:
    """How a model decodes: shared by ``harness generate`` and both models of ``harness eval``
    (the eval's ``settings`` block lists these fields in this order)."""

    n_samples: int = 1
    temperature: float = 0.0
    top_p: float = 0.95
    max_new_tokens: int = 512
    batch_size: int = 16
    template: str = "plain"
    dtype: str = "auto"
    device: str = "auto"
    seed: int = 0

    def decoding(self) -> dict[str, Any]:
        """The decoding fields alone (a GenerationConfig's, or an EvalConfig's for every model)."""
        return {f.name: getattr(self, f.name) for f in fields(Decoding)}


@dataclass(frozen=True, kw_only=True)
class GenerationConfig(Decoding):
    """What to generate with. ``temperature == 0`` is greedy decoding (then ``n_samples`` > 1
    repeats the single greedy output, which is generated once)."""

    model: str
    revision: str | None = None
    #: Static KV cache (+ the auto torch.compile transformers applies to it): None = on CUDA only.
    static_cache: bool | None = None
    #: What generates (``harness.core.registry.ENGINES``): transformers, vllm or openai.
    engine: str = "transformers"
    #: openai engine: the server (``http://host:port/v1``), the variable holding its API key,
    #: concurrent requests, seconds per request and retries (429 and 5xx, with backoff).
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int = 8
    request_timeout: float = 600.0
    max_retries: int = 4
    #: vllm engine: GPUs per model copy, model copies, a quantization format vLLM loads
    #: (awq, gptq, compressed-tensors, fp8; None = as saved), a LoRA adapter directory.
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    quantization: str | None = None
    lora: str | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def validate(self) -> GenerationConfig:
        """Raise UsageError for impossible settings; return self for chaining."""
        from harness.generation.templates import get_template

        if not self.model or not str(self.model).strip():
            raise UsageError("--model is empty")
        if self.n_samples < 1:
            raise UsageError(f"--n-samples must be at least 1 (got {self.n_samples})")
        if not self.temperature >= 0:  # also rejects NaN
            raise UsageError(f"--temperature must be >= 0 (got {self.temperature})")
        if not 0 < self.top_p <= 1:
            raise UsageError(f"--top-p must be in (0, 1] (got {self.top_p})")
        if self.max_new_tokens < 1:
            raise UsageError(f"--max-new-tokens must be at least 1 (got {self.max_new_tokens})")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1 (got {self.batch_size})")
        canonical_dtype(self.dtype)
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise UsageError(f"unknown --device {self.device!r} (choose from {', '.join(DEVICES)})")
        get_template(self.template)
        self._validate_engine()
        return self

    def _validate_engine(self) -> None:
        from harness.core.registry import ENGINES

        ENGINES.get(self.engine)  # unknown name: exit 2 with the list
        if self.engine == "openai":
            if not self.base_url:
                raise UsageError("--engine openai needs --base-url URL (e.g. http://127.0.0.1:8000/v1)")
            if not self.base_url.startswith(("http://", "https://")):
                raise UsageError(f"--base-url must start with http:// or https:// (got {self.base_url!r})")
        elif self.base_url:
            raise UsageError("--base-url is for --engine openai")
        if self.api_key_env and not os.environ.get(self.api_key_env):
            raise UsageError(f"--api-key-env {self.api_key_env}: that environment variable is not set")
        for name in ("concurrency", "max_retries", "tensor_parallel_size", "data_parallel_size"):
            if getattr(self, name) < (0 if name == "max_retries" else 1):
                raise UsageError(f"--{name.replace('_', '-')} is too small ({getattr(self, name)})")
        if not self.request_timeout > 0:
            raise UsageError(f"--request-timeout must be > 0 (got {self.request_timeout})")
        if self.engine != "vllm" and (self.quantization or self.lora or self.tensor_parallel_size > 1
                                      or self.data_parallel_size > 1):
            raise UsageError("--quantization, --lora and the parallel sizes are for --engine vllm")

    def engine_settings(self) -> dict[str, object]:
        """Engine settings that can change outputs (part of the cache key)."""
        if self.engine == "openai":
            return {"base_url": self.base_url}
        if self.engine == "vllm":
            return {"quantization": self.quantization, "lora": self.lora, "dtype": self.dtype}
        return {}

    def output_hash(self, dataset_name: str) -> str:
        """Hash of the settings that decide the outputs: a file is only resumed under the same one.

        Batch size, dtype, device and sample count are left out: they change speed or how many
        samples exist, not what a sample means.
        """
        model = Path(self.model).expanduser()
        keys: dict[str, object] = {
            "model": str(model.resolve()) if model.exists() else self.model,
            "revision": self.revision,
            "template": self.template,
            "temperature": self.temperature,
            "top_p": self.top_p if not self.greedy else None,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed if not self.greedy else None,
            "dataset": dataset_name,
        }
        if self.engine != "transformers":  # transformers hashes stay what they were
            keys["engine"] = self.engine
            keys["engine_settings"] = self.engine_settings()
        return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]

    def sample_meta(self, dataset_name: str, gen_hash: str) -> dict[str, object]:
        """The settings every samples line carries."""
        meta: dict[str, object] = {
            "model": self.model,
            "revision": self.revision,
            "template": self.template,
            "dataset": dataset_name,
            "temperature": self.temperature,
            "top_p": self.top_p if not self.greedy else None,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed,
            "gen_hash": gen_hash,
        }
        if self.engine != "transformers":
            meta["engine"] = self.engine
        return meta

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
