"""The clipped token-level loss ZPPO trains with (paper, Eqs. 4-6).

* Eq. 4  ratio                       rho_t = exp(log pi_theta(y_t) - log pi_old(y_t))
* Eq. 5  clip-higher surrogate       min(rho_t A, clip(rho_t, 1 - eps_low, 1 + eps_high) A),
         eps_low = 0.20, eps_high = 0.28
* Eq. 6  dual clip for A < 0         max(that, c * A), c = 10
* token-level aggregation: the mean over all response tokens of the mini-batch.

No KL term, no entropy bonus (paper). The advantages come from `mmzppo.core.advantages`;
`mmzppo.train.objectives.ClippedPPO` applies this loss to rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LOG_RATIO_CLAMP = 20.0


@dataclass(frozen=True)
class ClipConfig:
    eps_low: float = 0.20  # lower clip of the ratio (1 - eps_low)
    eps_high: float = 0.28  # upper clip (1 + eps_high): clip-higher, DAPO
    dual_clip: float | None = 10.0  # c of the dual clip for negative advantages; None = off


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar to backpropagate
    clip_low_frac: float  # fraction of tokens whose ratio was clipped below (A < 0 side)
    clip_high_frac: float  # fraction clipped above (A > 0 side)
    dual_clip_frac: float  # fraction where the dual clip bound applied
    approx_kl: float  # mean (log pi_old - log pi_theta) over tokens, for monitoring only


def ppo_token_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: ClipConfig = ClipConfig(),
    num_tokens: float | None = None,
) -> LossOutput:
    """Eqs. 4-6 with token-level aggregation.

    logprobs, old_logprobs, mask: (B, T) per response token; advantages: (B,) per sequence.
    num_tokens: the denominator of the token mean. Default: the tokens in `mask`. Pass the
    number of tokens of the whole mini-batch when it is split into micro-batches or across
    processes, so the sum of the parts equals the loss of the whole.
    """
    mask = mask.to(logprobs.dtype)
    adv = advantages.to(logprobs.dtype).unsqueeze(1).expand_as(logprobs)
    # the log-ratio is clamped before exp: a token whose log-prob moved by more than 20 nats
    # would overflow (inf * 0 advantage = NaN); at |log rho| = 20 the clip has long applied
    ratio = torch.exp((logprobs - old_logprobs).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    clipped = ratio.clamp(1.0 - clip.eps_low, 1.0 + clip.eps_high)
    surrogate = torch.minimum(ratio * adv, clipped * adv)
    objective = surrogate
    dual = torch.zeros_like(mask, dtype=torch.bool)
    if clip.dual_clip is not None:
        bound = clip.dual_clip * adv
        dual = (adv < 0) & (surrogate < bound)
        objective = torch.where(adv < 0, torch.maximum(surrogate, bound), surrogate)
    denominator = mask.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=logprobs.dtype)
    loss = -(objective * mask).sum() / denominator.clamp_min(1.0)
    with torch.no_grad():
        n = mask.sum().clamp_min(1.0)
        low = ((ratio < 1.0 - clip.eps_low) & (adv < 0)).to(mask.dtype)
        high = ((ratio > 1.0 + clip.eps_high) & (adv > 0)).to(mask.dtype)
        return LossOutput(
            loss=loss,
            clip_low_frac=float((low * mask).sum() / n),
            clip_high_frac=float((high * mask).sum() / n),
            dual_clip_frac=float((dual.to(mask.dtype) * mask).sum() / n),
            approx_kl=float(((old_logprobs - logprobs) * mask).sum() / n),
        )
