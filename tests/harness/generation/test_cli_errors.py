"""Bad input fails with a one-line error and exit 2, before any generation starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["generate", *argv])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--n-samples", "0"), "n-samples"),
        (("--temperature", "-1"), "temperature"),
        (("--template", "nope"), "unknown template"),
        (("--dataset", "humaneval-x"), "unknown dataset"),
        (("--max-new-tokens", "0"), "max-new-tokens"),
        (("--limit", "-1"), "limit"),
    ],
)
def test_bad_options(
    extra: tuple[str, ...],
    message: str,
    tiny_models: dict[str, Path],
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [
        "--model",
        str(tiny_models["gpt2"]),
        "--dataset",
        "humaneval",
        "--out",
        str(tmp_path / "o.jsonl"),
        "--data-dir",
        str(data_dir),
    ]
    code, err = _run(capsys, *argv, *extra)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("harness generate: error:")
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(
    "model",
    [
        "/does/not/exist/model",
        "no-such-model-xyz",
        "no-such-org/no-such-model-xyz",
        "bad id with spaces",
    ],
)
def test_unknown_model(
    model: str,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, err = _run(
        capsys,
        "--model",
        model,
        "--dataset",
        "humaneval",
        "--out",
        str(tmp_path / "o.jsonl"),
        "--data-dir",
        str(data_dir),
        "--limit",
        "1",
    )
    assert code == 2, err
    assert err.count("\n") == 1 and model in err
    assert not (tmp_path / "o.jsonl").exists()


def test_model_dir_without_config(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    code, err = _run(
        capsys,
        "--model",
        str(tmp_path / "empty"),
        "--dataset",
        "humaneval",
        "--out",
        str(tmp_path / "o.jsonl"),
        "--data-dir",
        str(data_dir),
    )
    assert code == 2 and "config.json" in err


def test_dtype_choice_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "generate",
                "--model",
                "m",
                "--dataset",
                "humaneval",
                "--out",
                "o.jsonl",
                "--dtype",
                "int4",
            ]
        )
    assert exc.value.code == 2
