"""Forward, backward and generate time of the tiny Qwen3.5 sizes, measured side by side.

    .venv/bin/python benchmarks/bench_tiny_models.py [--repeats 3] [--batch 8] [--new-tokens 32]

One batch of `--batch` copies of a real MathVision image question (resized by TINY_VISION),
fp32 on CPU. Times are medians over `--repeats`; the last columns are ratios to the `xs`
size measured in the same run (this machine is noisy, so compare ratios, not seconds).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mmzppo.data.formats import DEFAULT_BENCHDATA, mathvision_sample, read_jsonl
from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.encoding import collate, encode_prompts
from mmzppo.policy.loading import count_parameters, load_policy, suppressed_token_ids
from mmzppo.prompting.builders import plain
from mmzppo.tools.models import build_tiny


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--benchdata", type=Path, default=DEFAULT_BENCHDATA)
    args = parser.parse_args()
    torch.manual_seed(0)
    root = args.benchdata / "vlm/mathvision"
    sample = mathvision_sample(next(read_jsonl(root / "testmini.jsonl")), root)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in ("xs", "s", "m"):
            policy = load_policy(build_tiny(Path(tmp) / size, size), vision=TINY_VISION)
            model = policy.model
            (prompt,) = encode_prompts(policy.processor, policy.vision, [plain(sample)])
            inputs = collate([prompt] * args.batch, policy.tokenizer.pad_token_id)
            labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)

            def forward():
                with torch.no_grad():
                    model(**inputs)

            def forward_backward():
                model(**inputs, labels=labels).loss.backward()
                model.zero_grad(set_to_none=True)

            def generate():
                model.generate(
                    **inputs,
                    max_new_tokens=args.new_tokens,
                    min_new_tokens=args.new_tokens,
                    do_sample=True,
                    top_k=0,
                    suppress_tokens=suppressed_token_ids(policy.tokenizer),
                )

            for fn in (forward, forward_backward, generate):  # warm-up (first calls allocate)
                fn()
            rows.append(
                (
                    size,
                    count_parameters(model),
                    inputs["input_ids"].shape[1],
                    median_time(forward, args.repeats),
                    median_time(forward_backward, args.repeats),
                    median_time(generate, args.repeats),
                )
            )
    base = rows[0]
    print(
        f"batch {args.batch}, prompt with one image, {args.new_tokens} new tokens, torch threads {torch.get_num_threads()}"
    )
    print(
        f"{'size':<5}{'params':>12}{'prompt':>8}{'forward s':>11}{'fwd+bwd s':>11}{'generate s':>12}"
        f"{'fwd x':>8}{'f+b x':>8}{'gen x':>8}"
    )
    for size, n, length, f, fb, g in rows:
        print(
            f"{size:<5}{n:>12,}{length:>8}{f:>11.3f}{fb:>11.3f}{g:>12.3f}"
            f"{f / base[3]:>8.2f}{fb / base[4]:>8.2f}{g / base[5]:>8.2f}"
        )


if __name__ == "__main__":
    main()
