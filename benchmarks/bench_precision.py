"""What an lr 1e-6 AdamW update does to the weights: pure bfloat16 (before) against bf16-mixed's
float32 masters (after), side by side in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_precision.py [--steps 10] [--json OUT]

One layer of the Qwen3.5-0.8B's MLP shape (1,024 x 3,584), weights drawn with std 0.02 (the
models' initialiser range), AdamW as the trainer builds it (lr 1e-6, betas 0.9/0.999, weight
decay 0.1), a fresh gradient every step with a realistic spread (std 1e-4; Adam normalises
it away, so its size hardly matters). The same initial weights and gradients on both sides:

* before (`precision: bf16`): the parameter is bfloat16 and so are its gradient and AdamW state;
* after (`precision: bf16-mixed`): the parameter is a float32 master with float32 state; the
  model computes with its bfloat16 view (autocast's cast of it).

Printed per step count: the share of weights that differ from their initial value (the bf16
weights; the masters; the masters' bf16 view), and the size of the change that reached the
weights relative to their norm, bf16 over masters (the masters' change is the update AdamW
intended; 1.0 = nothing lost to rounding). Plus the share that
`mmzppo.policy.precision.rounded_away_fraction` measures on the bf16 layer (what the trainer's
warning reports).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mmzppo.policy.precision import rounded_away_fraction

SHAPE = (1024, 3584)


def run(steps: int) -> dict:
    torch.manual_seed(0)
    init = torch.randn(SHAPE) * 0.02
    grads = [torch.randn(SHAPE) * 1e-4 for _ in range(steps)]
    pure = torch.nn.Parameter(init.to(torch.bfloat16))
    master = torch.nn.Parameter(init.to(torch.bfloat16).float())  # the same starting weights as the bf16 side
    start = master.detach().clone()
    optimizers = [torch.optim.AdamW([p], lr=1e-6, betas=(0.9, 0.999), weight_decay=0.1) for p in (pure, master)]
    rows = []
    for step, g in enumerate(grads, 1):
        for p, opt in zip((pure, master), optimizers):
            p.grad = g.to(p.dtype)
            opt.step()
        if step in (1, steps):
            norm = start.norm()
            rows.append(
                {
                    "steps": step,
                    "changed_bf16": float((pure.detach().float() != start).float().mean()),
                    "changed_masters": float((master.detach() != start).float().mean()),
                    "changed_masters_bf16_view": float((master.detach().bfloat16().float() != start).float().mean()),
                    "update_bf16_rel": float((pure.detach().float() - start).norm() / norm),
                    "update_masters_rel": float((master.detach() - start).norm() / norm),
                }
            )
    layer = torch.nn.Linear(*SHAPE[::-1], bias=False, dtype=torch.bfloat16)
    with torch.no_grad():
        layer.weight.copy_(init.to(torch.bfloat16))
    return {"shape": SHAPE, "lr": 1e-6, "rounded_away_bf16": rounded_away_fraction(layer, 1e-6), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = run(args.steps)
    print(f"layer {SHAPE[0]:,} x {SHAPE[1]:,}, std 0.02, AdamW lr 1e-6 wd 0.1, fresh gradients each step")
    print(f"rounded_away_fraction of the bf16 layer at lr 1e-6: {result['rounded_away_bf16']:.1%}")
    print(
        f"{'steps':>5} {'bf16 changed':>13} {'masters changed':>16} {'their bf16 view':>16} {'bf16 / masters update':>22}"
    )
    for r in result["rows"]:
        ratio = r["update_bf16_rel"] / r["update_masters_rel"]
        print(
            f"{r['steps']:>5} {r['changed_bf16']:>13.2%} {r['changed_masters']:>16.2%} "
            f"{r['changed_masters_bf16_view']:>16.2%} {ratio:>22.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
