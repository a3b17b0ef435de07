"""The rollout record every method produces and every loss reads, and the steps that make it.

A `Rollout` is one graded sequence of one group: the prompt it answers (with its kind and
origin uid), the completion (token ids, the sampler's log-probs, the text, the prompt's
length in tokens, media included), the reward against the ORIGINAL gold answer, a
per-token loss mask and, once the method has set it, its advantage. Forced tokens get a 0 in
the mask where they are made, so no loss needs to know why a token is masked.

    generate_and_grade(backend, prompts, samples, n, sampling) -> one group of n per prompt
    set_advantages(groups, eps, mode)                          -> Eqs. 2-3, over all ranks
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch

from mmzppo.core.advantages import group_advantages, moments, normalise_advantages, stats_from_moments
from mmzppo.data.sample import Sample
from mmzppo.grading.grader import grade
from mmzppo.policy import parallel
from mmzppo.policy.generation.base import Completion, SamplingParams
from mmzppo.prompting.builders import Prompt

ADVANTAGE_NORMALISATION = ("nontrivial", "all", "none")


@dataclass
class Rollout:
    """One graded sequence of a group."""

    prompt: Prompt
    completion: Completion
    reward: float
    parsed: str | None
    loss_mask: list[int] | None = None  # 1 = in the loss; None = every completion token
    advantage: float = 0.0  # set by the method (PPO objectives)
    kind: str = field(default="")  # the group kind; default: the prompt's

    def __post_init__(self):
        self.kind = self.kind or self.prompt.kind
        if self.loss_mask is None:
            self.loss_mask = [1] * len(self.completion.token_ids)
        if len(self.loss_mask) != len(self.completion.token_ids):
            raise ValueError(f"loss mask of {len(self.loss_mask)} for {len(self.completion.token_ids)} tokens")

    @property
    def uid(self) -> str:  # the origin question
        return self.prompt.uid

    @property
    def group_id(self) -> str:  # plain, BCQ, NCQ, hint, prefix of one question are separate groups
        return f"{self.uid}/{self.kind}"

    @property
    def token_ids(self) -> list[int]:
        return self.completion.token_ids

    @property
    def n_loss_tokens(self) -> int:
        return sum(self.loss_mask)


@dataclass
class StepResult:
    """What a method's step gives the loop to log: its groups (kinds as the method made
    them), the update's statistics, the replayed questions, the buffer's counts for this
    step, and method-specific counts (each becomes a metric of that name)."""

    groups: list[list[Rollout]]
    kinds: tuple[str, ...]  # the group kinds this method makes (each gets reward/ and groups/ metrics)
    update: dict[str, float]
    replay: list[Sample] = field(default_factory=list)
    buffer_counts: Counter = field(default_factory=Counter)
    counts: dict[str, float] = field(default_factory=dict)


def generate_and_grade(
    backend, prompts: list[Prompt], samples: dict[str, Sample], n: int, sampling: SamplingParams
) -> list[list[Rollout]]:
    """G = n completions per prompt, each graded against its question's original gold (a
    forced assistant prefix is part of the graded response)."""
    out = []
    for prompt, completions in zip(prompts, backend.generate(prompts, n, sampling)):
        out.append([graded(prompt, c, samples[prompt.uid]) for c in completions])
    return out


def graded(prompt: Prompt, completion: Completion, sample: Sample, kind: str = "") -> Rollout:
    g = grade(prompt.assistant_prefix + completion.text, sample.answer, sample.answer_type, sample.choices)
    return Rollout(prompt, completion, g.reward, g.parsed, kind=kind)


def flat(groups: list[list[Rollout]]) -> list[Rollout]:
    return [r for g in groups for r in g]


def set_advantages(groups: list[list[Rollout]], eps: float, mode: str = "nontrivial") -> None:
    """Eqs. 2-3 with the statistics over the rollouts of ALL ranks; writes `r.advantage`.

    mode (the paper's Fig. 6): "nontrivial" (the paper: mu, sigma over the rollouts of
    groups whose rewards differ; rollouts of trivial groups get 0), "all" (mu, sigma over
    every rollout, trivial groups included: a smaller sigma inflates every advantage), or
    "none" (A = A', the group-centred reward, not normalised).
    """
    if mode not in ADVANTAGE_NORMALISATION:
        raise ValueError(f"advantage normalisation {mode!r} is not one of {ADVANTAGE_NORMALISATION}")
    rollouts = flat(groups)
    rewards = torch.tensor([r.reward for r in rollouts])
    centred, nontrivial = group_advantages(rewards, [r.group_id for r in rollouts])
    if mode == "none":
        values = centred
    else:
        included = nontrivial if mode == "nontrivial" else torch.ones_like(nontrivial)
        stats = stats_from_moments(*parallel.all_reduce(list(moments(centred[included]))))
        values = normalise_advantages(centred, included, eps, stats=stats)
    for r, a in zip(rollouts, values.tolist()):
        r.advantage = a
