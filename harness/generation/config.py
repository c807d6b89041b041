"""Generation settings, validated before any model is loaded (bad input must fail fast, exit 2)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import UsageError

DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class GenerationConfig:
    """What to generate with. ``temperature == 0`` is greedy decoding (then ``n_samples`` > 1
    repeats the single greedy output, which is generated once)."""

    model: str
    revision: str | None = None
    template: str = "plain"
    n_samples: int = 1
    temperature: float = 0.0
    top_p: float = 0.95
    max_new_tokens: int = 512
    batch_size: int = 16
    dtype: str = "auto"
    device: str = "auto"
    seed: int = 0
    #: Static KV cache (+ the auto torch.compile transformers applies to it): None = on CUDA only.
    static_cache: bool | None = None

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
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown --dtype {self.dtype!r} (choose from {', '.join(DTYPES)})")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise UsageError(f"unknown --device {self.device!r} (choose from {', '.join(DEVICES)})")
        get_template(self.template)
        return self

    def output_hash(self, dataset_name: str) -> str:
        """Hash of the settings that decide the outputs: a file is only resumed under the same one.

        Batch size, dtype, device and sample count are left out: they change speed or how many
        samples exist, not what a sample means.
        """
        model = Path(self.model).expanduser()
        keys = {
            "model": str(model.resolve()) if model.exists() else self.model,
            "revision": self.revision,
            "template": self.template,
            "temperature": self.temperature,
            "top_p": self.top_p if not self.greedy else None,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed if not self.greedy else None,
            "dataset": dataset_name,
        }
        return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
