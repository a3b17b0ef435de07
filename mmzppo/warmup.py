"""Supervised warm-up on worked solutions: `python -m mmzppo.warmup --model DIR --shards DIR --out DIR`.

A random-weight tiny model never writes `\\boxed{}`, so every reward is 0 and no RL method
has a signal. The offline demo therefore warms its tiny student (a little) and its larger
tiny teacher (more) on the synthetic suite's gold worked solutions: cross-entropy on the
solution tokens after the plain prompt (the prompt tokens are not trained), AdamW, fixed
steps. This is the standard SFT-before-RL recipe at toy scale; the paper starts from
instruction-tuned Qwen3.5 checkpoints instead.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mmzppo.data.sample import Sample
from mmzppo.models import Policy, TINY_VISION, load_policy
from mmzppo.prompts import plain
from mmzppo.scoring import score


def solution_tokens(policy: Policy, solution: str) -> list[int]:
    """The solution as the assistant turn's tokens, ending with the end-of-turn token."""
    tok = policy.tokenizer
    return tok(solution, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]


def warmup(
    policy: Policy, samples: list[Sample], steps: int, batch_size: int = 8, lr: float = 1e-3, seed: int = 0
) -> list[float]:
    """`steps` AdamW steps of next-token cross-entropy on (plain prompt -> solution) pairs.

    Returns the loss of every step. Samples without a solution are an error (they say nothing
    to imitate).
    """
    missing = [s.uid for s in samples if not s.solution]
    if missing:
        raise ValueError(f"warm-up needs worked solutions; missing for {len(missing)} samples, e.g. {missing[:3]}")
    rng = random.Random(seed)
    model = policy.model
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in tqdm(range(steps), desc="warm-up", leave=False, disable=not sys.stderr.isatty()):  # no \r in piped logs
        batch = rng.sample(samples, min(batch_size, len(samples)))
        scored = score(model, policy.processor, policy.vision, [plain(s) for s in batch],
                       [solution_tokens(policy, s.solution) for s in batch], with_grad=True)  # fmt: skip
        loss = -(scored.logprobs * scored.mask).sum() / scored.mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


def main(argv: list[str] | None = None) -> None:
    from mmzppo.data.shards import ShardReader

    parser = argparse.ArgumentParser(prog="python -m mmzppo.warmup", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model folder or hub id")
    parser.add_argument("--shards", required=True, help="training shards with worked solutions")
    parser.add_argument("--out", required=True, help="where to save the warmed-up model")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    policy = load_policy(args.model, vision=TINY_VISION)
    samples = list(ShardReader(args.shards, vision=policy.vision))
    losses = warmup(policy, samples, args.steps, args.batch_size, args.lr, args.seed)
    policy.model.save_pretrained(args.out)
    policy.processor.save_pretrained(args.out)
    print(f"warm-up loss {losses[0]:.3f} -> {losses[-1]:.3f}; saved to {Path(args.out)}")


if __name__ == "__main__":
    main()
