"""The distillation methods (``harness train --method``): how each one trains.

Kept free of torch so that the command line lists them (choices, help) without importing it.
Each method is a :class:`MethodSpec` in :data:`harness.core.registry.METHODS`; ``fixed:<beta>`` is a
family, resolved by :func:`resolve_method` from its registered template entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from harness.core.errors import UsageError
from harness.core.registry import METHODS


@dataclass(frozen=True)
class MethodSpec:
    """How a method trains: which loss, whether a teacher is needed, and how beta behaves.

    ``beta`` is a fixed value, or None for a learned beta updated on
    ``loss_beta = beta_sign * loss + reg(beta)``; ``reset_each_epoch`` re-draws beta from the
    initial choices and resets its optimizer at the start of each epoch.
    """

    name: str
    loss: str  # "ce" (cross-entropy on response tokens) or "distill" (KL / RKL mix)
    needs_teacher: bool
    description: str
    seqkd: bool = False
    beta: float | None = None
    beta_sign: float = -1.0
    reset_each_epoch: bool = True

    @property
    def learned_beta(self) -> bool:
        return self.loss == "distill" and self.beta is None


#: The ``fixed:<beta>`` family: registered under this name so that help and errors list it.
FIXED = "fixed:<beta>"

for _spec in (
    MethodSpec("sft", "ce", False, "cross-entropy on the data's responses"),
    MethodSpec("seqkd", "ce", True, "cross-entropy on the teacher's greedy responses", seqkd=True),
    MethodSpec("kd", "distill", True, "forward KL (beta = 0)", beta=0.0),
    MethodSpec("rkd", "distill", True, "reverse KL (beta = 1)", beta=1.0),
    MethodSpec("akd", "distill", True, "adaptive beta: -loss + reg, reset every epoch"),
    MethodSpec("m3", "distill", True, "the same as akd"),
    MethodSpec(FIXED, "distill", True, "KL/RKL mix with a fixed beta in [0, 1]", beta=0.0),
    MethodSpec("m1", "distill", True, "ablation: +loss + reg (no negative loss)", beta_sign=1.0),
    MethodSpec("m2", "distill", True, "ablation: no per-epoch reset of beta", reset_each_epoch=False),
):
    METHODS.register(_spec.name, _spec, help=_spec.description)


def resolve_method(name: str) -> MethodSpec:
    """The spec of a method name, including ``fixed:<beta>``; UsageError when unknown."""
    key = name.strip().lower()
    if key.startswith("fixed:"):
        try:
            value = float(key.split(":", 1)[1])
        except ValueError:
            raise UsageError(f"--method {name!r}: beta must be a number in [0, 1]") from None
        if not 0.0 <= value <= 1.0 or math.isnan(value):
            raise UsageError(f"--method {name!r}: beta must be in [0, 1]")
        return replace(METHODS.get(FIXED), name=key, description=f"fixed beta = {value}", beta=value)
    return METHODS.get(key)


def check_distill_options(
    method: str, temperature: float, beta_init: tuple[float, ...]
) -> MethodSpec:
    """The method's spec once the options every distillation run shares are sane (UsageError)."""
    if not temperature > 0:
        raise UsageError("--temperature must be > 0")
    if not beta_init or not all(0 <= b <= 1 for b in beta_init):
        raise UsageError("beta_init values must lie in [0, 1]")
    return resolve_method(method)


__all__ = ["FIXED", "MethodSpec", "check_distill_options", "resolve_method"]
