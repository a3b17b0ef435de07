"""On-policy distillation, the paper's Alg. 3 baseline (GKD style): the frozen teacher grades
the student's own tokens, position by position.

    1  batch X = X_new (+ X_replay with `use_buffer`)
    2  G_S student rollouts on the plain prompts (rewards are logged and feed the buffer;
       they take no part in the loss)
    3  the teacher scores the same tokens: the same prompt and media, encoded with the
       teacher's own processor under the shared VisionSettings
    4  I updates of the per-token divergence on the student's tokens: JSD_beta between the
       two next-token distributions (`distill_loss: jsd`), or the sampled-token reverse KL
       (`reverse_kl_sampled`: only log S(y_t) - log T(y_t) of the sampled token, the cheap
       variant common in practice)
    5  with the buffer: bookkeeping from the plain accuracies (as ZPPO)

The student's rollouts are on-policy for the first of the I updates only (as ZPPO's); the
teacher scores every micro-batch of every update again (exact, no cache of distributions).
"""

from __future__ import annotations

from mmzppo.core import selection as zppo
from mmzppo.prompting.builders import plain
from mmzppo.train.objectives import Distillation
from mmzppo.train.rollout import StepResult, flat

KINDS = ("plain",)


def step(t) -> StepResult:
    c = t.config
    # 1-2. batch, the student's rollouts and their rewards
    batch, replay = t.draw_batch()
    plain_groups = t.generate([plain(s) for s in batch], c.group_size)

    # 3-4. I updates of the divergence to the teacher on the student's own tokens
    objective = Distillation(t.teacher, c.distill_beta, c.distill_top_k, divergence=c.distill_loss)
    stats = t.update(flat(plain_groups), objective, c.updates_per_step)

    # 5. buffer bookkeeping from the plain accuracies
    buffer_counts = t.bookkeep(zppo.outcomes(batch, plain_groups))
    return StepResult(plain_groups, KINDS, stats, replay, buffer_counts)
