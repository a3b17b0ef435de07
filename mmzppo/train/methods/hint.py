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

The hint prompt template is `hint` in mmzppo/prompting/templates/prompts.yaml; the teacher's
request is `HINT_INSTRUCTION` in mmzppo/teachers/base.py (our wording: the paper only says
"answer-free").
"""

from __future__ import annotations

from mmzppo.core.guidance import leaks_answer
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.prompting.builders import hint
from mmzppo.train.api import Loop, StepResult
from mmzppo.train.methods.steps import clipped_update, hard_with_answers, plain_round

KINDS = ("plain", "hint")
SAME_VOCABULARY = False  # the hint reaches the student as text


def needs_teacher(config) -> bool:
    return True


def config_problem(config) -> str | None:
    if config.teacher_kind == "none":
        return "teacher_kind: method 'hint' needs a teacher's correct answers (teacher_kind: local or reference), got 'none'"
    return None


def step(loop: Loop) -> StepResult:
    c = loop.config
    # 1-2. batch, plain rollouts, r(x)
    batch, replay, plain_groups, outcomes = plain_round(loop)

    # 3-5. hard questions -> pre-cap -> correct teacher answers
    hard, capped, answers = hard_with_answers(loop, outcomes)

    # 6. one hint per question with a correct answer; leaking hints dropped
    chosen = [(o, loop.rng.choice(a).text) for o, a in zip(capped, answers) if a]
    hints = loop.write_hints([o.sample for o, _ in chosen], [a for _, a in chosen])
    prompts, leaked = [], 0
    for (o, answer), text in zip(chosen, hints):
        if not text.strip() or leaks_answer(text, o.sample.answer, extract_last_boxed(answer)):
            leaked += 1
            continue
        prompts.append(hint(o.sample, text))

    # 7. G_S rollouts on every hint prompt: extra groups
    hint_groups = loop.generate(prompts, c.group_size)
    groups = plain_groups + hint_groups

    # 8-10. advantages, I updates, buffer
    stats = clipped_update(loop, groups)
    buffer_counts = loop.bookkeep(outcomes)
    counts = {
        "hard/questions": len(hard),
        "hard/pre_capped": len(capped),
        "hard/teacher_has_correct": len(chosen),
        "hint/written": len(hints),
        "hint/leaked": leaked,
    }
    return StepResult(groups, KINDS, stats, replay, buffer_counts, counts)
