"""ZPPO, the paper's Algorithm 1 (arXiv:2606.18216): one rollout step and its I updates.

    1  batch X = X_new (data loader) + X_replay (buffer, rho_replay * |X_new|)
    2  plain prompts -> G_S student rollouts each -> binary reward -> r(x)
    3  hard questions: r(x) < tau
    4-5  pre-cap (the rho_aug * |X_new| hardest) -> G_T teacher answers, correct ones kept
    6  BCQ / NCQ prompts, hardest first (post-cap), candidates compressed
    7  G_S student rollouts on every BCQ / NCQ prompt, graded against the ORIGINAL gold
    8  plain, BCQ and NCQ groups (own group ids, shared origin uid) -> two-step advantage
    9  I updates of the clip-higher, dual-clip, token-level loss over equal mini-batches
    10 buffer bookkeeping from the PLAIN accuracies only

GRPO (`use_bcq`, `use_ncq`, `use_buffer` off) and GRPO-dagger (buffer on) are this step with
switches off, so every ablation row is a config. The equations are in mmzppo/core/advantages.py
and mmzppo/core/ppo.py, the reformulation rules (and their stated deviations) in
mmzppo/core/selection.py and mmzppo/core/reformulation.py.
"""

from __future__ import annotations

from mmzppo.core import selection
from mmzppo.core.reformulation import build_prompts
from mmzppo.train.api import Loop, StepResult
from mmzppo.train.methods.steps import clipped_update, plain_round

KINDS = ("plain", "bcq", "ncq")
SAME_VOCABULARY = False  # the teacher's answers reach the student as text


def needs_teacher(config) -> bool:
    """BCQ needs its correct answers; an NCQ-only run needs it when it rewrites candidates."""
    return config.use_bcq or (config.use_ncq and config.candidate_compression == "teacher")


def config_problem(config) -> str | None:
    if config.use_bcq and config.teacher_kind == "none":
        return "teacher_kind: 'none' but use_bcq is true (BCQ needs a teacher's correct answer)"
    return None


def step(loop: Loop) -> StepResult:
    c = loop.config
    # 1-2. batch X = X_new + X_replay; plain prompts -> G_S rollouts -> rewards -> r(x)
    batch, replay, plain_groups, outcomes = plain_round(loop)

    # 3-5. hard questions -> pre-cap -> G_T teacher answers (correct ones kept; BCQ only)
    n_slots = loop.aug_slots if (c.use_bcq or c.use_ncq) else 0
    hard = selection.hard_questions(outcomes, c.tau)
    capped = selection.pre_cap(hard, n_slots)
    if c.use_bcq:
        for o, answers in zip(capped, loop.teacher_answers([o.sample for o in capped])):
            o.teacher_correct = [a.text for a in answers]

    # 6. BCQ / NCQ prompts in ascending r(x), post-cap; candidates compressed alike
    planned = selection.plan(capped, n_slots, use_bcq=c.use_bcq, use_ncq=c.use_ncq)
    with loop.timer("teacher"):  # the teacher's candidate rewrites are teacher inference
        reformulated = build_prompts(planned, loop.rng, loop.compress, c.ncq_max_candidates)

    # 7. G_S rollouts on every BCQ / NCQ prompt, graded against the original gold
    extra_groups = loop.generate(reformulated, c.group_size)
    groups = plain_groups + extra_groups

    # 8-9. separate groups -> two-step advantage (statistics over all ranks); I clipped updates
    stats = clipped_update(loop, groups)

    # 10. buffer bookkeeping from the plain accuracies
    buffer_counts = loop.bookkeep(outcomes)

    counts = {
        "hard/questions": len(hard),
        "hard/pre_capped": len(capped),
        "hard/teacher_has_correct": sum(bool(o.teacher_correct) for o in capped),
    }
    return StepResult(groups, KINDS, stats, replay, buffer_counts, counts)
