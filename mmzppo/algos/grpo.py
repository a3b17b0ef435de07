"""GRPO core as ZPPO uses it: group rewards -> two-step advantage -> clipped token-level loss.

Paper (arXiv:2606.18216), Eqs. 2-6, in order:

* Eq. 2  group-relative advantage   A'_i = r_i - mean_{j in g(i)} r_j
* Eq. 3  batch normalisation         A_i = (A'_i - mu) / (sigma + eps), with mu and sigma over
         the rollouts of NON-TRIVIAL groups only (groups whose rewards are not all equal);
         rollouts of trivial groups keep A = 0. (REINFORCE++-style two-step estimator.)
         Including trivial groups would shrink sigma by about sqrt(fraction non-trivial) and
         inflate every advantage; the paper's ablation finds that clearly worse.
* Eq. 4  ratio                       rho_t = exp(log pi_theta(y_t) - log pi_old(y_t))
* Eq. 5  clip-higher surrogate       min(rho_t A, clip(rho_t, 1 - eps_low, 1 + eps_high) A),
         eps_low = 0.20, eps_high = 0.28
* Eq. 6  dual clip for A < 0         max(that, c * A), c = 10
* token-level aggregation: the mean over all response tokens of the mini-batch.

No KL term, no entropy bonus (paper). Groups are whatever the caller says a group is: in
ZPPO the plain, BCQ and NCQ rollouts of one question are three separate groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def group_advantages(rewards: torch.Tensor, group_ids: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 2: A'_i = r_i - mean of its group. Also returns which rollouts are in a
    non-trivial group (rewards not all equal)."""
    rewards = rewards.float()
    centred = torch.zeros_like(rewards)
    nontrivial = torch.zeros_like(rewards, dtype=torch.bool)
    for g in dict.fromkeys(group_ids):
        idx = torch.tensor([i for i, x in enumerate(group_ids) if x == g])
        r = rewards[idx]
        centred[idx] = r - r.mean()
        nontrivial[idx] = bool((r != r[0]).any())
    return centred, nontrivial


def normalise_advantages(
    centred: torch.Tensor, nontrivial: torch.Tensor, eps: float = 1e-6, stats: tuple[float, float] | None = None
) -> torch.Tensor:
    """Eq. 3: A = (A' - mu) / (sigma + eps) over non-trivial rollouts; trivial ones get 0.

    `stats` = (mu, sigma) computed elsewhere (e.g. over all ranks' rollouts) overrides the
    local statistics, so that several processes normalise exactly as one would.
    """
    if stats is None:
        stats = nontrivial_stats(centred, nontrivial)
    mu, sigma = stats
    return torch.where(nontrivial, (centred - mu) / (sigma + eps), torch.zeros_like(centred))


def moments(values: torch.Tensor) -> tuple[float, float, float]:
    """(count, sum, sum of squares): the statistics of Eq. 3 in a form that sums over ranks."""
    values = values.double()
    return float(values.numel()), float(values.sum()), float((values**2).sum())


def stats_from_moments(count: float, total: float, total_sq: float) -> tuple[float, float]:
    """(mu, sigma) (population std) from `moments`; (0, 1) when there are no values."""
    if count == 0:
        return 0.0, 1.0
    mu = total / count
    return mu, max(total_sq / count - mu * mu, 0.0) ** 0.5


def nontrivial_stats(centred: torch.Tensor, nontrivial: torch.Tensor) -> tuple[float, float]:
    """(mu, sigma) of A' over the rollouts of non-trivial groups (population std); (0, 1) if none."""
    return stats_from_moments(*moments(centred[nontrivial]))


def advantages(rewards: torch.Tensor, group_ids: list, eps: float = 1e-6) -> torch.Tensor:
    """Eqs. 2-3 in one call (single process)."""
    centred, nontrivial = group_advantages(rewards, group_ids)
    return normalise_advantages(centred, nontrivial, eps)


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


def minibatches(n_items: int, n_updates: int) -> list[list[int]]:
    """Split indices 0..n_items-1 into `n_updates` equal consecutive mini-batches (paper: I = 4
    updates per rollout step). The remainder of an uneven split goes to the first ones."""
    if n_updates < 1:
        raise ValueError(f"n_updates must be >= 1, got {n_updates}")
    size, extra = divmod(n_items, n_updates)
    out, start = [], 0
    for k in range(n_updates):
        stop = start + size + (1 if k < extra else 0)
        if stop > start:
            out.append(list(range(start, stop)))
        start = stop
    return out
