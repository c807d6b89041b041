"""Tiny offline models for the generation tests, built once per session.

No weights can be downloaded, so a byte-level BPE tokenizer is trained on the local data and
random-init GPT-2 / GPTBigCode checkpoints are saved; a third model is trained for a few steps to
emit known solutions, so the stop/EOS paths and exact outputs can be checked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


#: What the trained model emits after each task prompt (then EOS).
STOP_TAIL = "\n\ndef extra():\n    return 0\n"


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    """Session directory for the models, outside pytest's rotating basetemp (concurrent pytest
    sessions of other suites on this machine prune old basetemps)."""
    path = Path(tempfile.mkdtemp(prefix="harness-generation-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    import torch

    torch.set_num_threads(1)  # tiny models: one thread is fastest and reproducible


@pytest.fixture(scope="session")
def tokenizer_dir(workdir: Path, data_dir: Path) -> Path:
    from harness.demo.tiny import corpus_from_data_dir, train_tokenizer

    out = workdir / "tok"
    train_tokenizer(corpus_from_data_dir(data_dir), out, vocab_size=512)
    return out


def _tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _make_chaotic(model: Any, std: float = 0.2, seed: int = 0) -> None:
    """Large random weights: outputs then depend strongly on the prompt (at the default init
    every prompt yields the same newlines), so a padding or batching bug changes them."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * std)


@pytest.fixture(scope="session")
def tiny_models(workdir: Path, tokenizer_dir: Path) -> dict[str, Path]:
    """Random-init ("chaotic") GPT-2 and GPTBigCode checkpoints."""
    from harness.demo.tiny import make_model

    tok = _tokenizer(tokenizer_dir)
    models = {}
    for arch in ("gpt2", "gpt_bigcode"):
        out = workdir / arch
        model = make_model(out, tok, arch=arch)
        _make_chaotic(model)
        model.save_pretrained(out)
        models[arch] = out
    return models


@pytest.fixture(scope="session")
def chat_model(workdir: Path, tiny_models: dict[str, Path]) -> Path:
    """The tiny GPT-2 with a chat template on its tokenizer."""
    out = workdir / "chat"
    shutil.copytree(tiny_models["gpt2"], out, dirs_exist_ok=True)
    tok = _tokenizer(out)
    tok.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )
    tok.save_pretrained(out)
    return out


def train_known(
    out: Path, tokenizer_dir: Path, data_dir: Path, **model_kwargs: Any
) -> Path:
    """Tiny GPT-2 trained (plain AdamW, <= 300 steps) to answer HumanEval/0 with its canonical
    solution then EOS, and HumanEval/2 with its canonical solution followed by an extra
    function (which the "\\ndef " stop must cut)."""
    import torch

    from harness.data.datasets import load_dataset
    from harness.demo.tiny import make_model

    ds = load_dataset("humaneval", data_dir)
    tok = _tokenizer(tokenizer_dir)
    model = make_model(out.with_name(out.name + "-untrained"), tok, arch="gpt2", **model_kwargs)
    targets = {
        "HumanEval/0": ds.tasks["HumanEval/0"].canonical_solution,
        "HumanEval/2": ds.tasks["HumanEval/2"].canonical_solution + STOP_TAIL,
    }
    seqs = []
    for tid, target in targets.items():
        p = tok(ds.tasks[tid].prompt)["input_ids"]
        t = tok(target)["input_ids"] + [tok.eos_token_id]
        seqs.append((torch.tensor([p + t]), len(p)))
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    learned = False
    for step in range(300):
        model.train()
        for ids, n_prompt in seqs:
            labels = ids.clone()
            labels[:, :n_prompt] = -100
            model(input_ids=ids, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 10 == 9:
            model.eval()
            with torch.no_grad():
                learned = all(
                    bool(
                        (model(input_ids=ids).logits[0, n - 1 : -1].argmax(-1) == ids[0, n:]).all()
                    )
                    for ids, n in seqs
                )
            if learned:
                break
    assert learned, "the tiny model did not learn its two answers in 300 steps"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def trained_model(workdir: Path, tokenizer_dir: Path, data_dir: Path) -> Path:
    """The tiny model trained to emit known solutions (see ``train_known``)."""
    return train_known(workdir / "trained", tokenizer_dir, data_dir)


@pytest.fixture(scope="session")
def vllm_model(workdir: Path, tokenizer_dir: Path, data_dir: Path) -> Path:
    """The same training with 64-wide attention heads: vLLM's CPU attention has no kernel for
    the 16-wide heads of ``trained_model``."""
    return train_known(workdir / "trained-h64", tokenizer_dir, data_dir, n_embd=128, n_head=2)
