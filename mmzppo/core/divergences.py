"""Distillation losses of the baselines (paper App. D.2): per-token divergences between the
student's and the teacher's next-token distributions.

Notation: S = the student's distribution at one position, T = the teacher's, both as
log-probs over the same vocabulary (they must share a tokenizer). The generalised
Jensen-Shannon divergence with weight beta (GKD, Agarwal et al. 2024), in our own words:

* 0 < beta < 1   JSD_beta(T, S) = beta * KL(T || M) + (1 - beta) * KL(S || M),
                 with the mixture M = beta * T + (1 - beta) * S.
                 beta = 0.5 is the symmetric Jensen-Shannon divergence (at most log 2).
* beta = 0       KL(T || S), the forward KL (what supervised distillation minimises);
* beta = 1       KL(S || T), the reverse KL (mode seeking).

The two ends are defined as those KLs because the mixture formula itself goes to 0 there
(its gradient behaves like the forward / reverse KL up to a factor beta or 1 - beta, which is
why GKD takes the limits this way).

Full vocabulary or top-k: a local teacher gives every token's log-prob; a served teacher
(vLLM's OpenAI server) gives only its top-k log-probs per position. `sparse_support` maps
both distributions onto the teacher's k tokens plus one TAIL bucket holding the rest of the
mass, and the divergence is taken over those k + 1 outcomes. That is an APPROXIMATION: it
ignores how each distribution spreads its tail over the other V - k tokens (it equals the
full divergence when the k tokens carry all of both distributions' mass).

`sampled_reverse_kl` is the cheap on-policy variant common in practice: only the log-probs
of the token the student sampled, log S(y_t) - log T(y_t), whose expectation over the
student's samples is KL(S || T); used as a fixed per-token penalty on a score-function loss.

All functions are pure tensor functions: (..., V) log-probs in, (...) per-position values out.
Tokens with probability 0 in a distribution (the suppressed vision control tokens) add 0.
"""

from __future__ import annotations

import math

import torch

TAIL_FLOOR = 1e-12  # smallest tail mass kept (log of 0 has no gradient)
# log-probs are floored here before any arithmetic: exp(-1e4) is exactly 0 in float32, so a
# probability-0 token still adds exactly 0, but no -inf - -inf (NaN, in values or gradients) occurs.
LOG_FLOOR = -1e4


def kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL(P || Q) over the last axis, from log-probs; terms where P = 0 are 0."""
    logp, logq = logp.clamp_min(LOG_FLOOR), logq.clamp_min(LOG_FLOOR)
    return (logp.exp() * (logp - logq)).sum(-1)


def generalized_jsd(student: torch.Tensor, teacher: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """JSD_beta(T, S) per position (see the module docstring for beta = 0 and 1)."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if beta == 0.0:
        return kl(teacher, student)
    if beta == 1.0:
        return kl(student, teacher)
    student, teacher = student.clamp_min(LOG_FLOOR), teacher.clamp_min(LOG_FLOOR)
    mixture = torch.logsumexp(torch.stack([teacher + math.log(beta), student + math.log(1.0 - beta)]), dim=0)
    return beta * kl(teacher, mixture) + (1.0 - beta) * kl(student, mixture)


def sparse_support(
    student: torch.Tensor, teacher_values: torch.Tensor, teacher_indices: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both distributions on the teacher's top-k tokens + one tail bucket: (..., k + 1) log-probs.

    student: (..., V) full log-probs; teacher_values / teacher_indices: (..., k) the teacher's
    top-k log-probs and their token ids.
    """
    student_top = student.gather(-1, teacher_indices)
    return with_tail(student_top), with_tail(teacher_values)


def with_tail(top: torch.Tensor) -> torch.Tensor:
    """Append log(1 - sum of the top-k probabilities) to (..., k) log-probs."""
    tail = (1.0 - top.exp().sum(-1, keepdim=True)).clamp_min(TAIL_FLOOR)
    return torch.cat([top, tail.log()], dim=-1)


def top_k(logprobs: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest log-probs of each position and their token ids (what a server returns)."""
    values, indices = logprobs.topk(min(k, logprobs.shape[-1]), dim=-1)
    return values, indices


def sampled_reverse_kl(student_token: torch.Tensor, teacher_token: torch.Tensor) -> torch.Tensor:
    """Per-token loss whose gradient, over the student's own samples y_t, is that of KL(S || T):
    (log S(y_t) - log T(y_t)), held fixed, times log S(y_t)."""
    penalty = (student_token - teacher_token).detach()
    return penalty * student_token


def masked_token_mean(per_token: torch.Tensor, mask: torch.Tensor, num_tokens: float | None = None) -> torch.Tensor:
    """Sum of `per_token` over `mask`, over `num_tokens` (default: the mask's count): the
    token-level aggregation of every loss here, split-invariant like the PPO loss."""
    mask = mask.to(per_token.dtype)
    denominator = mask.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=per_token.dtype)
    return (per_token * mask).sum() / denominator.clamp_min(1.0)
