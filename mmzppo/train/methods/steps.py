"""The steps several methods share, named as the paper's Algorithm boxes number them.

Each method file still reads top to bottom like its box; where boxes repeat each other
(every RL method starts with the plain round and ends with the clipped update; the guidance
baselines pick their hard questions as ZPPO does), the repeated lines live here once.
"""

from __future__ import annotations

from mmzppo.core import selection
from mmzppo.data.sample import Sample
from mmzppo.policy.generation.base import Completion
from mmzppo.prompting.builders import plain
from mmzppo.train.api import Loop
from mmzppo.train.objectives import ClippedPPO
from mmzppo.train.rewards import known
from mmzppo.train.rollout import Rollout, flat


def plain_round(loop: Loop) -> tuple[list[Sample], list[Sample], list[list[Rollout]], list[selection.PlainOutcome]]:
    """Steps 1-2: X = X_new + X_replay; G_S student rollouts on every plain prompt; r(x).
    Returns the batch, the replayed questions, the plain groups and each question's outcome.
    A question whose plain group holds a reward the judge could not give (teacher_failure:
    skip) sits this step out: no update, no reformulation, no buffer bookkeeping."""
    batch, replay = loop.draw_batch()
    plain_groups = loop.generate([plain(s) for s in batch], loop.config.group_size)
    kept = known(plain_groups)
    if len(kept) < len(plain_groups):
        kept_ids = {id(g) for g in kept}
        batch = [s for s, g in zip(batch, plain_groups) if id(g) in kept_ids]
        plain_groups = kept
    return batch, replay, plain_groups, selection.outcomes(batch, plain_groups)


def hard_with_answers(
    loop: Loop, outcomes: list[selection.PlainOutcome]
) -> tuple[list[selection.PlainOutcome], list[selection.PlainOutcome], list[list[Completion]]]:
    """Steps 3-5 of the guidance baselines: hard questions (r(x) < tau), the pre-cap (the
    rho_aug * |X_new| hardest), G_T teacher answers each, the correct ones kept."""
    hard = selection.hard_questions(outcomes, loop.config.tau)
    capped = selection.pre_cap(hard, loop.aug_slots)
    return hard, capped, loop.teacher_answers([o.sample for o in capped])


def clipped_update(loop: Loop, groups: list[list[Rollout]]) -> dict[str, float]:
    """Steps 8-9: the two-step advantage over all groups (statistics over all ranks), then I
    updates of the clip-higher, dual-clip, token-level loss over equal mini-batches. A group
    with a reward the judge could not give is left out."""
    groups = known(groups)
    loop.set_advantages(groups)
    return loop.update(flat(groups), ClippedPPO(loop.clip, loop.tis_cap), loop.config.updates_per_step)
