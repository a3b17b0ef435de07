"""Prefix guidance, the paper's Alg. 6 baseline: the student continues a correct teacher start.

    1  batch X = X_new + X_replay (as ZPPO)
    2  plain prompts -> G_S student rollouts -> r(x)
    3-5  hard questions (r(x) < tau) -> pre-cap (the rho_aug * |X_new| hardest) -> G_T teacher
         answers, correct ones kept
    6  for each, hardest first: the first alpha (`prefix_fraction`, 0.4) of one correct
       answer's tokens forced as the start of the assistant turn
    7  G_S student continuations per prefix prompt, graded (prefix + continuation) against
       the gold: an extra group per question with its own group id. The prefix is part of
       the prompt, so its tokens are masked out of the loss by construction; the group
       advantage is over the continuations
    8-10  two-step advantage over all groups, I clipped updates, buffer from plain accuracies

The fraction counts the student's tokens of the answer (the tokens it is made to start
with; the same as the teacher's when they share a tokenizer).
"""

from __future__ import annotations

from mmzppo.prompting.builders import prefix
from mmzppo.train.api import Loop, StepResult
from mmzppo.train.methods.steps import clipped_update, hard_with_answers, plain_round

KINDS = ("plain", "prefix")
SAME_VOCABULARY = False  # the prefix is decoded to text and re-tokenized as the student's turn


def needs_teacher(config) -> bool:
    return True


def config_problem(config) -> str | None:
    if config.teacher_kind == "none":
        return (
            "teacher_kind: method 'prefix' needs a teacher's correct answers (teacher_kind: local or reference), "
            "got 'none'"
        )
    return None


def step(loop: Loop) -> StepResult:
    c = loop.config
    # 1-2. batch, plain rollouts, r(x)
    batch, replay, plain_groups, outcomes = plain_round(loop)

    # 3-5. hard questions -> pre-cap -> correct teacher answers
    hard, capped, answers = hard_with_answers(loop, outcomes)

    # 6. the first alpha of one correct answer's tokens as the assistant's start
    prompts = [
        prefix(o.sample, loop.rng.choice(a).text, loop.tokenizer, c.prefix_fraction)
        for o, a in zip(capped, answers)
        if a
    ]

    # 7. G_S continuations per prefix prompt: extra groups
    prefix_groups = loop.generate(prompts, c.group_size)
    groups = plain_groups + prefix_groups

    # 8-10. advantages, I updates, buffer
    stats = clipped_update(loop, groups)
    buffer_counts = loop.bookkeep(outcomes)
    counts = {"hard/questions": len(hard), "hard/pre_capped": len(capped), "hard/teacher_has_correct": len(prompts)}
    return StepResult(groups, KINDS, stats, replay, buffer_counts, counts)
