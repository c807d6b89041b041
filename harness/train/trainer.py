"""The distillation Trainer (a ``transformers.Trainer`` subclass) and the beta controller.

Subclassing Trainer (rather than a hand-written loop) keeps accelerate, DDP, DeepSpeed and FSDP
working unchanged; only ``compute_loss`` and logging are overridden. beta is not a student
parameter: it lives in :class:`BetaController` with its own AdamW, is stepped from a callback after
each student optimizer step, from statistics all-reduced over ranks so that every rank takes the
same step, and is saved next to each Trainer checkpoint (``beta_state.pt``).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import random
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from harness.core.errors import UsageError
from harness.train.data import IGNORE_INDEX
from harness.train.losses import beta_regulariser, distill_loss
from harness.train.methods import MethodSpec

BETA_STATE_NAME = "beta_state.pt"


# --------------------------------------------------------------------------------------------
# Beta controller
# --------------------------------------------------------------------------------------------


class BetaController:
    """Holds beta, its AdamW and the per-epoch re-draw; identical on every rank by construction.

    The gradient fed to AdamW is ``beta_sign * d loss / d beta + reg'(beta)`` with
    d loss / d beta = mean(RKL - KL) taken from the detached statistics of the student step, so no
    second backward through the student is needed. Re-draws use an RNG seeded by (seed, epoch),
    so they are the same on all ranks and after a resume.
    """

    def __init__(
        self,
        spec: MethodSpec,
        *,
        lr: float = 0.01,
        lam: float = 0.5,
        eps: float = 1e-4,
        init_choices: tuple[float, ...] = (0.1, 0.6),
        seed: int = 0,
    ) -> None:
        self.spec = spec
        self.lr = lr
        self.lam = lam
        self.eps = eps
        self.init_choices = tuple(init_choices)
        self.seed = seed
        start = spec.beta if spec.beta is not None else self.init_choices[0]
        self.param = torch.nn.Parameter(torch.tensor(float(start), dtype=torch.float64))
        self.optimizer = self._new_optimizer()
        self.epoch: int | None = None  # the epoch beta was last drawn for
        self.updates = 0

    def _new_optimizer(self) -> torch.optim.AdamW:
        return torch.optim.AdamW([self.param], lr=self.lr, weight_decay=0.0)

    @property
    def learned(self) -> bool:
        return self.spec.learned_beta

    @property
    def value(self) -> float:
        return float(self.param.detach().item())

    def draw(self, epoch: int) -> float:
        """The initial beta of ``epoch`` (deterministic in seed and epoch)."""
        return random.Random(self.seed * 1_000_003 + epoch).choice(self.init_choices)

    def begin_epoch(self, epoch: int) -> None:
        """Re-draw beta and reset its optimizer (AKD/M1 every epoch, M2 only at the start)."""
        if not self.learned or self.epoch == epoch:
            return
        if self.epoch is not None and not self.spec.reset_each_epoch:
            self.epoch = epoch
            return
        with torch.no_grad():
            self.param.fill_(self.draw(epoch))
        self.optimizer = self._new_optimizer()
        self.epoch = epoch

    def gradient(self, dloss_dbeta: float) -> float:
        """d loss_beta / d beta at the current beta."""
        beta = self.param.detach().clone().requires_grad_(True)
        reg = beta_regulariser(beta, self.lam, self.eps)
        (reg_grad,) = torch.autograd.grad(reg, beta)
        return self.spec.beta_sign * dloss_dbeta + float(reg_grad.item())

    def update(self, dloss_dbeta: float) -> float:
        """One AdamW step on beta, then clamp to [0, 1]; returns the gradient used."""
        if not self.learned:
            return 0.0
        grad = self.gradient(dloss_dbeta)
        self.param.grad = torch.tensor(grad, dtype=self.param.dtype)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            self.param.clamp_(0.0, 1.0)
        self.updates += 1
        return grad

    def set_value(self, value: float) -> None:
        with torch.no_grad():
            self.param.fill_(float(value))

    def state_dict(self) -> dict[str, Any]:
        return {"beta": self.value, "epoch": self.epoch, "updates": self.updates,
                "optimizer": self.optimizer.state_dict(), "method": self.spec.name}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.set_value(float(state["beta"]))
        self.epoch = state.get("epoch")
        self.updates = int(state.get("updates", 0))
        self.optimizer = self._new_optimizer()
        if state.get("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])

    def save(self, directory: str | Path) -> None:
        torch.save(self.state_dict(), Path(directory) / BETA_STATE_NAME)

    def load(self, directory: str | Path) -> bool:
        """Restore from a checkpoint dir; False when it holds no beta state."""
        path = Path(directory) / BETA_STATE_NAME
        if not path.is_file():
            return False
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return True


# --------------------------------------------------------------------------------------------
# Loss computation shared by the Trainer and the benchmark
# --------------------------------------------------------------------------------------------

# Per-step statistics, summed over micro-batches and ranks (one all-reduce per step).
STAT_KEYS = (
    "kl_sum",  # sum over samples of per-sample mean KL
    "rkl_sum",
    "kd_samples",
    "agree",  # response tokens where student top-1 == teacher top-1
    "kd_tokens",
    "correct",  # response tokens where student top-1 == the label
    "resp_tokens",
    "input_tokens",
)
_S = {k: i for i, k in enumerate(STAT_KEYS)}


def response_positions(
    labels: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions whose logits predict a response token, their targets and their batch rows.

    A label counts only where the attention mask is 1: padding is recognised by position, never
    by token id (pad = eos is common and the response's closing EOS must be learned).
    """
    valid = (labels != IGNORE_INDEX) & attention_mask.bool()
    pred = torch.zeros_like(valid)
    pred[:, :-1] = valid[:, 1:]
    targets = labels[:, 1:][valid[:, 1:]]
    rows = pred.nonzero(as_tuple=True)[0]
    return pred, targets, rows


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    return model


def _accepts_logits_to_keep(model: torch.nn.Module) -> bool:
    try:
        params = inspect.signature(_unwrap(model).forward).parameters
    except (TypeError, ValueError):
        return False
    return "logits_to_keep" in params


def vocab_size_of(model: torch.nn.Module) -> int:
    """Rows of the output embedding (what the logits' last dimension will be)."""
    m: Any = _unwrap(model)
    get_head = getattr(m, "get_output_embeddings", None)
    weight = getattr(get_head() if callable(get_head) else None, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() == 2 and weight.shape[0] > 0:
        return int(weight.shape[0])  # 0 rows: a sharded (ZeRO-3 / FSDP) placeholder
    return int(m.config.vocab_size)


def check_vocab(student: torch.nn.Module, teacher: torch.nn.Module | None) -> None:
    """Student and teacher must share the vocabulary, or KL over tokens means nothing."""
    if teacher is None:
        return
    vs, vt = vocab_size_of(student), vocab_size_of(teacher)
    if vs != vt:
        raise UsageError(
            f"vocabulary size mismatch: student has {vs} tokens, teacher has {vt} "
            "(distillation needs the same tokenizer)"
        )


@dataclass
class LossComputer:
    """Response-token logits of both models and the method's loss, with per-step statistics.

    Logits are produced only at response positions where the model supports a boolean
    ``logits_to_keep`` (transformers >= 5): the full ``[batch, length, vocab]`` logits of neither
    model are materialised. Otherwise the full logits are computed and indexed at once.
    """

    spec: MethodSpec
    teacher: torch.nn.Module | None = None
    temperature: float = 1.0
    chunk_size: int = 512
    #: Per model (by id): does it take a boolean ``logits_to_keep``?
    _keep_ok: dict[int, bool] = field(default_factory=dict, init=False, repr=False)

    def response_logits(
        self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
        pred_mask: torch.Tensor, n: int,
    ) -> torch.Tensor:
        """``[N, V]`` logits at the ``n`` positions of ``pred_mask`` (row-major order)."""
        key = id(_unwrap(model))
        if self._keep_ok.get(key, _accepts_logits_to_keep(model)):
            try:
                out = model(
                    input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                    logits_to_keep=pred_mask,
                )
                logits = out.logits
                if logits.dim() == 2 and logits.shape[0] == n:
                    self._keep_ok[key] = True
                    return logits
                if logits.dim() == 3 and logits.shape[:2] == pred_mask.shape:
                    self._keep_ok[key] = False
                    return logits[pred_mask]
            except torch.cuda.OutOfMemoryError:
                raise
            except (TypeError, IndexError, RuntimeError):
                if self._keep_ok.get(key):
                    raise  # it worked before: a real error, not a missing feature
            self._keep_ok[key] = False
        out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return out.logits[pred_mask]

    def __call__(
        self, student: torch.nn.Module, inputs: Mapping[str, torch.Tensor], beta: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, stats) for one micro-batch; ``stats`` is a float64 vector over ``STAT_KEYS``."""
        input_ids = inputs["input_ids"]
        attention_mask = inputs["attention_mask"]
        labels = inputs["labels"]
        pred_mask, targets, rows = response_positions(labels, attention_mask)
        device = input_ids.device
        stats_dtype = torch.float32 if device.type == "mps" else torch.float64
        parts: dict[str, torch.Tensor] = {
            "resp_tokens": torch.tensor(float(targets.numel()), device=device),
            "input_tokens": attention_mask.sum(),
        }
        if self.spec.loss == "distill":
            if self.teacher is None:
                raise UsageError(f"method {self.spec.name} needs a teacher")
            # The teacher runs first (its transient activations are gone before the student's
            # pile up), in eval mode, without grad and in its own dtype (no autocast).
            with torch.no_grad(), torch.autocast(device_type=device.type, enabled=False):
                zt = self.response_logits(
                    self.teacher, input_ids, attention_mask, pred_mask, targets.numel()
                )
        zs = self.response_logits(student, input_ids, attention_mask, pred_mask, targets.numel())
        if self.spec.loss == "distill":
            if zs.shape[-1] != zt.shape[-1]:
                raise UsageError(
                    f"vocabulary size mismatch: student logits have {zs.shape[-1]} entries, "
                    f"teacher logits {zt.shape[-1]}"
                )
            out = distill_loss(
                zs, zt, rows, input_ids.shape[0], beta, self.temperature, self.chunk_size
            )
            del zt
            loss = out.loss
            parts["kl_sum"] = out.kl.sum()
            parts["rkl_sum"] = out.rkl.sum()
            parts["kd_samples"] = torch.tensor(float(out.kl.numel()), device=device)
            parts["agree"] = out.agree
            parts["kd_tokens"] = torch.tensor(float(out.n_tokens), device=device)
            top1 = out.student_top1
        else:
            loss = F.cross_entropy(zs.float(), targets) if targets.numel() else zs.sum() * 0.0
            top1 = zs.detach().argmax(-1)
        if top1 is not None and top1.numel():
            parts["correct"] = (top1 == targets).sum()
        stats = torch.zeros(len(STAT_KEYS), dtype=stats_dtype, device=device)
        for k, v in parts.items():
            stats[_S[k]] = v.detach().to(stats_dtype)
        return loss, stats


# --------------------------------------------------------------------------------------------
# Trainer
# --------------------------------------------------------------------------------------------


def _peak_memory_gib(device: torch.device) -> float:
    """Peak accelerator memory allocated, or the process's peak RSS on CPU."""
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


class _QuietProgress(ProgressCallback):
    """tqdm bar that shows loss and beta in its postfix instead of printing every log dict."""

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if state.is_world_process_zero and self.training_bar is not None and logs:
            keys = ("loss", "kl", "rkl", "beta")
            post = {k: f"{logs[k]:.4g}" for k in keys if isinstance(logs.get(k), (int, float))}
            self.training_bar.set_postfix(post, refresh=False)


class _DistillCallback(TrainerCallback):
    """Epoch boundaries, the per-step beta update and saving beta next to checkpoints."""

    def __init__(self, trainer: DistillTrainer) -> None:
        self.trainer = trainer
        self.next_epoch = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # After a resume, state.epoch is where the checkpoint stopped (e.g. 1.0 at the end of
        # the first epoch, 0.5 in its middle): the next on_epoch_begin is for floor(epoch).
        self.next_epoch = int(math.floor((state.epoch or 0.0) + 1e-9))
        self.trainer._window_reset()

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer.beta.begin_epoch(self.next_epoch)
        self.next_epoch += 1

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer._end_of_step()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and ckpt.is_dir():
            self.trainer.beta.save(ckpt)


class DistillTrainer(Trainer):
    """Trainer for SFT, SeqKD and the KL/RKL family (KD, RKD, fixed beta, AKD, M1, M2)."""

    # compute_loss returns a per-micro-batch mean: let the Trainer divide by the GA steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args: Any,
        beta: BetaController,
        teacher: torch.nn.Module | None = None,
        log_path: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        """``args`` are :class:`~harness.train.arguments.DistillArguments`: the method, temperature
        and loss chunking come from them."""
        super().__init__(*args, **kwargs)
        method: MethodSpec = self.args.spec  # type: ignore[attr-defined]
        # Our loss normalises itself per sample: no token counting (and no all-gather of the
        # counts across ranks) for a num_items_in_batch we would not use.
        self.model_accepts_loss_kwargs = False
        self.method = method
        self.beta = beta
        self.teacher = teacher
        if method.loss == "distill" and teacher is None:
            raise UsageError(f"method {method.name} needs --teacher")
        if teacher is not None and method.loss == "distill":
            assert self.model is not None
            check_vocab(self.model, teacher)
            teacher.to(self.args.device)
            teacher.eval()
            teacher.requires_grad_(False)
        self.loss_computer = LossComputer(method, teacher if method.loss == "distill" else None,
                                          self.args.temperature, self.args.chunk_size)  # type: ignore[attr-defined]
        self.log_path = Path(log_path) if log_path else None
        dtype = torch.float32 if self.args.device.type == "mps" else torch.float64
        self._step_stats = torch.zeros(len(STAT_KEYS), dtype=dtype, device=self.args.device)
        self._window_reset()
        self.remove_callback(PrinterCallback)
        if self.pop_callback(ProgressCallback) is not None:
            self.add_callback(_QuietProgress())
        self.add_callback(_DistillCallback(self))

    # ---- loss ---------------------------------------------------------------------------------

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        loss, stats = self.loss_computer(model, inputs, self.beta.value)
        if model.training:
            self._step_stats += stats
        return (loss, {}) if return_outputs else loss

    # ---- per-step bookkeeping -----------------------------------------------------------------

    def _window_reset(self) -> None:
        self._win_stats = [0.0] * len(STAT_KEYS)
        self._win_steps = 0
        self._win_start = time.perf_counter()
        self._last: dict[str, float | None] = {}

    def _world(self) -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def _end_of_step(self) -> None:
        """All-reduce this step's statistics, then step beta (same inputs => same beta)."""
        stats = self._step_stats.clone()
        self._step_stats.zero_()
        rank, world = self._world()
        if world > 1:
            torch.distributed.all_reduce(stats)
        vals = stats.tolist()
        beta_used = self.beta.value
        n = vals[_S["kd_samples"]]
        dloss = (vals[_S["rkl_sum"]] - vals[_S["kl_sum"]]) / n if n > 0 else None
        grad = self.beta.update(dloss) if (self.beta.learned and dloss is not None) else None
        if world > 1 and self.beta.learned:
            # Belt and braces: rank 0's beta is the one every rank keeps.
            t = torch.tensor([self.beta.value], dtype=torch.float64, device=self.args.device)
            torch.distributed.broadcast(t, 0)
            self.beta.set_value(float(t.item()))
        for i, v in enumerate(vals):
            self._win_stats[i] += v
        self._win_steps += 1
        self._last = {
            "beta": beta_used if self.method.loss == "distill" else None,
            "beta_grad": grad,
            "dloss_dbeta": dloss,
            "beta_next": self.beta.value if self.method.loss == "distill" else None,
        }
        if world > 1 and self.log_path is not None:
            trace = self.log_path.parent / f"beta_trace.rank{rank}.jsonl"
            with open(trace, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": self.state.global_step, **self._last}) + "\n")

    def _window_record(self) -> dict[str, Any]:
        w = self._win_stats
        elapsed = max(time.perf_counter() - self._win_start, 1e-9)
        kd_n = w[_S["kd_samples"]]
        kd_tok = w[_S["kd_tokens"]]
        resp = w[_S["resp_tokens"]]
        rec: dict[str, Any] = {
            "kl": w[_S["kl_sum"]] / kd_n if kd_n else None,
            "rkl": w[_S["rkl_sum"]] / kd_n if kd_n else None,
            **self._last,
            "agreement": w[_S["agree"]] / kd_tok if kd_tok else None,
            "token_acc": w[_S["correct"]] / resp if resp else None,
            "tokens_per_s": w[_S["input_tokens"]] / elapsed,
            "response_tokens_per_s": resp / elapsed,
            "peak_mem_gib": _peak_memory_gib(self.args.device),
        }
        self._window_reset()
        return rec

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the distillation statistics to training logs and append them to train_log.jsonl."""
        if "loss" in logs and self._win_steps:
            extra = self._window_record()
            record = {
                "step": self.state.global_step,
                "epoch": self.state.epoch,
                "method": self.method.name,
                "loss": logs.get("loss"),
                "learning_rate": logs.get("learning_rate"),
                "grad_norm": logs.get("grad_norm"),
                **extra,
            }
            # JSON has no NaN/inf: a non-finite number is logged as null
            record = {
                k: _finite(float(v)) if isinstance(v, float) else v for k, v in record.items()
            }
            for k in ("kl", "rkl", "beta", "beta_grad", "agreement"):
                if record.get(k) is not None:
                    logs[k] = record[k]
            if self.log_path is not None and self.is_world_process_zero():
                with open(self.log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
        super().log(logs, start_time)


def truncate_log(path: str | Path, max_step: int) -> None:
    """Drop log lines past ``max_step`` (a resumed run re-logs them: no duplicates)."""
    p = Path(path)
    if not p.is_file():
        return
    keep = []
    for line in p.read_text(encoding="utf-8").split("\n"):  # not splitlines: text may hold U+2028
        try:
            if int(json.loads(line).get("step", 0)) <= max_step:
                keep.append(line)
        except (ValueError, AttributeError):
            continue
    p.write_text("".join(f"{line}\n" for line in keep), encoding="utf-8")


def world_info() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment, before torch.distributed starts."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
