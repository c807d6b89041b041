"""Tiny offline models for the eval tests, built once per session.

The generation tests already build what is needed (a BPE tokenizer trained on the local data,
random-init GPT-2 and GPTBigCode checkpoints, and a GPT-2 trained to answer HumanEval/0 with its
canonical solution); their fixtures are reused here, so the models are built once per session
when both suites run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.generation.conftest import (  # noqa: F401  (fixtures, re-exported)
    _threads,
    tiny_models,
    tokenizer_dir,
    trained_model,
    workdir,
)


@pytest.fixture(scope="session")
def other_student(workdir: Path, tokenizer_dir: Path) -> Path:  # noqa: F811
    """A third tiny model (GPT-2, another seed): a second student for the same teacher."""
    from transformers import AutoTokenizer

    from harness.demo.tiny import make_model

    out = workdir / "other-student"
    make_model(out, AutoTokenizer.from_pretrained(tokenizer_dir), arch="gpt2", seed=1)
    return out


@pytest.fixture(scope="session")
def foreign_model(workdir: Path, data_dir: Path) -> Path:  # noqa: F811
    """A tiny GPT-2 with a tokenizer of its own (another vocabulary): no token-level comparison
    with the other tiny models is possible."""
    from harness.demo.tiny import corpus_from_data_dir, make_model, train_tokenizer

    out = workdir / "foreign"
    tok = train_tokenizer(corpus_from_data_dir(data_dir, limit=200), out / "tok", vocab_size=384)
    make_model(out, tok, arch="gpt2", seed=2)
    return out
