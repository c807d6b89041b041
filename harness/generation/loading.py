"""One model loader and one dtype vocabulary for generation and training.

Both load causal LMs from a hub id or a checkpoint directory, and both name weight dtypes; they
did so with two loaders and two spellings (``float32`` vs ``fp32``). Here a dtype has one
canonical name (``float32``, ``bfloat16``, ``float16``) and short aliases (``fp32``, ``bf16``,
``fp16``) that every option accepts; ``auto`` is resolved by the caller's rule (generation:
bfloat16 on a GPU, float32 on the CPU; training's teacher: the checkpoint's own dtype).
torch and transformers are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import InfraError, UsageError

if TYPE_CHECKING:
    import torch

#: Canonical dtype names and the aliases accepted for each.
DTYPE_ALIASES: dict[str, tuple[str, ...]] = {
    "auto": (),
    "float32": ("fp32",),
    "bfloat16": ("bf16",),
    "float16": ("fp16",),
}
DTYPES: tuple[str, ...] = tuple(DTYPE_ALIASES)
#: Every accepted spelling (for argparse ``choices``).
DTYPE_NAMES: tuple[str, ...] = tuple(n for c, a in DTYPE_ALIASES.items() for n in (c, *a))


def canonical_dtype(name: str, what: str = "--dtype") -> str:
    """``fp32`` -> ``float32`` and so on; an unknown name is a usage error (exit 2)."""
    for canonical, aliases in DTYPE_ALIASES.items():
        if name == canonical or name in aliases:
            return canonical
    raise UsageError(f"{what}: unknown dtype {name!r} (choose from {', '.join(DTYPE_NAMES)})")


def torch_dtype(name: str, what: str = "--dtype") -> Any:
    """The torch dtype of a name; ``auto`` stays ``"auto"`` (from_pretrained: as saved)."""
    import torch

    canonical = canonical_dtype(name, what)
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    return table.get(canonical, "auto")


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``auto``: this rank's GPU when CUDA is available, else the CPU."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for, but CUDA is not available")
        chosen = (
            torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
            if device == "cuda"
            else torch.device(device)
        )
        torch.cuda.set_device(chosen)  # compiled graphs and the static cache follow it
        return chosen
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 on a GPU that supports it (float16 otherwise), float32 on the CPU."""
    import torch

    if canonical_dtype(dtype) == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return torch_dtype(dtype)  # type: ignore[no-any-return]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", ".\\")) or name.count("/") > 1 or "\\" in name


def model_error(name: str, exc: BaseException, what: str = "model") -> Exception:
    """Map a loading failure to exit 2 (the user named something that is not there) or 3."""
    from huggingface_hub import errors as hub_errors

    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if Path(name).expanduser().is_dir():
        return UsageError(f"could not load {what} from directory {name!r}: {first}")

    user_side = (
        hub_errors.RepositoryNotFoundError,
        hub_errors.RevisionNotFoundError,
        hub_errors.GatedRepoError,
        hub_errors.EntryNotFoundError,
        hub_errors.HFValidationError,
    )
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if any(isinstance(c, user_side) for c in chain):
        return UsageError(
            f"{what} {name!r} not found on the Hugging Face Hub (or the revision does not exist)"
        )
    if any(isinstance(c, hub_errors.LocalEntryNotFoundError) for c in chain):
        if _offline():
            return UsageError(
                f"{what} {name!r} is not a local directory and not in the Hugging Face cache (offline)"
            )
        return InfraError(f"could not download {what} {name!r}: {str(exc).splitlines()[0]}")
    if isinstance(exc, (ValueError, KeyError)) or "not a valid model identifier" in str(exc):
        return UsageError(f"could not load {what} {name!r}: {first}")
    return InfraError(f"could not load {what} {name!r}: {first}")


def check_model_source(name: str, what: str = "model") -> str:
    """Fail fast (exit 2) on a model that cannot exist, before anything heavy runs."""
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"{what} path {name!r} is a file; give a model directory or a hub id")
        if not (path / "config.json").is_file():
            raise UsageError(
                f"{what} directory {name!r} has no config.json (not a saved transformers model)"
            )
        return str(path)
    if _looks_like_path(name):
        raise UsageError(f"{what} directory not found: {name}")
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        raise UsageError(f"{what} {name!r} is neither a directory nor a valid hub id") from None
    return name


def load_causal_lm(source: str, dtype: Any, revision: str | None = None, what: str = "model") -> Any:
    """A causal LM from a hub id or a checkpoint directory (checked first: exit 2 on a path
    that does not exist); loading failures map to exit 2 or 3 by ``model_error``."""
    from transformers import AutoModelForCausalLM

    path = check_model_source(source, what)
    try:
        return AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise model_error(source, exc, what) from exc


def load_tokenizer(source: str, revision: str | None = None, what: str = "model") -> Any:
    """The tokenizer of ``source``, with a pad token (EOS, else UNK) for padded batches."""
    from transformers import AutoTokenizer

    path = check_model_source(source, what)
    try:
        tok = AutoTokenizer.from_pretrained(path, revision=revision)
    except (OSError, ValueError, KeyError) as exc:
        raise model_error(source, exc, what) from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


def load_model(config: Any, device: torch.device) -> tuple[Any, Any]:
    """Model and tokenizer of a GenerationConfig, on ``device``, ready for left-padded batches."""
    tokenizer = load_tokenizer(config.model, config.revision)
    model = load_causal_lm(config.model, resolve_dtype(config.dtype, device), config.revision)
    try:
        model.to(device)
    except RuntimeError as exc:  # out of memory and the like
        raise InfraError(f"could not move model to {device}: {str(exc).splitlines()[0]}") from exc
    model.eval()
    tokenizer.padding_side = "left"
    return model, tokenizer
