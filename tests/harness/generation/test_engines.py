"""The engine contract without a vLLM install: registry, options, and failures that need no server."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.errors import UsageError
from harness.core.registry import ENGINES
from harness.generation import GenerationConfig
from harness.generation.engine import Engine, engine_class, forced_scoring


def test_every_engine_is_registered_and_implements_the_contract() -> None:
    assert ENGINES.names() == ["transformers", "vllm", "openai"]
    for name in ENGINES:
        cls = engine_class(name)
        assert issubclass(cls, Engine) and cls.name == name


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "openai"}, "needs --base-url"),
        ({"engine": "openai", "base_url": "127.0.0.1:8000"}, "must start with http"),
        ({"base_url": "http://127.0.0.1:1/v1"}, "--base-url is for --engine openai"),
        ({"engine": "openai", "base_url": "http://x/v1", "api_key_env": "HARNESS_NO_SUCH_VAR"},
         "HARNESS_NO_SUCH_VAR"),
        ({"quantization": "awq"}, "are for --engine vllm"),
        ({"engine": "openai", "base_url": "http://x/v1", "concurrency": 0}, "--concurrency"),
        ({"engine": "nope"}, "unknown generation engine 'nope'"),
        ({"dtype": "fp8"}, "unknown dtype 'fp8'"),
    ],
)
def test_impossible_engine_options_are_usage_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        GenerationConfig(model="m", **options).validate()  # type: ignore[arg-type]


def test_dtype_aliases_are_one_vocabulary() -> None:
    from harness.generation.loading import canonical_dtype

    assert [canonical_dtype(n) for n in ("fp32", "float32", "bf16", "fp16", "auto")] == [
        "float32", "float32", "bfloat16", "float16", "auto"]
    GenerationConfig(model="m", dtype="bf16").validate()


def test_output_hash_separates_engines_and_keeps_transformers_hashes() -> None:
    base = GenerationConfig(model="m")
    served = GenerationConfig(model="m", engine="openai", base_url="http://a/v1")
    other = GenerationConfig(model="m", engine="openai", base_url="http://b/v1")
    hashes = {c.output_hash("humaneval") for c in (base, served, other)}
    assert len(hashes) == 3
    # the transformers hash has no engine in it: files written before engines existed resume
    assert base.output_hash("humaneval") == GenerationConfig(model="m").output_hash("humaneval")


def test_teacher_forced_scoring_per_engine() -> None:
    """Weights that load in transformers are scored there; served, quantized or LoRA models by
    their engine's prompt logprobs."""
    assert forced_scoring(GenerationConfig(model="m")) == "weights"
    assert forced_scoring(GenerationConfig(model="m", engine="vllm")) == "weights"
    assert forced_scoring(GenerationConfig(model="m", engine="vllm", quantization="awq")) == "prompt_logprobs"
    assert forced_scoring(GenerationConfig(model="m", engine="vllm", lora="/a")) == "prompt_logprobs"
    served = GenerationConfig(model="served", engine="openai", base_url="http://a/v1")
    assert forced_scoring(served) == "prompt_logprobs"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_is_one_line_exit_3(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.jsonl"
    argv = ["generate", "--engine", "openai", "--base-url", f"http://127.0.0.1:{_closed_port()}/v1",
            "--max-retries", "0", "--model", "m", "--dataset", "humaneval", "--data-dir",
            str(data_dir), "--limit", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach server http://127.0.0.1:" in err[0]
    assert not out.exists() or not out.read_text()


def test_engine_options_reach_eval_per_role() -> None:
    from harness.pipeline import EvalConfig

    cfg = EvalConfig(out=Path("x"), student="s", teacher="t", teacher_engine="openai",
                     teacher_base_url="http://t/v1",
                     engine_options={"concurrency": 3, "quantization": "awq"})
    student, teacher = cfg.generation_config("student"), cfg.generation_config("teacher")
    assert (student.engine, student.base_url, student.quantization) == ("transformers", None, None)
    assert (teacher.engine, teacher.base_url, teacher.concurrency) == ("openai", "http://t/v1", 3)
    assert teacher.quantization is None  # a vllm option is not handed to another engine


def test_samples_lines_name_a_non_default_engine(tmp_path: Path) -> None:
    meta = GenerationConfig(model="m", engine="openai", base_url="http://a/v1").sample_meta("humaneval", "h")
    assert meta["engine"] == "openai"
    assert "engine" not in GenerationConfig(model="m").sample_meta("humaneval", "h")
    json.dumps(meta)
