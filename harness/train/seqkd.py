"""SeqKD: the teacher answers every training prompt once (greedy), then the student is SFT-ed on it.

Generation is the expensive part, so its output is cached in a JSONL file named by a content hash
of everything that decides it (teacher identity, data, template, length limit). Lines are written
as batches finish, so an interrupted generation resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.train.data import Record, render_prompt

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".json")


def _teacher_fingerprint(teacher: str) -> str:
    """Path plus the names, sizes and mtimes of the checkpoint's files (a cheap revision id)."""
    p = Path(teacher)
    if not p.is_dir():
        return teacher  # a hub id: its name is its identity here
    parts = [str(p.resolve())]
    for f in sorted(p.iterdir()):
        if f.is_file() and f.suffix in _WEIGHT_SUFFIXES:
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{int(st.st_mtime)}")
    return "|".join(parts)


def cache_key(
    teacher: str, records: Sequence[Record], template: str, max_new_tokens: int, max_length: int
) -> str:
    """Content hash of the generation's inputs and settings (greedy decoding is implied)."""
    h = hashlib.sha256()
    h.update(_teacher_fingerprint(teacher).encode())
    h.update(f"|{template}|{max_new_tokens}|{max_length}|greedy|".encode())
    for r in records:
        h.update(json.dumps([r.instruction, r.input]).encode())
    return h.hexdigest()[:16]


def cache_path(
    out_dir: str | Path,
    teacher: str,
    records: Sequence[Record],
    template: str,
    max_new_tokens: int,
    max_length: int,
) -> Path:
    """Where the generated set lives: ``OUT/seqkd-<hash>.jsonl``."""
    key = cache_key(teacher, records, template, max_new_tokens, max_length)
    return Path(out_dir) / f"seqkd-{key}.jsonl"


def read_cache(path: Path) -> dict[int, str]:
    """Generated responses by record index (a torn last line is ignored)."""
    done: dict[int, str] = {}
    if not path.is_file():
        return done
    for line in path.read_text(encoding="utf-8").split("\n"):  # not splitlines: text may hold U+2028
        try:
            row = json.loads(line)
            done[int(row["index"])] = str(row["output"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut off by an interruption
    return done


def generate_responses(
    teacher: Any,
    tokenizer: Any,
    records: Sequence[Record],
    template: str,
    cache: str | Path,
    max_new_tokens: int = 256,
    max_length: int = 512,
    batch_size: int = 8,
    progress: bool = False,
) -> list[Record]:
    """Greedy teacher responses for ``records`` (cached); returns records with new outputs.

    ``teacher`` is a loaded causal LM on its device. Prompts longer than ``max_length`` get an
    empty response (they would be dropped from training anyway).
    """
    import torch

    path = Path(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_cache(path)
    todo = [i for i in range(len(records)) if i not in done]
    if todo:
        teacher.eval()
        device = next(teacher.parameters()).device
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (
            tokenizer.eos_token_id
        )
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="seqkd: teacher generation")
        with open(path, "a", encoding="utf-8") as fh:
            for start in range(0, len(todo), batch_size):
                idx = todo[start : start + batch_size]
                prompts = [
                    tokenizer(render_prompt(records[i], template), add_special_tokens=False)[
                        "input_ids"
                    ]
                    for i in idx
                ]
                keep = [j for j, ids in enumerate(prompts) if 0 < len(ids) < max_length]
                outputs = [""] * len(idx)
                if keep:
                    width = max(len(prompts[j]) for j in keep)
                    ids = torch.full((len(keep), width), pad_id, dtype=torch.long)
                    mask = torch.zeros((len(keep), width), dtype=torch.long)
                    for row, j in enumerate(keep):  # left padding for batched generation
                        ids[row, width - len(prompts[j]) :] = torch.tensor(prompts[j])
                        mask[row, width - len(prompts[j]) :] = 1
                    with torch.no_grad():
                        gen = teacher.generate(
                            input_ids=ids.to(device),
                            attention_mask=mask.to(device),
                            max_new_tokens=max(1, min(max_new_tokens, max_length - width)),
                            do_sample=False,
                            pad_token_id=pad_id,
                            eos_token_id=tokenizer.eos_token_id,
                        )
                    for row, j in enumerate(keep):
                        new = gen[row, width:].tolist()
                        if tokenizer.eos_token_id in new:
                            new = new[: new.index(tokenizer.eos_token_id)]
                        outputs[j] = tokenizer.decode(new, skip_special_tokens=True)
                for i, text in zip(idx, outputs, strict=True):
                    fh.write(json.dumps({"index": i, "output": text}) + "\n")
                    done[i] = text
                fh.flush()
                if bar is not None:
                    bar.update(len(idx))
        if bar is not None:
            bar.close()
    return with_cached_outputs(records, done)


def with_cached_outputs(records: Sequence[Record], done: dict[int, str]) -> list[Record]:
    """The records with the teacher's responses as outputs; empty responses are left out."""
    return [Record(r.instruction, r.input, done[i]) for i, r in enumerate(records) if done.get(i)]
