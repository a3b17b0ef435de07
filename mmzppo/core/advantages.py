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
