"""The AKD loss math, pure torch (no transformers), so it can be tested against float64 references.

Per response token, with temperature T: p = softmax(z_teacher / T), q = softmax(z_student / T),
KL = sum p log(p / q) and RKL = sum q log(q / p). Per sample the loss is
(beta * RKL + (1 - beta) * KL) summed over its response tokens divided by its number of response
tokens; the batch loss is the mean over samples.

Why a custom autograd function: the naive implementation runs two log-softmax pairs over the full
``[tokens, vocab]`` logits in fp32 and keeps all of their intermediates for backward (several fp32
copies of the logits). Here one shared log-softmax pass per chunk of tokens gives both KL and RKL
(they share ``log p - log q``), and the student gradient is written in the same pass (its closed
form is cheap), so nothing but one gradient buffer in the logits' own dtype outlives the forward and
the teacher logits can be freed before the student's backward. The beta gradient comes for free:
d loss / d beta = mean over samples of (RKL - KL).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Log-probabilities are clamped here so that a -inf logit (masked vocabulary entries) gives
# 0 * finite = 0 rather than 0 * inf = nan in p * log(p / q).
_LOGP_FLOOR = -1e30


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp32 for half inputs (the loss must not be computed in bf16), float64 stays float64."""
    return torch.promote_types(dtype, torch.float32)


def kl_rkl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token (KL, RKL) from one shared log-softmax pass; differentiable through plain autograd.

    Used for small inputs and as the readable definition; ``akd_token_loss`` is the memory-lean
    chunked version used in training.
    """
    dtype = _compute_dtype(student_logits.dtype)
    s = torch.log_softmax(student_logits.to(dtype) / temperature, dim=-1).clamp(min=_LOGP_FLOOR)
    t = torch.log_softmax(teacher_logits.to(dtype) / temperature, dim=-1).clamp(min=_LOGP_FLOOR)
    d = t - s  # log(p / q), shared by both directions
    kl = (t.exp() * d).sum(-1)
    rkl = -(s.exp() * d).sum(-1)
    return kl, rkl


def naive_kl_rkl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper-style reference: KL and RKL as two separate computations (two softmax pairs).

    Kept for tests and for ``bench/bench_train.py`` (the baseline the trainer is compared with).
    """
    dtype = _compute_dtype(student_logits.dtype)
    zs = student_logits.to(dtype) / temperature
    zt = teacher_logits.to(dtype) / temperature
    kl = F.kl_div(
        torch.log_softmax(zs, -1), torch.log_softmax(zt, -1), reduction="none", log_target=True
    ).sum(-1)
    rkl = F.kl_div(
        torch.log_softmax(zt, -1), torch.log_softmax(zs, -1), reduction="none", log_target=True
    ).sum(-1)
    return kl, rkl


def sample_token_weights(
    sample_index: torch.Tensor, n_samples: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-token weight 1 / (len(sample) * n_valid_samples), the lengths and n_valid_samples.

    Samples without response tokens (all truncated away) are left out of the mean instead of
    counting as zero loss.
    """
    lengths = torch.bincount(sample_index, minlength=n_samples)
    n_valid = int((lengths > 0).sum().item())
    if n_valid == 0:
        return torch.zeros(0, device=sample_index.device), lengths, 0
    wdtype = torch.float32 if sample_index.device.type == "mps" else torch.float64
    per_token_len = lengths[sample_index].to(wdtype)
    return 1.0 / (per_token_len * n_valid), lengths, n_valid


def per_sample_mean(
    values: torch.Tensor, sample_index: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """Mean of per-token ``values`` within each sample that has tokens (shape ``[n_valid]``)."""
    sums = torch.zeros(lengths.shape[0], dtype=values.dtype, device=values.device)
    sums.index_add_(0, sample_index, values)
    valid = lengths > 0
    return sums[valid] / lengths[valid].to(values.dtype)


@dataclass
class TokenLossOutput:
    """What the fused pass returns: the differentiable scalar and detached per-token stats."""

    loss: torch.Tensor
    kl: torch.Tensor
    rkl: torch.Tensor
    student_top1: torch.Tensor  # argmax token per position, for agreement / accuracy stats
    teacher_top1: torch.Tensor

    @property
    def agree(self) -> torch.Tensor:
        """Bool per token: student top-1 == teacher top-1."""
        return self.student_top1 == self.teacher_top1


class _FusedKLRKL(torch.autograd.Function):
    """Chunked shared pass for loss = sum_t w_kl[t] KL_t + w_rkl[t] RKL_t, grad made in forward.

    dKL/dz_s = (q - p) / T and dRKL/dz_s = q * (log q - log p - RKL) / T, so the gradient of the
    weighted sum is written chunk by chunk into a buffer in the student logits' dtype; backward only
    scales it by the incoming scalar gradient. The teacher logits are never saved.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        w_kl: torch.Tensor,
        w_rkl: torch.Tensor,
        temperature: float,
        chunk_size: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        n = student_logits.shape[0]
        dtype = _compute_dtype(student_logits.dtype)
        need_grad = ctx.needs_input_grad[0]  # type: ignore[attr-defined]
        grad = torch.empty_like(student_logits) if need_grad else None
        kl_out = torch.empty(n, dtype=dtype, device=student_logits.device)
        rkl_out = torch.empty(n, dtype=dtype, device=student_logits.device)
        s_top = torch.empty(n, dtype=torch.long, device=student_logits.device)
        t_top = torch.empty(n, dtype=torch.long, device=student_logits.device)
        step = chunk_size if chunk_size and chunk_size > 0 else max(n, 1)
        inv_t = 1.0 / temperature
        for start in range(0, n, step):
            end = min(start + step, n)
            zs = student_logits[start:end]
            zt = teacher_logits[start:end]
            s_top[start:end] = zs.argmax(-1)
            t_top[start:end] = zt.argmax(-1)
            a = zs.to(dtype)
            if temperature != 1.0:
                a = a * inv_t
            s = torch.log_softmax(a, dim=-1).clamp_(min=_LOGP_FLOOR)
            del a
            b = zt.to(dtype)
            if temperature != 1.0:
                b = b * inv_t
            t = torch.log_softmax(b, dim=-1).clamp_(min=_LOGP_FLOOR)
            del b
            p = t.exp()
            d = t.sub_(s)  # d = log p - log q, written over log p
            q = s.exp_()  # q, written over log q
            kl = (p * d).sum(-1)
            rkl = -(q * d).sum(-1)
            kl_out[start:end] = kl
            rkl_out[start:end] = rkl
            if grad is not None:
                wk = w_kl[start:end].to(dtype).unsqueeze(-1)
                wr = w_rkl[start:end].to(dtype).unsqueeze(-1)
                # g = wr * q * (-d - rkl) + wk * (q - p), built in place over d and p.
                g = d.add_(rkl.unsqueeze(-1)).mul_(q).mul_(wr).neg_()
                g.add_(p.sub_(q).neg_().mul_(wk))
                if temperature != 1.0:
                    g.mul_(inv_t)
                grad[start:end] = g
            del s, t, d, q, p
        loss = (w_kl.to(dtype) * kl_out).sum() + (w_rkl.to(dtype) * rkl_out).sum()
        ctx.save_for_backward(grad if grad is not None else torch.empty(0))
        ctx.mark_non_differentiable(kl_out, rkl_out, s_top, t_top)
        return loss, kl_out, rkl_out, s_top, t_top

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        grad_loss: torch.Tensor,
        *_unused: torch.Tensor,
    ) -> tuple[torch.Tensor | None, ...]:
        (grad,) = ctx.saved_tensors  # type: ignore[attr-defined]
        g = grad * grad_loss.to(grad.dtype) if ctx.needs_input_grad[0] else None  # type: ignore[attr-defined]
        return g, None, None, None, None, None


def akd_token_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    w_kl: torch.Tensor,
    w_rkl: torch.Tensor,
    temperature: float = 1.0,
    chunk_size: int = 0,
) -> TokenLossOutput:
    """Weighted sum of per-token KL and RKL over ``[N, V]`` logits, chunked over the N tokens.

    ``chunk_size`` <= 0 processes all tokens at once. The teacher logits get no gradient.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits differ in shape: {tuple(student_logits.shape)} "
            f"vs {tuple(teacher_logits.shape)}"
        )
    loss, kl, rkl, s_top, t_top = _FusedKLRKL.apply(
        student_logits, teacher_logits.detach(), w_kl, w_rkl, float(temperature), int(chunk_size)
    )
    return TokenLossOutput(loss=loss, kl=kl, rkl=rkl, student_top1=s_top, teacher_top1=t_top)


@dataclass
class DistillLossOutput:
    """Batch loss and the detached per-sample statistics the beta controller and the log need."""

    loss: torch.Tensor
    kl: torch.Tensor  # per valid sample: sum of token KL / length
    rkl: torch.Tensor  # per valid sample
    agree: torch.Tensor  # number of response tokens where student and teacher top-1 agree
    n_tokens: int
    student_top1: torch.Tensor | None = None

    @property
    def beta_grad(self) -> torch.Tensor:
        """d loss / d beta = mean over samples of (RKL - KL), detached."""
        if self.kl.numel() == 0:
            return torch.zeros((), dtype=self.kl.dtype, device=self.kl.device)
        return (self.rkl - self.kl).mean()


def distill_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    sample_index: torch.Tensor,
    n_samples: int,
    beta: float,
    temperature: float = 1.0,
    chunk_size: int = 0,
) -> DistillLossOutput:
    """The AKD batch loss over response-token logits ``[N, V]`` (``sample_index[t]`` = t's row)."""
    w, lengths, n_valid = sample_token_weights(sample_index, n_samples)
    if n_valid == 0:
        zero = student_logits.sum() * 0.0
        empty = torch.zeros(0, dtype=torch.float32, device=student_logits.device)
        none = torch.zeros(0, dtype=torch.long, device=student_logits.device)
        return DistillLossOutput(zero, empty, empty, torch.zeros((), device=zero.device), 0, none)
    w = w.to(student_logits.device)
    out = akd_token_loss(
        student_logits, teacher_logits, (1.0 - beta) * w, beta * w, temperature, chunk_size
    )
    return DistillLossOutput(
        loss=out.loss,
        kl=per_sample_mean(out.kl, sample_index, lengths),
        rkl=per_sample_mean(out.rkl, sample_index, lengths),
        agree=out.agree.sum(),
        n_tokens=int(sample_index.numel()),
        student_top1=out.student_top1,
    )


def naive_distill_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    sample_index: torch.Tensor,
    n_samples: int,
    beta: float | torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Reference batch loss through plain autograd (two separate softmax passes)."""
    kl, rkl = naive_kl_rkl(student_logits, teacher_logits, temperature)
    _, lengths, _ = sample_token_weights(sample_index, n_samples)
    per_tok = beta * rkl + (1 - beta) * kl
    return per_sample_mean(per_tok, sample_index, lengths).mean()


def beta_regulariser(beta: torch.Tensor, lam: float = 0.5, eps: float = 1e-4) -> torch.Tensor:
    """reg(beta) = lam * (-log(eps + 2|beta - .5|) - log(eps + 1 - 2|beta - .5|)).

    Pushes beta away from 0.5 (where neither divergence dominates) and away from the ends 0 and 1.
    """
    a = 2.0 * (beta - 0.5).abs()
    return lam * (-torch.log(eps + a) - torch.log(eps + 1.0 - a))
