"""The rollout record every method produces and every loss reads, and the steps that make it.

A `Rollout` is one graded sequence of one group. It carries everything the later stages
need, so none of them looks anything up or encodes anything again:

* `prompt`: what the student was asked (its kind and candidates), and through it the
  question (`sample`: the gold answer it is graded against, the media);
* `encoded`: that prompt as the model took it (token ids, processor outputs), made once per
  step and shared by the group's rollouts, read again by the old-log-prob pass and every
  update;
* `completion`: the sampled token ids, the sampler's log-probs, the text;
* `reward` (and the `parsed` answer) against the ORIGINAL gold answer, whatever the prompt,
  by the rule of the sample's reward type; `pending` while the judge has still to grade it
  (`mmzppo.train.rewards`), `unknown` when the judge could not (the group is left out);
* `loss_mask` (forced tokens get a 0 where they are made, so no loss needs to know why a
  token is masked) and, once the method has set it, `advantage`;
* `kind`, `group_id` (plain, BCQ, NCQ, hint, prefix of one question are separate groups)
  and `uid` (the origin question, shared by its groups).

    generate_and_grade(backend, encoded, prompts, n, sampling) -> one group of n per prompt
    set_advantages(groups, eps, mode)                           -> Eqs. 2-3, over all ranks
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mmzppo.core.advantages import batch_advantages
from mmzppo.data.sample import Sample
from mmzppo.grading.rewards import rule_grade
from mmzppo.policy import parallel
from mmzppo.policy.encoding import EncodedPrompt
from mmzppo.policy.generation.base import Completion, RolloutBackend, SamplingParams
from mmzppo.prompting.builders import Prompt


@dataclass(eq=False)
class Rollout:
    """One graded sequence of a group (see the module docstring)."""

    prompt: Prompt
    encoded: EncodedPrompt
    completion: Completion
    reward: float
    parsed: str | None
    loss_mask: list[int] | None = None  # 1 = in the loss; None = every completion token
    advantage: float = 0.0  # set by the method (PPO objectives)
    kind: str = field(default="")  # the group kind; default: the prompt's
    pending: bool = False  # the judge has still to grade it (`mmzppo.train.rewards.Rewarder.resolve`)
    unknown: bool = False  # the judge could not grade it (teacher_failure: skip): its group is left out

    def __post_init__(self):
        self.kind = self.kind or self.prompt.kind
        if self.loss_mask is None:
            self.loss_mask = [1] * len(self.completion.token_ids)
        if len(self.loss_mask) != len(self.completion.token_ids):
            raise ValueError(f"loss mask of {len(self.loss_mask)} for {len(self.completion.token_ids)} tokens")

    @property
    def sample(self) -> Sample:  # the origin question: gold answer, media
        return self.prompt.sample

    @property
    def uid(self) -> str:  # the origin question's id
        return self.prompt.uid

    @property
    def group_id(self) -> str:
        return f"{self.uid}/{self.kind}"

    @property
    def token_ids(self) -> list[int]:
        return self.completion.token_ids

    @property
    def prompt_tokens(self) -> int:  # the prompt's length, image and video tokens included
        return self.encoded.length

    @property
    def n_loss_tokens(self) -> int:
        return sum(self.loss_mask)


def graded(prompt: Prompt, encoded: EncodedPrompt, completion: Completion, kind: str = "") -> Rollout:
    """A completion graded against its question's original gold answer by the rule of its reward
    type (a forced assistant prefix is part of the graded response); `pending` when the rule
    leaves it to the judge (`mmzppo.grading.rewards.route`)."""
    g = rule_grade(prompt.assistant_prefix + completion.text, prompt.sample)
    if g is None:
        return Rollout(prompt, encoded, completion, 0.0, None, kind=kind, pending=True)
    return Rollout(prompt, encoded, completion, g.reward, g.parsed, kind=kind)


def generate_and_grade(
    backend: RolloutBackend,
    encoded: list[EncodedPrompt],
    prompts: list[Prompt],
    n: int,
    sampling: SamplingParams,
) -> list[list[Rollout]]:
    """G = n completions per prompt (a group each), each graded against its question's gold."""
    out = []
    for prompt, enc, completions in zip(prompts, encoded, backend.generate(encoded, n, sampling)):
        out.append([graded(prompt, enc, c) for c in completions])
    return out


def flat(groups: list[list[Rollout]]) -> list[Rollout]:
    return [r for g in groups for r in g]


def set_advantages(groups: list[list[Rollout]], eps: float, mode: str = "nontrivial") -> None:
    """Eqs. 2-3 (`mmzppo.core.advantages.batch_advantages`) with the statistics over the
    rollouts of ALL ranks; writes `r.advantage`."""
    rollouts = flat(groups)
    rewards = torch.tensor([r.reward for r in rollouts])
    values = batch_advantages(rewards, [r.group_id for r in rollouts], eps, mode, reduce=parallel.all_reduce)
    for r, a in zip(rollouts, values.tolist()):
        r.advantage = a
