"""ZPPO's reformulation step: which hard questions become BCQ / NCQ prompts.

Paper (arXiv:2606.18216), Algorithm 1, steps 3-7, in order:

3. hard questions: plain-group accuracy r(x) < tau (tau = 0.5: 0..3 correct of 8).
4. the teacher samples G_T = 4 answers for each hard question, graded with the same reward.
5. pre-cap: keep the rho_aug * |X_new| hardest (ascending r(x)).
6. in ascending r(x): a BCQ if the teacher has >= 1 correct and the student >= 1 wrong
   answer, an NCQ if the student has >= 1 wrong answer; post-cap: BCQ + NCQ <= rho_aug *
   |X_new|; with one slot left, the BCQ is kept and the NCQ dropped.
7. (the caller) samples G_S student rollouts on every BCQ/NCQ prompt and grades them
   against the ORIGINAL gold answer; each prompt is its own group.

Deviations, stated: the teacher is asked after the pre-cap rather than before (the pre-cap
depends on r(x) alone, so the same prompts are built, with fewer teacher calls); ties in
r(x) keep batch order; slot counts are rho * n rounded half up (`slots`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mmzppo.data.sample import Sample


@dataclass
class PlainOutcome:
    """The student's G_S graded answers to one question's plain prompt."""

    sample: Sample
    responses: list[str]
    rewards: list[float]
    teacher_correct: list[str] = field(default_factory=list)  # filled for hard questions (step 4)

    @property
    def accuracy(self) -> float:
        return sum(self.rewards) / len(self.rewards) if self.rewards else 0.0

    @property
    def wrong(self) -> list[str]:
        return [r for r, x in zip(self.responses, self.rewards) if x < 1.0]


def outcomes(batch: list[Sample], plain_groups: list[list]) -> list[PlainOutcome]:
    """Step 2's result per question, from its plain group of graded rollouts."""
    return [PlainOutcome(s, [r.completion.text for r in g], [r.reward for r in g]) for s, g in zip(batch, plain_groups)]


def slots(rho: float, n_new: int) -> int:
    """rho * |X_new| rounded half up (0 when rho is 0)."""
    return int(math.floor(rho * n_new + 0.5))


def hard_questions(outcomes: list[PlainOutcome], tau: float = 0.5) -> list[PlainOutcome]:
    """Step 3: questions whose plain accuracy is below tau."""
    return [o for o in outcomes if o.accuracy < tau]


def pre_cap(hard: list[PlainOutcome], n_slots: int) -> list[PlainOutcome]:
    """Step 5: the n_slots hardest questions, in ascending accuracy (stable for ties)."""
    return sorted(hard, key=lambda o: o.accuracy)[:n_slots]


def plan(
    capped: list[PlainOutcome], n_slots: int, use_bcq: bool = True, use_ncq: bool = True
) -> list[tuple[str, PlainOutcome]]:
    """Step 6: (kind, question) pairs in ascending accuracy, at most n_slots in all.

    Each question can give a BCQ and an NCQ; the BCQ comes first, so when one slot is left
    the BCQ is kept and the NCQ dropped.
    """
    chosen: list[tuple[str, PlainOutcome]] = []
    for o in sorted(capped, key=lambda o: o.accuracy):
        if not o.wrong:
            continue
        if use_bcq and o.teacher_correct and len(chosen) < n_slots:
            chosen.append(("bcq", o))
        if use_ncq and len(chosen) < n_slots:
            chosen.append(("ncq", o))
    return chosen
