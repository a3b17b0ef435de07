"""GRPO's advantage as ZPPO uses it: group rewards -> two-step advantage (paper, Eqs. 2-3).

* Eq. 2  group-relative advantage   A'_i = r_i - mean_{j in g(i)} r_j
* Eq. 3  batch normalisation         A_i = (A'_i - mu) / (sigma + eps), with mu and sigma over
         the rollouts of NON-TRIVIAL groups only (groups whose rewards are not all equal);
         rollouts of trivial groups keep A = 0. (REINFORCE++-style two-step estimator.)
         Including trivial groups would shrink sigma by about sqrt(fraction non-trivial) and
         inflate every advantage; the paper's ablation finds that clearly worse.

Groups are whatever the caller says a group is: in ZPPO the plain, BCQ and NCQ rollouts of
one question are three separate groups. The clipped loss that reads these advantages
(Eqs. 4-6) is `mmzppo.core.ppo`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# Eq. 3's batch statistics (paper Fig. 6): over non-trivial groups (the paper), over every
# group, or none (A = A', the group-centred reward).
NORMALISATIONS = ("nontrivial", "all", "none")


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


def batch_advantages(
    rewards: torch.Tensor,
    group_ids: list,
    eps: float = 1e-6,
    mode: str = "nontrivial",
    reduce: Callable[[list[float]], list[float]] = lambda moments: moments,
) -> torch.Tensor:
    """Eqs. 2-3 under a normalisation `mode` (`NORMALISATIONS`): "nontrivial" (the paper:
    mu, sigma over the rollouts of groups whose rewards differ; rollouts of trivial groups
    get 0), "all" (mu, sigma over every rollout, trivial groups included: a smaller sigma
    inflates every advantage), or "none" (A = A', not normalised).

    reduce: sums the moments (count, sum, sum of squares) over processes, so that several
    ranks normalise exactly as one process holding all their rollouts would.
    """
    if mode not in NORMALISATIONS:
        raise ValueError(f"advantage normalisation {mode!r} is not one of {NORMALISATIONS}")
    centred, nontrivial = group_advantages(rewards, group_ids)
    if mode == "none":
        return centred
    included = nontrivial if mode == "nontrivial" else torch.ones_like(nontrivial)
    stats = stats_from_moments(*reduce(list(moments(centred[included]))))
    return normalise_advantages(centred, included, eps, stats=stats)
