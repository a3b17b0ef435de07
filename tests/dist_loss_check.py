"""Run under `accelerate launch --num_processes N`: the loss and gradient of one fixed global
mini-batch, computed with the trainer's own functions. With 2 ranks, rank 0 takes 11 of the
16 rollouts and rank 1 the other 5 (so, at 3 per micro-batch, 4 micro-batches against 2:
under FSDP rank 1 pads with dummy ones). Prints one JSON line (rank 0) with the loss and
the gradient norm; tests compare N = 1 and N = 2, replicated and FSDP-sharded.

    python tests/dist_loss_check.py MODEL_DIR [none|fsdp]"""

import json
import sys

import torch
from accelerate import Accelerator

from mmzppo.algos.grpo import ClipConfig
from mmzppo.data.sample import Sample
from mmzppo.models import TINY_VISION, load_policy
from mmzppo.prompts import plain
from mmzppo.rollout.base import Completion
from mmzppo.parallel import clip_grad_norm, shard, sync_gradients
from mmzppo.train import Rollout, accumulate_loss, global_advantages


def main(model_dir: str) -> None:
    acc = Accelerator(cpu=True)
    torch.manual_seed(0)
    policy = load_policy(model_dir, vision=TINY_VISION)
    model = policy.model
    rollouts = []
    for q in range(4):  # 4 questions x 4 rollouts, lengths 3..9, rewards make some groups trivial
        s = Sample(uid=f"q{q}", question=f"What is {q} + {q}?", answer=str(2 * q), answer_type="number")
        for k in range(4):
            tokens = [(7 * q + 3 * k + j) % 200 + 10 for j in range(3 + (q + k) % 7)]
            reward = float((q + k) % 2) if q < 3 else 1.0
            rollouts.append(Rollout(plain(s), Completion(tokens, [0.0] * len(tokens), "", True), reward, None))
    advantages = global_advantages(rollouts, 1e-6)  # same on every rank: all rollouts known here
    if acc.num_processes not in (1, 2):
        raise SystemExit("run with 1 or 2 processes")
    mine = [i for i in range(len(rollouts)) if acc.num_processes == 1 or (i < 11) == (acc.process_index == 0)]
    if len(sys.argv) > 2 and sys.argv[2] == "fsdp":
        shard(model)
    prompts = [rollouts[i].prompt for i in mine]
    completions = [rollouts[i].completion.token_ids for i in mine]
    old = [torch.full((len(c),), -9.0) for c in completions]  # ratios well above 1: clipping is exercised
    stats = accumulate_loss(model, policy, prompts, completions, old, advantages[mine], ClipConfig(), 3, 1.0)
    sync_gradients(model)
    grad_norm = clip_grad_norm(model, float("inf"))  # the global norm, sharded or not (nothing clipped)
    if acc.is_main_process:
        print(json.dumps({"loss": stats["loss"], "grad_norm": float(grad_norm), "clip_high": stats["clip_ratio/high"]}))
    acc.end_training()  # destroy the process group: gloo threads left at exit can abort a rank


if __name__ == "__main__":
    main(sys.argv[1])
