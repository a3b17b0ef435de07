"""The update every method shares: rollouts + an objective -> gradient steps.

`Trainer.update(rollouts, objective, n_updates)` (mmzppo/train.py) shuffles the rollouts,
computes the old log-probs once if the objective needs them, and takes `n_updates`
optimizer steps over equal mini-batches; this module holds its parts:

* objectives: `ClippedPPO` (paper Eqs. 4-6, the RL methods) and `Distillation` (the
  per-token divergences of mmzppo.core.divergences, the distillation baselines). An objective
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

from dataclasses import dataclass

import torch

from mmzppo.policy import parallel
from mmzppo.policy.loading import Policy
from mmzppo.policy.logprobs import ScoredBatch, score
from mmzppo.train.objectives import Objective
from mmzppo.train.rollout import Rollout


def sampler_logprobs(rollouts: list[Rollout]) -> list[torch.Tensor]:
    """log pi_old from the rollouts themselves: what the sampler recorded for each token."""
    return [torch.tensor(r.completion.logprobs, dtype=torch.float32) for r in rollouts]


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
