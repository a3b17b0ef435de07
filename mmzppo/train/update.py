"""The update every method shares: a step's rollouts + an objective -> I optimizer steps.

`Updater.__call__(rollouts, objective, n_updates, rng)` is the whole of it, in order:

1. shuffle the rollouts (the loop's RNG, so a resumed run shuffles alike);
2. PPO's log pi_old, once, if the objective needs it: the sampler's own records when they
   were drawn from exactly the distribution the loss scores (`old_from_sampler`: the
   transformers backend at top-p 1), else a no-grad pass of the policy (`old_logprobs`);
3. `minibatches`: `n_updates` equal mini-batches (the paper's I = 4), and for each one
   zero the gradient, `accumulate` it over micro-batches, sum it over ranks, clip its norm,
   and step, unless the loss or the norm is not finite (`on_nonfinite` then skips or stops);
4. hand the new weights to the rollout backend (`sync_weights`, a no-op for transformers).

Its parts:

* `micro_batches`: index lists of similar total length in TOKENS (the encoded prompt, media
  included, plus the completion), within a sequence count and an optional padded-token
  budget (`MicroBatching`), so a micro-batch does not pad short plain prompts to a long NCQ
  prompt; the loss of a mini-batch does not depend on how it is split;
* `accumulate`: one mini-batch's gradient over its micro-batches, its token mean taken over
  the mini-batch's loss tokens on ALL ranks, so after `parallel.sync_gradients` (a sum) the
  gradient equals one process's on the whole global mini-batch; a rank may hold any number
  of rollouts (under FSDP, missing micro-batches are 1-token dummy passes).

Every forward reads the rollouts' prompts as encoded once at generation
(`Rollout.encoded`); nothing is encoded again here. Forwards run under the run's precision
(`mmzppo.policy.precision.autocast`: bfloat16 compute for `bf16-mixed`), the LM head a chunk
of `chunk_tokens` positions at a time (`mmzppo.policy.logprobs`), and with activation
checkpointing when the model has it on (`mmzppo.policy.checkpointing`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from mmzppo.policy import parallel
from mmzppo.policy.checkpointing import checkpointed_layers
from mmzppo.policy.loading import Policy
from mmzppo.policy.logprobs import CHUNK_TOKENS, LogprobBatch, completion_logprobs
from mmzppo.policy.precision import autocast
from mmzppo.train.objectives import Objective
from mmzppo.train.rollout import Rollout


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


@dataclass(frozen=True)
class MicroBatching:
    """How a mini-batch is cut into forward passes: at most `size` sequences each, and, when
    `tokens` > 0, at most `tokens` PADDED tokens each (sequences x (longest prompt + longest
    completion); verl's dynamic batch size), so long BCQ/NCQ prompts travel in small
    micro-batches and short plain ones in large ones, with no hand-set size that fits both."""

    size: int = 8
    tokens: int = 0


def by_length(rollouts: list[Rollout], indices: list[int]) -> list[int]:
    """`indices` sorted by prompt then completion length, both in tokens."""
    return sorted(indices, key=lambda i: (rollouts[i].prompt_tokens, len(rollouts[i].token_ids)))


def micro_batches(rollouts: list[Rollout], indices: list[int], mb: MicroBatching) -> list[list[int]]:
    """Consecutive runs of `indices` sorted by length, each within `mb`'s limits (a sequence
    longer than the token budget goes alone)."""
    out: list[list[int]] = []
    current: list[int] = []
    longest_prompt = longest_completion = 0
    for i in by_length(rollouts, indices):
        r = rollouts[i]
        prompt, completion = max(longest_prompt, r.prompt_tokens), max(longest_completion, len(r.token_ids))
        full = len(current) >= mb.size or (mb.tokens > 0 and (len(current) + 1) * (prompt + completion) > mb.tokens)
        if current and full:
            out.append(current)
            current, prompt, completion = [], r.prompt_tokens, len(r.token_ids)
        current.append(i)
        longest_prompt, longest_completion = prompt, completion
    return out + ([current] if current else [])


def score_batch(
    model,
    policy: Policy,
    batch: list[Rollout],
    *,
    with_grad: bool,
    temperature: float,
    full: bool = False,
    chunk_tokens: int = CHUNK_TOKENS,
    precision: str = "fp32",
) -> tuple[LogprobBatch, torch.Tensor]:
    """The policy's log-probs of a micro-batch, and its loss mask (real tokens AND loss_mask)."""
    with autocast(precision, next(model.parameters()).device):
        scored = completion_logprobs(
            model,
            policy.tokenizer,
            [r.encoded for r in batch],
            [r.token_ids for r in batch],
            with_grad=with_grad,
            temperature=temperature,
            full=full,
            chunk_tokens=chunk_tokens,
        )
    loss_mask = torch.zeros_like(scored.mask)
    for i, r in enumerate(batch):
        loss_mask[i, : len(r.loss_mask)] = torch.tensor(r.loss_mask, dtype=torch.bool)
    return scored, scored.mask & loss_mask.to(scored.mask.device)


def sampler_logprobs(rollouts: list[Rollout]) -> list[torch.Tensor]:
    """log pi_old from the rollouts themselves: what the sampler recorded for each token."""
    return [torch.tensor(r.completion.logprobs, dtype=torch.float32) for r in rollouts]


def old_logprobs(
    model,
    policy: Policy,
    rollouts: list[Rollout],
    mb: MicroBatching,
    temperature: float,
    *,
    chunk_tokens: int = CHUNK_TOKENS,
    precision: str = "fp32",
) -> list[torch.Tensor]:
    """Per-token log-probs of every completion under the current policy (no grad), in order."""
    out: list[torch.Tensor | None] = [None] * len(rollouts)
    scoring = dict(with_grad=False, temperature=temperature, chunk_tokens=chunk_tokens, precision=precision)
    with parallel.full_params(model):
        for idx in micro_batches(rollouts, list(range(len(rollouts))), mb):
            scored, _ = score_batch(model, policy, [rollouts[i] for i in idx], **scoring)
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
    *,
    chunk_tokens: int = CHUNK_TOKENS,
    precision: str = "fp32",
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
        with checkpointed_layers(model):
            scored, mask = score_batch(
                model,
                policy,
                batch,
                with_grad=True,
                temperature=temperature,
                full=objective.full_distributions,
                chunk_tokens=chunk_tokens,
                precision=precision,
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


@dataclass
class Updater:
    """The loop's `update`: a step's rollouts + an objective -> `n_updates` optimizer steps
    (see the module docstring).

    on_nonfinite(mini_batch, stats): called, with the gradient already zeroed, for a
        mini-batch whose loss or gradient norm is NaN/inf; it returns to skip that update
        (counted as `update/skipped_nonfinite`) or raises to stop the run.
    timer(name): a context manager that times a phase (`old_logprobs`) under the loop's timers.
    chunk_tokens: completion positions per LM-head chunk (config `logprob_chunk_tokens`).
    precision: the run's `precision` (`mmzppo.policy.precision`).
    """

    policy: Policy
    optimizer: torch.optim.Optimizer
    micro_batching: MicroBatching
    temperature: float
    grad_clip: float
    old_from_sampler: bool
    sync_weights: Callable[[], None]
    on_nonfinite: Callable[[list[Rollout], dict], None]
    timer: Callable[[str], AbstractContextManager] = lambda name: nullcontext()
    chunk_tokens: int = CHUNK_TOKENS
    precision: str = "fp32"

    @property
    def scoring(self) -> dict:
        return dict(chunk_tokens=self.chunk_tokens, precision=self.precision)

    def __call__(self, rollouts: list[Rollout], objective: Objective, n_updates: int, rng: random.Random) -> dict:
        model = self.policy.model
        order = list(range(len(rollouts)))
        rng.shuffle(order)
        rollouts = [rollouts[i] for i in order]
        old = None
        if objective.needs_old_logprobs and self.old_from_sampler:
            old = sampler_logprobs(rollouts)  # no extra pass: the sampler scored these tokens already
        elif objective.needs_old_logprobs:
            with self.timer("old_logprobs"):
                old = old_logprobs(model, self.policy, rollouts, self.micro_batching, self.temperature, **self.scoring)
        totals = dict.fromkeys(("loss", *objective.stats, "entropy", "grad_norm"), 0.0)
        skipped = 0
        batches = minibatches(len(rollouts), n_updates)
        batches += [[] for _ in range(n_updates - len(batches))]  # every rank takes n_updates steps
        for batch in batches:
            self.optimizer.zero_grad(set_to_none=True)
            part = [rollouts[i] for i in batch]
            stats = accumulate(
                model,
                self.policy,
                part,
                [old[i] for i in batch] if old is not None else None,
                objective,
                self.micro_batching,
                self.temperature,
                **self.scoring,
            )
            parallel.sync_gradients(model)
            stats["grad_norm"] = parallel.clip_grad_norm(model, self.grad_clip)
            if not (math.isfinite(stats["loss"]) and math.isfinite(stats["grad_norm"])):  # same on every rank
                self.optimizer.zero_grad(set_to_none=True)
                self.on_nonfinite(part, stats)  # raises with nonfinite: stop
                skipped += 1
                continue
            self.optimizer.step()
            for k, v in stats.items():
                totals[k] += v
        self.sync_weights()
        out = {k: v / max(len(batches) - skipped, 1) for k, v in totals.items()}  # over the updates taken
        out["update/skipped_nonfinite"] = skipped
        return out
