"""End-to-end CPU training runs with tiny models (marked slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness.train.conftest import MAX_LENGTH, TEMPLATE, Tiny

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow


def _read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def heldout_kl(student_dir: Path, teacher_dir: Path, rows: list[dict]) -> float:
    """Mean per-sample KL(teacher || student) on held-out responses (teacher forcing)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.train.data import Collator, Record, encode_record
    from harness.train.losses import distill_loss
    from harness.train.trainer import response_positions

    tok = AutoTokenizer.from_pretrained(student_dir)
    items = [encode_record(Record(r["instruction"], r.get("input", ""), r["output"]), tok,
                           TEMPLATE, MAX_LENGTH) for r in rows]
    batch = Collator(tok.pad_token_id)([i for i in items if i])
    s = AutoModelForCausalLM.from_pretrained(student_dir).eval()
    t = AutoModelForCausalLM.from_pretrained(teacher_dir).eval()
    pred, _, rows_idx = response_positions(batch["labels"], batch["attention_mask"])
    with torch.no_grad():
        zs = s(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[pred]
        zt = t(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[pred]
    out = distill_loss(zs, zt, rows_idx, batch["input_ids"].shape[0], beta=0.0)
    return float(out.kl.mean())


def test_akd_distils_teacher_into_student(tiny: Tiny, teacher: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.train import TrainConfig, train

    kl_before = heldout_kl(tiny.student, teacher, tiny.heldout)
    out = tmp_path / "akd"
    result = train(TrainConfig(
        method="akd", student=str(tiny.student), teacher=str(teacher),
        data=str(tiny.train_jsonl), out=str(out), template=TEMPLATE, max_length=MAX_LENGTH,
        max_steps=16, batch_size=8, lr=1e-2, lr_scheduler="constant", progress=False,
        device="cpu", chunk_size=64,
    ))
    kl_after = heldout_kl(out, teacher, tiny.heldout)
    assert kl_after < 0.8 * kl_before, (kl_before, kl_after)

    log = _read_log(out)
    assert [r["step"] for r in log] == list(range(1, 17))
    for key in ("loss", "kl", "rkl", "beta", "beta_grad", "agreement", "tokens_per_s",
                "peak_mem_gib"):
        assert all(r[key] is not None for r in log), key
    betas = [r["beta"] for r in log] + [result.beta]
    assert all(0.0 <= b <= 1.0 for b in betas)
    assert max(betas) - min(betas) > 0.01  # beta moves
    assert log[-1]["kl"] < log[0]["kl"]

    # the checkpoint is a plain from_pretrained directory that generates
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("<fim_prefix>Write a function<fim_suffix><fim_middle>", return_tensors="pt")
    gen = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert gen.shape[1] > ids["input_ids"].shape[1]
    assert (out / "checkpoint-16" / "beta_state.pt").is_file()


@pytest.mark.parametrize(
    ("method", "beta_check"),
    [
        ("kd", lambda b: all(x == 0.0 for x in b)),
        ("rkd", lambda b: all(x == 1.0 for x in b)),
        ("fixed:0.3", lambda b: all(x == 0.3 for x in b)),
        ("m1", lambda b: b[0] in (0.1, 0.6)),
        ("m2", lambda b: b[0] in (0.1, 0.6)),
    ],
)
def test_baselines_run(tiny: Tiny, teacher: Path, tmp_path: Path, method: str,
                       beta_check) -> None:  # noqa: ANN001
    from harness.train import TrainConfig, train

    out = tmp_path / "run"
    train(TrainConfig(
        method=method, student=str(tiny.student), teacher=str(teacher), data=str(tiny.train_json),
        out=str(out), template=TEMPLATE, max_length=MAX_LENGTH, max_steps=2, batch_size=4,
        lr=1e-3, progress=False, device="cpu",
    ))
    log = _read_log(out)
    assert len(log) == 2
    assert beta_check([r["beta"] for r in log])


def test_seqkd_generates_once_then_sfts(tiny: Tiny, teacher: Path, tmp_path: Path) -> None:
    from harness.train import TrainConfig, train

    out = tmp_path / "seqkd"
    cfg = TrainConfig(
        method="seqkd", student=str(tiny.student), teacher=str(teacher),
        data=str(tiny.train_json), out=str(out), template=TEMPLATE, max_length=MAX_LENGTH,
        max_steps=2, batch_size=4, lr=1e-3, progress=False, device="cpu", limit=8,
        seqkd_max_new_tokens=12,
    )
    train(cfg)
    caches = list(out.glob("seqkd-*.jsonl"))
    assert len(caches) == 1
    lines = caches[0].read_text().splitlines()
    assert len(lines) == 8 and all("output" in json.loads(x) for x in lines)
    stamp = caches[0].stat().st_mtime_ns
    log = _read_log(out)
    assert log[0]["kl"] is None and log[0]["token_acc"] is not None
    train(cfg)  # second run: the generated set is reused, not regenerated
    assert caches[0].stat().st_mtime_ns == stamp
    assert len(caches[0].read_text().splitlines()) == 8
