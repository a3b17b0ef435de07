"""ZPPO step time vs GRPO step time, and peak memory of a ZPPO step, on tiny models.

    .venv/bin/python benchmarks/bench_train_step.py [--steps 3] [--tokens 64] [--candidate-max-words 300]
        [--micro-batch-size 32] [--skip-memory]

Both trainers run in this one process on the same synthetic shards and the same tiny `s`
student, steps interleaved (ZPPO, GRPO, ZPPO, ...) so that machine noise hits both alike;
every completion has exactly `--tokens` tokens (EOS forbidden before), so the two differ
only by the work ZPPO adds: BCQ/NCQ rollouts and their share of the update. The teacher is
the reference-solution teacher (its cost is the paper's teacher inference, reported apart as
time/teacher and ~0 here). Peak memory: each size runs one ZPPO step in a fresh subprocess,
which reports its peak resident memory (ru_maxrss) and the peak minus the resident memory
right after loading the model (what the step itself added).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from mmzppo.config import load_config
from mmzppo.models import TINY_VISION, build_tiny

TINY = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]


def make_shards(root: Path) -> Path:
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite

    write_shards(generate_suite(None, 8, 0, "train", root / "media", levels=[2]), root / "train", maxcount=100)
    return root / "train"


def trainer(student: Path, shards: Path, out: Path, name: str, tokens: int, zppo: bool, words: int = 300,
            micro: int = 32):
    from mmzppo.train import Trainer

    switches = [] if zppo else ["use_bcq=false", "use_ncq=false", "use_buffer=false"]
    config = load_config(None, [
        f"student={student}", "teacher_kind=reference", f"train_shards={shards}", f"output_dir={out}", f"name={name}",
        "prompts_per_step=8", "group_size=8", f"max_new_tokens={tokens}", "updates_per_step=4", f"micro_batch_size={micro}",
        "rollout_batch_size=128", "dtype=float32", "lr=1e-5", "steps=1000", "save_every=0",
        f"candidate_max_words={words}", *TINY, *switches,
    ])  # fmt: skip
    t = Trainer(config)
    t.rollout.min_new_tokens = tokens  # fixed lengths: equal work per rollout in both methods
    return t


def step_times(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        student = build_tiny(tmp / "s", "s")
        shards = make_shards(tmp / "data")
        micro = args.micro_batch_size
        runs = {"zppo": trainer(student, shards, tmp, "zppo", args.tokens, True, args.candidate_max_words, micro),
                "grpo": trainer(student, shards, tmp, "grpo", args.tokens, False, micro=micro)}  # fmt: skip
        times = {k: [] for k in runs}
        phases = {k: {} for k in runs}
        extra = []
        for i in range(args.steps + 1):  # the first step of each is a warm-up
            for name, t in runs.items():
                metrics, _ = t.step()
                if i:
                    times[name].append(metrics["time/step"])
                    for key in ("rollout", "old_logprobs", "update"):
                        phases[name].setdefault(key, []).append(metrics.get(f"time/{key}", 0.0))
                if name == "zppo" and i:
                    extra.append(metrics["groups/bcq"] + metrics["groups/ncq"])
        z, g = statistics.median(times["zppo"]), statistics.median(times["grpo"])
        for name in runs:
            print(f"{name}: " + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in phases[name].items()))
        print(f"tiny s student, 8 questions x 8 rollouts x {args.tokens} tokens, I=4, {args.steps} steps each, "
              f"candidates cut to {args.candidate_max_words} words, micro-batches of {args.micro_batch_size}, "
              f"torch threads {torch.get_num_threads()}")  # fmt: skip
        print(f"ZPPO step {z:.2f} s (BCQ+NCQ prompts per step: {statistics.mean(extra):.1f}), GRPO step {g:.2f} s, "
              f"ratio ZPPO/GRPO = {z / g:.2f}  (paper, at scale: 1.11-1.22 wall-clock)")  # fmt: skip


def peak_memory_child(size: str, tokens: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        student = build_tiny(tmp / size, size)
        shards = make_shards(tmp / "data")
        t = trainer(student, shards, tmp, "mem", tokens, True)
        loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t.step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"size": size, "peak_mb": peak / 1024, "step_added_mb": (peak - loaded) / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--candidate-max-words", type=int, default=300,
                        help="ZPPO's candidate budget (config candidate_max_words; 300 = the default)")
    parser.add_argument("--micro-batch-size", type=int, default=32, help="sequences per forward/backward")
    parser.add_argument("--skip-memory", action="store_true", help="step times only")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return peak_memory_child(args.memory_child, args.tokens)
    # Memory first: Linux keeps ru_maxrss across exec, so a child started after this process
    # has grown would report this process's peak.
    for size in () if args.skip_memory else ("s", "m"):
        out = subprocess.run([sys.executable, __file__, "--memory-child", size, "--tokens", str(args.tokens)],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]  # fmt: skip
        r = json.loads(out)
        print(f"peak memory of a ZPPO step, tiny {size}: {r['peak_mb']:.0f} MB resident "
              f"({r['step_added_mb']:.0f} MB above the loaded model)")
    step_times(args)


if __name__ == "__main__":
    main()
