"""Off-policy distillation, the paper's Alg. 2 baseline (App. D.2): the student imitates the
teacher's correct answers, token by token.

    1  batch X = X_new (+ X_replay with `use_buffer`: the dagger rows)
    2  with the buffer only: G_S student rollouts on the plain prompts -> r(x), used for the
       buffer's bookkeeping and logged; they take no part in the loss
    3  G_T teacher answers per question, graded; the correct ones kept
    4  every correct answer is a sequence (the plain prompt, the teacher's tokens); a
       question with no correct answer gives no loss
    5  ONE update: the per-token generalised JSD_beta (mmzppo/core/divergences.py) between the
       student's and the teacher's next-token distributions along those sequences,
       averaged over all their tokens
    6  with the buffer: bookkeeping from the plain accuracies (as ZPPO)

The teacher must share the student's tokenizer (checked at start-up). With `distill_top_k`
> 0 the teacher's distribution is its top-k + a tail bucket, an approximation and all a served
teacher (`teacher_kind: server`, vLLM's prompt log-probs) gives: it needs k > 0.
With `teacher_kind: reference` the sequences are the dataset's worked solutions in the
student's tokens and the teacher's distribution a point mass on each token (a DEVIATION:
`ReferenceTeacher.distributions`; the limit of Alg. 2 for a teacher that is always right and sure).
"""

from __future__ import annotations

from mmzppo.core import selection
from mmzppo.prompting.builders import plain
from mmzppo.train.api import Loop, StepResult
from mmzppo.train.objectives import Distillation
from mmzppo.train.rollout import flat

SAME_VOCABULARY = True  # distributions are compared token by token
SERVED_TOP_K = (
    "distill_top_k: a served teacher gives only its top-k log-probs per token; set distill_top_k > 0 for "
    "method {method!r} with distill_loss jsd (at most the server's --max-logprobs, vLLM's default 20)"
)


def kinds(config) -> tuple[str, ...]:
    return ("plain", "teacher") if config.use_buffer else ("teacher",)


def needs_teacher(config) -> bool:
    return True


def config_problem(config) -> str | None:
    if config.teacher_kind not in ("local", "server", "reference"):
        return (
            "teacher_kind: method 'distill_off' needs a teacher model's distributions "
            f"(teacher_kind: local or server, or reference), got {config.teacher_kind!r}"
        )
    if config.teacher_kind == "server" and config.distill_top_k <= 0:
        return SERVED_TOP_K.format(method="distill_off")
    if config.distill_loss != "jsd":
        return f"distill_loss: {config.distill_loss!r} is for distill_on; distill_off takes jsd"
    return None


def step(loop: Loop) -> StepResult:
    c = loop.config
    # 1. batch
    batch, replay = loop.draw_batch()

    # 2. (dagger rows) the student's plain accuracy, for the buffer
    plain_groups, outcomes = [], []
    if c.use_buffer:
        plain_groups = loop.generate([plain(s) for s in batch], c.group_size)
        outcomes = selection.outcomes(batch, plain_groups)

    # 3-4. correct teacher answers, each a sequence of the plain prompt
    teacher_groups = [loop.teacher_sequences(s, answers) for s, answers in zip(batch, loop.teacher_answers(batch))]
    teacher_groups = [g for g in teacher_groups if g]

    # 5. one update of the per-token JSD along the teacher's sequences
    objective = Distillation(loop.teacher, c.distill_beta, c.distill_top_k)
    stats = loop.update(flat(teacher_groups), objective, 1)

    # 6. buffer bookkeeping (dagger rows)
    buffer_counts = loop.bookkeep(outcomes)
    counts = {
        "distill/sequences": sum(len(g) for g in teacher_groups),
        "distill/prompts_without_correct": len(batch) - len(teacher_groups),
    }
    return StepResult(plain_groups + teacher_groups, kinds(c), stats, replay, buffer_counts, counts)
