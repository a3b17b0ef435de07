"""Hint guidance, the paper's Alg. 5 baseline: the teacher helps through an answer-free hint.

    1  batch X = X_new + X_replay (as ZPPO)
    2  plain prompts -> G_S student rollouts -> r(x)
    3-5  hard questions (r(x) < tau) -> pre-cap (the rho_aug * |X_new| hardest) -> G_T teacher
         answers, correct ones kept
    6  for each, hardest first: the teacher writes a hint from one correct answer; a hint
       that leaks the answer (a \\boxed{}, the gold or the answer's final answer) is dropped
       and counted (`hint/leaked`)
    7  G_S student rollouts on each hint prompt (the question + <hint> tags), graded
       against the gold: an extra group per question, with its own group id
    8-10  two-step advantage over all groups, I clipped updates, buffer from plain accuracies

The hint prompt template is `hint` in mmzppo/templates/prompts.yaml; the teacher's request
is `HINT_INSTRUCTION` in mmzppo/teacher.py (our wording: the paper only says "answer-free").
"""

from __future__ import annotations

from mmzppo.core import selection as zppo
from mmzppo.core.guidance import leaks_answer
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.prompting.builders import hint, plain
from mmzppo.train.objectives import ClippedPPO
from mmzppo.train.rollout import StepResult, flat

KINDS = ("plain", "hint")


def step(t) -> StepResult:
    c = t.config
    # 1-2. batch, plain rollouts, r(x)
    batch, replay = t.draw_batch()
    plain_groups = t.generate([plain(s) for s in batch], c.group_size)
    outcomes = zppo.outcomes(batch, plain_groups)

    # 3-5. hard questions -> pre-cap -> correct teacher answers
    hard = zppo.hard_questions(outcomes, c.tau)
    capped = zppo.pre_cap(hard, t.aug_slots)
    answers = t.teacher_answers([o.sample for o in capped])

    # 6. one hint per question with a correct answer; leaking hints dropped
    chosen = [(o, t.rng.choice(a).text) for o, a in zip(capped, answers) if a]
    with t.timer("teacher"):
        hints = t.teacher.write_hints([o.sample for o, _ in chosen], [a for _, a in chosen]) if chosen else []
    prompts, leaked = [], 0
    for (o, answer), text in zip(chosen, hints):
        if not text.strip() or leaks_answer(text, o.sample.answer, extract_last_boxed(answer)):
            leaked += 1
            continue
        prompts.append(hint(o.sample, text))

    # 7. G_S rollouts on every hint prompt: extra groups
    hint_groups = t.generate(prompts, c.group_size)
    groups = plain_groups + hint_groups

    # 8-10. advantages, I updates, buffer
    t.set_advantages(groups)
    stats = t.update(flat(groups), ClippedPPO(t.clip, t.tis_cap), c.updates_per_step)
    buffer_counts = t.bookkeep(outcomes)
    counts = {
        "hard/questions": len(hard),
        "hard/pre_capped": len(capped),
        "hard/teacher_has_correct": len(chosen),
        "hint/written": len(hints),
        "hint/leaked": leaked,
    }
    return StepResult(groups, KINDS, stats, replay, buffer_counts, counts)
