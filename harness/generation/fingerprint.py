"""Model fingerprints: the identity the teacher cache keys generations by.

A local directory (a training checkpoint) is identified by content, so re-saving the same weights
hits the cache and retraining into the same path misses it; a hub model by ``id@revision``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Files of a checkpoint that decide its outputs: config, generation defaults, tokenizer, weights.
_CONFIG_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "chat_template.jinja",
    "chat_template.json",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    """sha256 of a file, memoised by (path, size, mtime) so a big checkpoint is read once."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_MEMO:
        from harness.results.store import sha256_file

        _HASH_MEMO[key] = sha256_file(path)
    return _HASH_MEMO[key]


def model_fingerprint(model_path_or_id: str | os.PathLike[str], revision: str | None = None) -> str:
    """``sha256:<hex>`` over a local checkpoint's config and weight file hashes, or
    ``<hub id>@<revision>`` (``main`` when none) for a hub model."""
    path = Path(model_path_or_id).expanduser()
    if not path.is_dir():
        return f"{model_path_or_id}@{revision or 'main'}"
    h = hashlib.sha256()
    for name in _CONFIG_FILES:
        f = path / name
        if f.is_file():
            h.update(f"{name}\0{_file_sha256(f)}\n".encode())
    weights = sorted(f for f in path.iterdir() if f.is_file() and f.name.endswith(_WEIGHT_SUFFIXES))
    for f in weights:
        h.update(f"{f.name}\0{_file_sha256(f)}\n".encode())
    return f"sha256:{h.hexdigest()}"
