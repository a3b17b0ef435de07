"""One file per method of the paper, each a step function that reads like its Algorithm box.

`METHODS[config.method].step(loop)` runs one rollout step and its updates on the shared loop
(the steps declared in `mmzppo.train.api.Loop`) and returns a `StepResult`. Each module also
says what it needs of the teacher: `needs_teacher(config)`, `config_problem(config)` (why a
config's teacher cannot serve the method, or None; the config reports it as a config error)
and `SAME_VOCABULARY` (distributions compared token by token). GRPO, GRPO with buffer and the
ablations are switches of `zppo`.
"""

from mmzppo.train.methods import distill_off, distill_on, hint, prefix, zppo

METHODS = {
    "zppo": zppo,  # Alg. 1 (GRPO / GRPO-dagger with use_bcq, use_ncq, use_buffer off)
    "distill_off": distill_off,  # Alg. 2
    "distill_on": distill_on,  # Alg. 3
    "hint": hint,  # Alg. 5
    "prefix": prefix,  # Alg. 6
}
