"""Off-policy distillation, the paper's Alg. 2 baseline (App. D.2): the student imitates the
teacher's correct answers, token by token.

    1  batch X = X_new (+ X_replay with `use_buffer`: the dagger rows)
    2  with the buffer only: G_S student rollouts on the plain prompts -> r(x), used for the
       buffer's bookkeeping and logged; they take no part in the loss
    3  G_T teacher answers per question, graded; the correct ones kept
    4  every correct answer is a sequence (the plain prompt, the teacher's tokens); a
       question with no correct answer gives no loss
    5  ONE update: the per-token generalised JSD_beta (mmzppo/algos/distill.py) between the
       student's and the teacher's next-token distributions along those sequences,
       averaged over all their tokens
    6  with the buffer: bookkeeping from the plain accuracies (as ZPPO)

The teacher must share the student's tokenizer (checked at start-up). With `distill_top_k`
> 0 the teacher's distribution is its top-k + a tail bucket (what a served teacher gives).
With `teacher_kind: reference` the sequences are the dataset's worked solutions in the
student's tokens and the teacher's distribution a point mass on each token (a DEVIATION:
`ReferenceTeacher.score`; the limit of Alg. 2 for a teacher that is always right and sure).
"""

from __future__ import annotations

import dataclasses

from mmzppo.core import selection as zppo
from mmzppo.prompting.builders import plain
from mmzppo.train.objectives import Distillation
from mmzppo.train.rollout import Rollout, StepResult, flat


def kinds(config) -> tuple[str, ...]:
    return ("plain", "teacher") if config.use_buffer else ("teacher",)


def step(t) -> StepResult:
    c = t.config
    # 1. batch
    batch, replay = t.draw_batch()

    # 2. (dagger rows) the student's plain accuracy, for the buffer
    plain_groups, outcomes = [], []
    if c.use_buffer:
        plain_groups = t.generate([plain(s) for s in batch], c.group_size)
        outcomes = zppo.outcomes(batch, plain_groups)

    # 3-4. correct teacher answers, each a sequence of the plain prompt
    teacher_groups = []
    for s, answers in zip(batch, t.teacher_answers(batch)):
        prompt = dataclasses.replace(plain(s), kind="teacher")
        if answers:
            teacher_groups.append([Rollout(prompt, t.student_tokens(a), 1.0, None) for a in answers])

    # 5. one update of the per-token JSD along the teacher's sequences
    objective = Distillation(t.teacher, c.distill_beta, c.distill_top_k)
    stats = t.update(flat(teacher_groups), objective, 1)

    # 6. buffer bookkeeping (dagger rows)
    buffer_counts = t.bookkeep(outcomes)
    counts = {
        "distill/sequences": sum(len(g) for g in teacher_groups),
        "distill/prompts_without_correct": len(batch) - len(teacher_groups),
    }
    return StepResult(plain_groups + teacher_groups, kinds(c), stats, replay, buffer_counts, counts)
