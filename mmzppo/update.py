"""The update every method shares: rollouts + an objective -> gradient steps.

`Trainer.update(rollouts, objective, n_updates)` (mmzppo/train.py) shuffles the rollouts,
computes the old log-probs once if the objective needs them, and takes `n_updates`
optimizer steps over equal mini-batches; this module holds its parts:

* objectives: `ClippedPPO` (paper Eqs. 4-6, the RL methods) and `Distillation` (the
  per-token divergences of mmzppo.algos.distill, the distillation baselines). An objective
  says whether it needs old log-probs and whether it needs full next-token distributions;
* `micro_batches`: index lists of similar total length in TOKENS (prompt tokens, media
  included, plus completion tokens), within a sequence count and an optional padded-token
  budget (`MicroBatching`), so a micro-batch does not pad short plain prompts to a long NCQ
  prompt; the loss of a mini-batch does not depend on how it is split;
* `accumulate`: one mini-batch's gradient over its micro-batches, its token mean taken over
  the mini-batch's loss tokens on ALL ranks, so after `parallel.sync_gradients` (a sum) the
  gradient equals one process's on the whole global mini-batch; a rank may hold any number
  of rollouts (under FSDP, missing micro-batches are 1-token dummy passes);
* `old_logprobs`: the no-grad pass that gives PPO its log pi_old, when the sampler's own
  log-probs cannot serve (`sampler_logprobs`: they can when the rollout recorded them under
  exactly the distribution the loss scores, as the transformers backend does at top-p 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

from mmzppo import parallel
from mmzppo.algos.distill import generalized_jsd, masked_token_mean, sampled_reverse_kl, sparse_support
from mmzppo.algos.grpo import ClipConfig, ppo_token_loss
from mmzppo.models import Policy
from mmzppo.records import Rollout
from mmzppo.scoring import ScoredBatch, score


class Objective(Protocol):
    needs_old_logprobs: bool  # PPO ratios: a no-grad pass before the first update
    full_distributions: bool  # the student's whole next-token distribution at each position
    stats: tuple[str, ...]  # names of the statistics `loss` returns

    def loss(
        self,
        scored: ScoredBatch,
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
    only: the penalty log S(y_t) - log T(y_t) of the sampled token). The teacher scores each
    micro-batch with its own processor (no cache: in I > 1 updates it scores again).
    """

    teacher: object  # anything with `score(prompts, completions, top_k) -> TokenScores`
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
            teacher = self.teacher.score(prompts, completions, top_k=0)
            per_token = sampled_reverse_kl(scored.logprobs, teacher.token_logprobs.to(scored.logprobs))
            shown = (scored.logprobs - teacher.token_logprobs.to(scored.logprobs)).detach()
        else:
            teacher = self.teacher.score(prompts, completions, top_k=self.top_k)
            student, target = scored.distributions, teacher.logprobs.to(scored.distributions)
            if teacher.indices is not None:
                student, target = sparse_support(student, target, teacher.indices.to(student.device))
            per_token = shown = generalized_jsd(student, target, self.beta)
        n_local = float(mask.sum().clamp_min(1))
        divergence = float((shown.detach() * mask).sum()) / n_local
        return masked_token_mean(per_token, mask, num_tokens), {"distill/divergence": divergence}


def sampler_logprobs(rollouts: list[Rollout]) -> list[torch.Tensor]:
    """log pi_old from the rollouts themselves: what the sampler recorded for each token."""
    return [torch.tensor(r.completion.logprobs, dtype=torch.float32) for r in rollouts]


def pad_to(x: torch.Tensor, length: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, length - x.shape[0]))


def by_length(rollouts: list[Rollout], indices: list[int]) -> list[int]:
    """`indices` sorted by prompt then completion length, both in tokens."""
    return sorted(indices, key=lambda i: (rollouts[i].completion.prompt_tokens, len(rollouts[i].token_ids)))


@dataclass(frozen=True)
class MicroBatching:
    """How a mini-batch is cut into forward passes: at most `size` sequences each, and, when
    `tokens` > 0, at most `tokens` PADDED tokens each (sequences x (longest prompt + longest
    completion); verl's dynamic batch size), so long BCQ/NCQ prompts travel in small
    micro-batches and short plain ones in large ones, with no hand-set size that fits both."""

    size: int = 8
    tokens: int = 0


def micro_batches(rollouts: list[Rollout], indices: list[int], mb: MicroBatching) -> list[list[int]]:
    """Consecutive runs of `indices` sorted by length, each within `mb`'s limits (a sequence
    longer than the token budget goes alone)."""
    out: list[list[int]] = []
    current: list[int] = []
    longest_prompt = longest_completion = 0
    for i in by_length(rollouts, indices):
        r = rollouts[i]
        prompt, completion = max(longest_prompt, r.completion.prompt_tokens), max(longest_completion, len(r.token_ids))
        full = len(current) >= mb.size or (mb.tokens > 0 and (len(current) + 1) * (prompt + completion) > mb.tokens)
        if current and full:
            out.append(current)
            current, prompt, completion = [], r.completion.prompt_tokens, len(r.token_ids)
        current.append(i)
        longest_prompt, longest_completion = prompt, completion
    return out + ([current] if current else [])


def score_batch(
    model, policy: Policy, batch: list[Rollout], *, with_grad: bool, temperature: float, full: bool = False
) -> tuple[ScoredBatch, torch.Tensor]:
    """The policy's log-probs of a micro-batch, and its loss mask (real tokens AND loss_mask)."""
    scored = score(
        model,
        policy.processor,
        policy.vision,
        [r.prompt for r in batch],
        [r.token_ids for r in batch],
        with_grad=with_grad,
        temperature=temperature,
        full=full,
    )
    loss_mask = torch.zeros_like(scored.mask)
    for i, r in enumerate(batch):
        loss_mask[i, : len(r.loss_mask)] = torch.tensor(r.loss_mask, dtype=torch.bool)
    return scored, scored.mask & loss_mask.to(scored.mask.device)


def old_logprobs(
    model, policy: Policy, rollouts: list[Rollout], mb: MicroBatching, temperature: float
) -> list[torch.Tensor]:
    """Per-token log-probs of every completion under the current policy (no grad), in order."""
    out: list[torch.Tensor | None] = [None] * len(rollouts)
    with parallel.full_params(model):
        for idx in micro_batches(rollouts, list(range(len(rollouts))), mb):
            scored, _ = score_batch(model, policy, [rollouts[i] for i in idx], with_grad=False, temperature=temperature)
            for i, row, mask in zip(idx, scored.logprobs, scored.mask):
                out[i] = row[mask].detach().float().cpu()
    return out


def accumulate(
    model,
    policy: Policy,
    rollouts: list[Rollout],
    old: list[torch.Tensor] | None,
    objective: Objective,
    mb: MicroBatching,
    temperature: float,
) -> dict[str, float]:
    """Accumulate the gradient of one mini-batch's loss over micro-batches (see the module
    docstring); returns the loss, the objective's statistics and the entropy, averaged over
    ALL ranks' loss tokens."""
    n_tokens = parallel.all_reduce([float(sum(r.n_loss_tokens for r in rollouts))])[0]
    keys = ("loss", *objective.stats, "entropy")
    stats = dict.fromkeys(keys, 0.0)
    idx_lists: list[list[int] | None] = micro_batches(rollouts, list(range(len(rollouts))), mb)
    if parallel.is_sharded(model):  # every rank joins every all-gather and reduce-scatter
        most = int(parallel.all_reduce([float(len(idx_lists))], op="max")[0])
        idx_lists += [None] * (most - len(idx_lists))
    for idx in idx_lists:
        if idx is None:
            dummy_forward_backward(model, policy)
            continue
        batch = [rollouts[i] for i in idx]
        scored, mask = score_batch(
            model, policy, batch, with_grad=True, temperature=temperature, full=objective.full_distributions
        )
        loss, parts = objective.loss(scored, batch, [old[i] for i in idx] if old is not None else None, mask, n_tokens)
        loss.backward()
        stats["loss"] += loss.item()  # already this micro-batch's share of the mini-batch loss
        share = float(mask.sum()) / max(n_tokens, 1.0)  # its share of the tokens
        parts["entropy"] = float((scored.entropy * mask).sum()) / max(float(mask.sum()), 1.0)
        for key, value in parts.items():
            stats[key] += value * share
    return dict(zip(keys, parallel.all_reduce([stats[k] for k in keys])))


def dummy_forward_backward(model, policy: Policy) -> None:
    """A 1-token forward and a zero backward: under FSDP, a rank with fewer micro-batches
    than the others still takes part in every unit's all-gather and reduce-scatter."""
    token = policy.tokenizer.eos_token_id if policy.tokenizer.eos_token_id is not None else 0
    ids = torch.tensor([[token]], device=next(model.parameters()).device)
    (model(input_ids=ids).logits.float().sum() * 0.0).backward()
