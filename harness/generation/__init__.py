"""Sample generation: templates, stop sequences and engines (transformers, vllm, openai).

    from harness.generation import GenerationConfig, generate_samples, model_fingerprint

``generate_samples`` (and everything that needs torch) is imported on first use, so importing
this package for its config or templates stays cheap.
"""

from __future__ import annotations

from typing import Any

from harness.generation.config import GenerationConfig
from harness.generation.fingerprint import model_fingerprint
from harness.generation.templates import TEMPLATES, Template, get_template

_LAZY = {
    "generate_samples": ("harness.generation.engine", "generate_samples"),
    "Engine": ("harness.generation.engine", "Engine"),
    "load_model": ("harness.generation.backend", "load_model"),
    "Decoder": ("harness.generation.backend", "Decoder"),
}

__all__ = [
    "GenerationConfig",
    "TEMPLATES",
    "Template",
    "get_template",
    "model_fingerprint",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(name)
