"""One file per method of the paper, each a step function that reads like its Algorithm box.

`METHODS[config.method](trainer)` runs one rollout step and its updates on the shared loop
(`mmzppo.train.Trainer`: models, optimizer, data, buffer, teacher, checkpoints, logging) and
returns a `StepResult`. GRPO, GRPO with buffer and the ablations are switches of `zppo`.
"""

from mmzppo.train.methods import distill_off, distill_on, hint, prefix, zppo

METHODS = {
    "zppo": zppo.step,  # Alg. 1 (GRPO / GRPO-dagger with use_bcq, use_ncq, use_buffer off)
    "distill_off": distill_off.step,  # Alg. 2
    "distill_on": distill_on.step,  # Alg. 3
    "hint": hint.step,  # Alg. 5
    "prefix": prefix.step,  # Alg. 6
}
