"""Torch threads on a small shared machine: 1 vs 2 threads, idle and beside a busy process.

    .venv/bin/python benchmarks/bench_threads.py [--repeats 5]

The workload is a piece of a training step of the tiny `s` model (the demo's teacher size): a
forward + backward of 8 copies of a synthetic image question with a 64-token answer. Each
setting runs in a fresh subprocess (torch fixes its thread pool at start); "busy" starts a
second process that keeps one core busy with a pure-Python loop, as another job on the
machine would. Prints the median time per iteration and the ratios side by side.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def child(repeats: int) -> None:
    import torch

    from mmzppo.data.synthetic import generate_suite
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.policy.encoding import encode_prompts
    from mmzppo.policy.loading import load_policy
    from mmzppo.policy.logprobs import completion_logprobs
    from mmzppo.prompting.builders import plain
    from mmzppo.tools.models import build_tiny

    with tempfile.TemporaryDirectory() as tmp:
        policy = load_policy(build_tiny(Path(tmp) / "s", "s"), vision=TINY_VISION)
        sample = next(iter(generate_suite(["count_color"], 1, 0, "train", Path(tmp) / "media", levels=[1])))
        prompts, completions = [plain(sample)] * 8, [[(7 * j) % 500 + 10 for j in range(64)]] * 8
        times = []
        for _ in range(repeats + 1):  # the first is a warm-up
            start = time.perf_counter()
            encoded = encode_prompts(policy.processor, policy.vision, prompts)
            scored = completion_logprobs(policy.model, policy.tokenizer, encoded, completions, with_grad=True)
            (-(scored.logprobs * scored.mask).sum()).backward()
            times.append(time.perf_counter() - start)
        print(json.dumps({"threads": torch.get_num_threads(), "median_s": statistics.median(times[1:])}))


def measure(threads: int, busy: bool, repeats: int) -> float:
    stop = multiprocessing.Event()
    spinner = multiprocessing.Process(target=spin, args=(stop,)) if busy else None
    if spinner:
        spinner.start()
    try:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
        out = (
            subprocess.run(
                [sys.executable, __file__, "--child", "--repeats", str(repeats)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        return json.loads(out)["median_s"]
    finally:
        if spinner:
            stop.set()
            spinner.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.repeats)
    results = {(t, b): measure(t, b, args.repeats) for b in (False, True) for t in (1, 2)}
    print(f"tiny s forward+backward, 8 x (image prompt + 64 tokens), median of {args.repeats}, {os.cpu_count()} cores")
    for busy in (False, True):
        one, two = results[(1, busy)], results[(2, busy)]
        print(
            f"{'busy' if busy else 'idle'}: 1 thread {one:.3f} s, 2 threads {two:.3f} s, 2 threads / 1 thread = "
            f"{two / one:.2f}"
        )


if __name__ == "__main__":
    main()
