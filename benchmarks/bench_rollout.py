"""Overhead of the rollout framework over a bare `model.generate`, measured side by side.

    .venv/bin/python benchmarks/bench_rollout.py [--size s] [--prompts 4] [--n 8] [--new-tokens 32] [--repeats 5]

Framework: `HFRollout.generate` for `--prompts` real MathVision image questions x `--n`
rollouts (encoding the prompts, generating, recording log-probs, cutting and decoding).
Bare: `model.generate` on the same batch, already encoded, same sampling settings
(temperature 1, top-p 1, top-k off, vision tokens suppressed). Both are forced to exactly
`--new-tokens` tokens (min_new_tokens), and alternate within each repeat so that machine
noise hits both alike. Prints the medians and their ratio (target: <= 1.2).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path

import torch

from mmzppo.data.formats import DEFAULT_BENCHDATA, mathvision_sample, read_jsonl
from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.encoding import collate, encode_prompts
from mmzppo.policy.generation.base import SamplingParams
from mmzppo.policy.generation.hf import HFRollout
from mmzppo.policy.loading import load_policy, suppressed_token_ids
from mmzppo.prompting.builders import plain
from mmzppo.tools.models import build_tiny


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def mathvision_prompts(benchdata: Path, k: int) -> list:
    """Plain prompts of the first `k` MathVision testmini image questions."""
    root = benchdata / "vlm/mathvision"
    return [plain(mathvision_sample(r, root)) for r in islice(read_jsonl(root / "testmini.jsonl"), k)]


def rollout_pair(policy, prompts: list, n: int, new_tokens: int):
    """(framework, bare): two callables that each generate `n` x exactly `new_tokens` tokens
    for every prompt, one through `HFRollout.generate` (encoding included), one through a
    bare `model.generate` on inputs encoded here, once, with the same sampling settings."""
    model = policy.model.eval()
    sampling = SamplingParams(temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=new_tokens)
    rollout = HFRollout(policy, min_new_tokens=new_tokens)
    encoded = encode_prompts(policy.processor, policy.vision, prompts)
    inputs = collate([e for e in encoded for _ in range(n)], policy.tokenizer.pad_token_id)
    bare_kwargs = dict(
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        suppress_tokens=suppressed_token_ids(policy.tokenizer),
    )

    def framework():
        groups = rollout.generate(prompts, n, sampling)
        assert all(len(c.token_ids) == new_tokens for g in groups for c in g)

    def bare():
        with torch.no_grad():
            out = model.generate(**inputs, **bare_kwargs)
        assert out.shape[1] == inputs["input_ids"].shape[1] + new_tokens

    return framework, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="s", choices=["xs", "s", "m"])
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--benchdata", type=Path, default=DEFAULT_BENCHDATA)
    args = parser.parse_args()
    prompts = mathvision_prompts(args.benchdata, args.prompts)
    with tempfile.TemporaryDirectory() as tmp:
        policy = load_policy(build_tiny(Path(tmp) / args.size, args.size), vision=TINY_VISION)
    framework, bare = rollout_pair(policy, prompts, args.n, args.new_tokens)

    framework(), bare()  # warm-up
    torch.manual_seed(0)
    times: dict[str, list[float]] = {"framework": [], "bare": []}
    for _ in range(args.repeats):
        times["framework"].append(timed(framework))
        times["bare"].append(timed(bare))
    med = {k: statistics.median(v) for k, v in times.items()}
    batch = f"{args.prompts} prompts x n={args.n}, {args.new_tokens} new tokens, tiny-{args.size}, image"
    print(f"rollout benchmark: {batch}, {torch.get_num_threads()} threads, median of {args.repeats}")
    for k, v in times.items():
        print(f"  {k:<9} median {med[k]:.3f} s   runs: {', '.join(f'{t:.3f}' for t in v)}")
    print(f"  ratio framework / bare: {med['framework'] / med['bare']:.3f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
