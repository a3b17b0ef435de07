"""What an update minimises: an `Objective` over micro-batches of rollouts.

* `ClippedPPO`: the paper's Eqs. 4-6 (`mmzppo.core.ppo`) on the rollouts' advantages, for
  ZPPO, GRPO, hint and prefix; optionally with truncated importance sampling (`tis_cap`);
* `Distillation`: a per-token divergence to a frozen teacher along given sequences
  (`mmzppo.core.divergences`), for the distillation baselines; the teacher gives its
  distributions (`distributions(prompts, completions, top_k)`). Both sides' full next-token
  distributions are made a chunk of positions at a time (`divergence_by_chunk`) and
  recomputed in backward, so no (tokens x vocabulary) tensor outlives its chunk.

An objective says whether it needs PPO's old log-probs and whether it needs the student's full
next-token distributions; `mmzppo.train.update` does the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
from torch.utils.checkpoint import checkpoint

from mmzppo.core.divergences import generalized_jsd, masked_token_mean, sampled_reverse_kl, sparse_support
from mmzppo.core.ppo import ClipConfig, ppo_token_loss
from mmzppo.policy.logprobs import HeadStates, LogprobBatch
from mmzppo.train.rollout import Rollout

DIVERGENCES = ("jsd", "reverse_kl_sampled")  # Distillation's per-token losses


class Objective(Protocol):
    needs_old_logprobs: bool  # PPO ratios: a no-grad pass before the first update
    full_distributions: bool  # the student's whole next-token distribution at each position
    stats: tuple[str, ...]  # names of the statistics `loss` returns

    def loss(
        self,
        scored: LogprobBatch,
        batch: list[Rollout],
        old: list[torch.Tensor] | None,
        mask: torch.Tensor,
        num_tokens: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """This micro-batch's share of the mini-batch loss (its sum over `mask` / num_tokens)
        and statistics as means over this micro-batch's masked tokens."""
        ...


@dataclass
class ClippedPPO:
    """Eqs. 4-6: clip-higher, dual-clip, token-level PPO on the rollouts' advantages.

    tis_cap: truncated importance sampling (Yao et al. 2025), off when None. The rollouts
    were drawn by a sampler (a bf16 vLLM engine) whose distribution is not exactly the
    trainer's pi_old, so each token's term is weighted by w = min(pi_old / pi_sampler,
    tis_cap) (pi_sampler: the log-probs the rollout recorded; w detached). As w > 0, this is
    the clipped objective with the advantage scaled per token: the clip and dual-clip
    decisions do not change, and the clip statistics are those of the unweighted tokens.
    A rollout without sampler log-probs gets w = 1. Adds `tis/weight_mean` and
    `tis/capped_frac` (the share of tokens at the cap) to the statistics.
    """

    clip: ClipConfig
    tis_cap: float | None = None
    needs_old_logprobs: bool = True
    full_distributions: bool = False
    stats: tuple[str, ...] = ("clip_ratio/low", "clip_ratio/high", "clip_ratio/dual", "approx_kl")

    def __post_init__(self):
        if self.tis_cap is not None and "tis/weight_mean" not in self.stats:
            self.stats = (*self.stats, "tis/weight_mean", "tis/capped_frac")

    def loss(self, scored, batch, old, mask, num_tokens):
        old_lp = torch.stack([pad_to(x, scored.logprobs.shape[1]) for x in old]).to(scored.logprobs)
        advantages = torch.tensor([r.advantage for r in batch]).to(scored.logprobs)
        if self.tis_cap is None:
            out = ppo_token_loss(scored.logprobs, old_lp, advantages, mask, self.clip, num_tokens=num_tokens)
            tis = {}
        else:
            weights = tis_weights(batch, old_lp, self.tis_cap)
            loss = ppo_token_loss(
                scored.logprobs, old_lp, advantages, mask * weights, self.clip, num_tokens=num_tokens
            ).loss
            with torch.no_grad():
                out = ppo_token_loss(
                    scored.logprobs.detach(), old_lp, advantages, mask, self.clip, num_tokens=num_tokens
                )
            out.loss = loss
            n = mask.sum().clamp_min(1)
            tis = {
                "tis/weight_mean": float((weights * mask).sum() / n),
                "tis/capped_frac": float(((weights >= self.tis_cap * (1 - 1e-6)) & mask).sum() / n),
            }
        return out.loss, {
            "clip_ratio/low": out.clip_low_frac,
            "clip_ratio/high": out.clip_high_frac,
            "clip_ratio/dual": out.dual_clip_frac,
            "approx_kl": out.approx_kl,
            **tis,
        }


def tis_weights(batch: list[Rollout], old_lp: torch.Tensor, cap: float) -> torch.Tensor:
    """(B, T) min(exp(log pi_old - log pi_sampler), cap) from each rollout's recorded log-probs."""
    sampler = old_lp.clone()  # where the sampler recorded nothing: w = exp(0) = 1
    for i, r in enumerate(batch):
        lps = r.completion.logprobs
        if len(lps) == len(r.token_ids) and lps:
            sampler[i, : len(lps)] = torch.tensor(lps, dtype=old_lp.dtype, device=old_lp.device)
    return torch.exp((old_lp - sampler).clamp(max=math.log(cap))).detach()


@dataclass
class Distillation:
    """Per-token divergence between the student and a frozen teacher along given sequences.

    divergence: "jsd" (JSD_beta over the full vocabulary, or over the teacher's top-k tokens
    + a tail bucket when top_k > 0) or "reverse_kl_sampled" (on the student's own samples
    only: the penalty log S(y_t) - log T(y_t) of the sampled token). The teacher reads each
    micro-batch with its own processor (no cache: in I > 1 updates it reads them again).
    """

    teacher: object  # anything with `distributions(prompts, completions, top_k) -> TokenDistributions`
    beta: float = 0.5
    top_k: int = 0
    divergence: str = "jsd"
    needs_old_logprobs: bool = False
    stats: tuple[str, ...] = ("distill/divergence",)

    @property
    def full_distributions(self) -> bool:
        return self.divergence == "jsd"

    def loss(self, scored, batch, old, mask, num_tokens):
        prompts, completions = [r.prompt for r in batch], [r.token_ids for r in batch]
        if self.divergence == "reverse_kl_sampled":
            teacher = self.teacher.distributions(prompts, completions, top_k=0)
            per_token = sampled_reverse_kl(scored.logprobs, teacher.token_logprobs.to(scored.logprobs))
            shown = (scored.logprobs - teacher.token_logprobs.to(scored.logprobs)).detach()
        else:
            teacher = self.teacher.distributions(prompts, completions, top_k=self.top_k)
            rows = divergence_by_chunk(scored.head, teacher, scored.mask, self.beta)
            per_token = shown = torch.zeros_like(scored.logprobs).masked_scatter(scored.mask, rows)
        n_local = float(mask.sum().clamp_min(1))
        divergence = float((shown.detach() * mask).sum()) / n_local
        return masked_token_mean(per_token, mask, num_tokens), {"distill/divergence": divergence}


def divergence_by_chunk(student: HeadStates, teacher, real: torch.Tensor, beta: float) -> torch.Tensor:
    """JSD_beta(T, S) at every real completion position, (N,) in the row order of `student`,
    `student.chunk_tokens` positions at a time. Each chunk's distributions (the student's, with
    grad, and the teacher's: its own `HeadStates`, or its top-k rows + a tail bucket) are made
    inside a checkpoint, so backward recomputes them instead of keeping them."""
    if teacher.mask.shape != real.shape or not torch.equal(teacher.mask.to(real.device), real):
        raise ValueError("the teacher scored other positions than the student (different completions?)")
    if teacher.head is None:  # top-k rows (a served teacher's form, or the reference's point masses)
        values, indices = (x.to(real.device)[real] for x in (teacher.logprobs, teacher.indices))

    def one(hidden: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        s = student.logprobs(slice(start, stop), hidden)
        if teacher.head is not None:
            with torch.no_grad():
                t = teacher.head.logprobs(slice(start, stop)).to(s.device)
        else:
            s, t = sparse_support(s, values[start:stop].to(s), indices[start:stop])
        return generalized_jsd(s, t, beta)

    parts = [
        checkpoint(one, student.hidden[rows], rows.start, min(rows.stop, len(student)), use_reentrant=False)
        for rows in student.chunks()
    ]
    return torch.cat(parts) if parts else student.hidden.new_zeros(0, dtype=torch.float32)


def pad_to(x: torch.Tensor, length: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, length - x.shape[0]))
