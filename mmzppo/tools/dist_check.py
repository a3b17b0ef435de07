"""The multi-process loss check: one fixed global mini-batch's loss and gradient, N processes.

Run under `accelerate launch --num_processes N`; computed with the trainer's own functions.
With 2 ranks, rank 0 takes 11 of the 16 rollouts and rank 1 the other 5 (so, at 3 per
micro-batch, 4 micro-batches against 2: under FSDP rank 1 pads with dummy ones). Prints one JSON line (rank 0) with the loss and
the gradient norm; tests compare N = 1 and N = 2, replicated and FSDP-sharded, for the PPO
objective and for the distillation objective (JSD to a perturbed copy of the model).

    accelerate launch --num_processes N -m mmzppo.tools.dist_check MODEL_DIR [none|fsdp] [ppo|jsd] [PRECISION]

PRECISION (default fp32; `bf16-mixed`: autocast on the replicated path, FSDP2's mixed-precision
policy on the sharded one, float32 gradient sums on both) is the run config's `precision`."""

import argparse
import json

import torch
from accelerate import Accelerator

from mmzppo.core.ppo import ClipConfig
from mmzppo.data.sample import Sample
from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.encoding import encode_prompts
from mmzppo.policy.generation.base import Completion
from mmzppo.policy.loading import load_policy
from mmzppo.policy.parallel import clip_grad_norm, shard, sync_gradients
from mmzppo.policy.precision import PRECISIONS
from mmzppo.prompting.builders import plain
from mmzppo.teachers.local import LocalTeacher
from mmzppo.train.objectives import ClippedPPO, Distillation
from mmzppo.train.rollout import Rollout, set_advantages
from mmzppo.train.update import MicroBatching, accumulate


def perturbed_teacher(model_dir: str) -> LocalTeacher:
    """The same model with seeded noise on its weights: a teacher that differs from the student."""
    policy = load_policy(model_dir, vision=TINY_VISION)
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(1)
        for p in policy.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return LocalTeacher(policy)


def main(model_dir: str, layout: str, objective_name: str, precision: str = "fp32") -> None:
    acc = Accelerator(cpu=True)
    torch.manual_seed(0)
    policy = load_policy(model_dir, vision=TINY_VISION)
    model = policy.model
    groups = []
    for q in range(4):  # 4 questions x 4 rollouts, lengths 3..9, rewards make some groups trivial
        s = Sample(uid=f"q{q}", question=f"What is {q} + {q}?", answer=str(2 * q), answer_type="number")
        prompt = plain(s)
        (encoded,) = encode_prompts(policy.processor, policy.vision, [prompt])
        group = []
        for k in range(4):
            tokens = [(7 * q + 3 * k + j) % 200 + 10 for j in range(3 + (q + k) % 7)]
            reward = float((q + k) % 2) if q < 3 else 1.0
            group.append(Rollout(prompt, encoded, Completion(tokens, [0.0] * len(tokens), "", True), reward, None))
        groups.append(group)
    set_advantages(groups, 1e-6)  # same on every rank: all rollouts known here
    rollouts = [r for g in groups for r in g]
    if acc.num_processes not in (1, 2):
        raise SystemExit("run with 1 or 2 processes")
    mine = [rollouts[i] for i in range(len(rollouts)) if acc.num_processes == 1 or (i < 11) == (acc.process_index == 0)]
    if layout == "fsdp":
        shard(model, precision)
    if objective_name == "jsd":
        objective, old = Distillation(perturbed_teacher(model_dir), beta=0.5), None
    else:
        objective = ClippedPPO(ClipConfig())
        old = [torch.full((len(r.token_ids),), -9.0) for r in mine]  # ratios well above 1: clipping is exercised
    stats = accumulate(model, policy, mine, old, objective, MicroBatching(3), 1.0, precision=precision)
    sync_gradients(model)
    grad_norm = clip_grad_norm(model, float("inf"))  # the global norm, sharded or not (nothing clipped)
    if acc.is_main_process:
        print(
            json.dumps(
                {
                    "loss": stats["loss"],
                    "grad_norm": float(grad_norm),
                    "clip_high": stats.get("clip_ratio/high"),
                    "divergence": stats.get("distill/divergence"),
                }
            )
        )
    acc.wait_for_everyone()  # no rank tears gloo down while the other is still in a collective
    acc.end_training()  # destroy the process group: gloo threads left at exit can abort a rank


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m mmzppo.tools.dist_check", description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", help="a tiny model folder")
    parser.add_argument("layout", nargs="?", default="none", choices=["none", "fsdp"], help="replicated or sharded")
    parser.add_argument("objective", nargs="?", default="ppo", choices=["ppo", "jsd"], help="the loss to check")
    parser.add_argument("precision", nargs="?", default="fp32", choices=list(PRECISIONS), help="the run's precision")
    args = parser.parse_args()
    main(args.model_dir, args.layout, args.objective, args.precision)
