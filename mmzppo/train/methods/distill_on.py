"""On-policy distillation, the paper's Alg. 3 baseline (GKD style): the frozen teacher grades
the student's own tokens, position by position.

    1  batch X = X_new (+ X_replay with `use_buffer`)
    2  G_S student rollouts on the plain prompts (rewards are logged and feed the buffer;
       they take no part in the loss)
    3  the teacher scores the same tokens: the same prompt and media, encoded with the
       teacher's own processor under the shared VisionSettings (a served teacher: the prompt
       rendered by the student's processor, the media sent along; its top-k log-probs only,
       `distill_top_k` > 0 for jsd; the sampled-token reverse KL needs no more)
    4  I updates of the per-token divergence on the student's tokens: JSD_beta between the
       two next-token distributions (`distill_loss: jsd`), or the sampled-token reverse KL
       (`reverse_kl_sampled`: only log S(y_t) - log T(y_t) of the sampled token, the cheap
       variant common in practice)
    5  with the buffer: bookkeeping from the plain accuracies (as ZPPO)

The student's rollouts are on-policy for the first of the I updates only (as ZPPO's); the
teacher scores every micro-batch of every update again (exact, no cache of distributions).
"""

from __future__ import annotations

from mmzppo.train.api import Loop, StepResult
from mmzppo.train.methods.distill_off import SERVED_TOP_K
from mmzppo.train.methods.steps import plain_round
from mmzppo.train.objectives import Distillation
from mmzppo.train.rollout import flat

KINDS = ("plain",)
SAME_VOCABULARY = True  # distributions are compared token by token


def needs_teacher(config) -> bool:
    return True


def config_problem(config) -> str | None:
    if config.teacher_kind == "reference":
        return (
            "teacher_kind: 'reference' gives no distributions over the student's own tokens; "
            "distill_on needs teacher_kind: local"
        )
    if config.teacher_kind not in ("local", "server"):
        return (
            "teacher_kind: method 'distill_on' needs a teacher model's distributions "
            f"(teacher_kind: local or server), got {config.teacher_kind!r}"
        )
    if config.teacher_kind == "server" and config.distill_loss == "jsd" and config.distill_top_k <= 0:
        return SERVED_TOP_K.format(method="distill_on")
    return None


def step(loop: Loop) -> StepResult:
    c = loop.config
    # 1-2. batch, the student's rollouts and their rewards
    batch, replay, plain_groups, outcomes = plain_round(loop)

    # 3-4. I updates of the divergence to the teacher on the student's own tokens
    objective = Distillation(loop.teacher, c.distill_beta, c.distill_top_k, divergence=c.distill_loss)
    stats = loop.update(flat(plain_groups), objective, c.updates_per_step)

    # 5. buffer bookkeeping from the plain accuracies
    buffer_counts = loop.bookkeep(outcomes)
    return StepResult(plain_groups, KINDS, stats, replay, buffer_counts)
