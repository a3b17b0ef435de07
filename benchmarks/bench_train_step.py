"""Step time of every method relative to GRPO's, and peak memory of a ZPPO step, on tiny models.

    .venv/bin/python benchmarks/bench_train_step.py [--steps 3] [--tokens 64] [--candidate-max-words 300]
        [--micro-batch-size 32] [--methods zppo,hint,prefix,distill_off,distill_on] [--skip-memory]

All trainers run in this one process on the same synthetic shards and the same tiny `s`
student, steps interleaved (GRPO, ZPPO, hint, ...) so that machine noise hits all alike;
every student completion has exactly `--tokens` tokens (EOS forbidden before), so the
methods differ only by the work each adds to GRPO's. Teachers: ZPPO, hint and prefix use
the reference-solution teacher (the paper's teacher inference is reported apart as
time/teacher and is ~0 here); the distillation methods need a model's distributions, so
their teacher is a second tiny `s` (seed 1, the student's tokenizer) whose `sample` returns
the reference solutions as its tokens (`SolutionBackend`: every question then has correct
teacher sequences to distil, as a trained teacher would give), while its forward passes
for the divergence are real and counted in the step. Peak memory: each size runs one ZPPO
step in a fresh subprocess, which reports its peak resident memory (ru_maxrss) and the peak
minus the resident memory right after loading the model (what the step itself added).
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

from mmzppo.data.vision import TINY_VISION
from mmzppo.tools.models import build_tiny
from mmzppo.train.config_files import load_config

TINY = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]


def make_shards(root: Path) -> Path:
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite

    write_shards(generate_suite(None, 8, 0, "train", root / "media", levels=[2]), root / "train", maxcount=100)
    return root / "train"


class SolutionBackend:
    """A teacher's rollout backend that answers with the question's worked solution, as tokens
    of the shared tokenizer (the distillation methods' sequences, without teacher training)."""

    def __init__(self, policy):
        self.tokenizer = policy.tokenizer

    def generate(self, prompts, n, sampling):
        from mmzppo.policy.generation.base import Completion

        out = []
        for p in prompts:
            text = p.sample.solution
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            out.append([Completion(ids, [0.0] * len(ids), text, True)] * n)
        return out

    def sync_weights(self):
        pass


METHOD_SWITCHES = {
    "grpo": ["use_bcq=false", "use_ncq=false", "use_buffer=false", "teacher_kind=none"],
    "zppo": ["teacher_kind=reference"],
    "hint": ["method=hint", "teacher_kind=reference"],
    "prefix": ["method=prefix", "teacher_kind=reference"],
    "distill_off": ["method=distill_off", "use_buffer=false"],
    "distill_on": ["method=distill_on", "use_buffer=false"],
}


def trainer(
    student: Path,
    shards: Path,
    out: Path,
    name: str,
    tokens: int,
    method: str,
    words: int = 300,
    micro: int = 32,
    teacher: Path | None = None,
    micro_tokens: int = 0,
    old: str = "auto",
    updates: int = 4,
    extra: tuple[str, ...] = (),
):
    """A Trainer of `method` on 8 questions x 8 rollouts of exactly `tokens` tokens, I = `updates`
    (`extra`: more key=value overrides, applied last)."""
    from mmzppo.train.loop import Trainer

    config = load_config(
        None,
        [
            f"student={student}",
            f"teacher={teacher or student}",
            f"train_shards={shards}",
            f"output_dir={out}",
            f"name={name}",
            "prompts_per_step=8",
            "group_size=8",
            f"max_new_tokens={tokens}",
            f"updates_per_step={updates}",
            f"micro_batch_size={micro}",
            f"micro_batch_tokens={micro_tokens}",
            f"old_logprobs={old}",
            "rollout_batch_size=128",
            "dtype=float32",
            "lr=1e-5",
            "steps=1000",
            "save_every=0",
            f"candidate_max_words={words}",
            "candidate_compression=truncate",
            *TINY,
            *METHOD_SWITCHES[method],
            *extra,
        ],
    )
    t = Trainer(config)
    t.rollout.min_new_tokens = tokens  # fixed lengths: equal work per rollout in every method
    if method.startswith("distill"):
        t.teacher.backend = SolutionBackend(t.teacher.policy)
    return t


def step_times(args) -> None:
    methods = ["grpo", *[m for m in args.methods.split(",") if m != "grpo"]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        student = build_tiny(tmp / "s", "s")
        teacher = build_tiny(tmp / "teacher", "s", seed=1) if any(m.startswith("distill") for m in methods) else None
        shards = make_shards(tmp / "data")
        runs = {
            m: trainer(
                student,
                shards,
                tmp,
                m,
                args.tokens,
                m,
                args.candidate_max_words,
                args.micro_batch_size,
                teacher if m.startswith("distill") else None,
                args.micro_batch_tokens,
                args.old_logprobs,
            )
            for m in methods
        }
        times = {k: [] for k in runs}
        phases = {k: {} for k in runs}
        extra = []
        for i in range(args.steps + 1):  # the first step of each is a warm-up
            for name, t in runs.items():
                metrics, _ = t.step()
                if i:
                    times[name].append(metrics["time/step"])
                    for key in ("rollout", "teacher", "old_logprobs", "update"):
                        phases[name].setdefault(key, []).append(metrics.get(f"time/{key}", 0.0))
                if name == "zppo" and i:
                    extra.append(metrics["groups/bcq"] + metrics["groups/ncq"])
        print(
            f"tiny s student, 8 questions x 8 rollouts x {args.tokens} tokens, I=4, {args.steps} steps each, "
            f"candidates cut to {args.candidate_max_words} words, micro-batches of {args.micro_batch_size} "
            f"(token budget {args.micro_batch_tokens or 'off'}), old log-probs {args.old_logprobs}, "
            f"torch threads {torch.get_num_threads()}"
        )
        g = statistics.median(times["grpo"])
        for name in runs:
            med = statistics.median(times[name])
            detail = ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in phases[name].items())
            print(f"{name:12s} step {med:6.2f} s  ratio to GRPO {med / g:5.2f}  ({detail})")
        if extra:
            print(
                f"ZPPO: {statistics.mean(extra):.1f} BCQ+NCQ prompts per step (paper, at scale: ZPPO/GRPO "
                "1.11-1.22 wall-clock)"
            )


def peak_memory_child(size: str, tokens: int, micro_tokens: int = 0, micro: int = 32) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        student = build_tiny(tmp / size, size)
        shards = make_shards(tmp / "data")
        t = trainer(student, shards, tmp, "mem", tokens, "zppo", micro=micro, micro_tokens=micro_tokens)
        loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t.step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"size": size, "peak_mb": peak / 1024, "step_added_mb": (peak - loaded) / 1024}))


def peak_memory(size: str, tokens: int, micro: int, micro_tokens: int) -> dict:
    """One ZPPO step in a fresh subprocess: {"size", "peak_mb", "step_added_mb"}. Call it before
    the calling process grows: Linux keeps ru_maxrss across exec, so a child started after this
    process has grown would report this process's peak."""
    out = (
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-child",
                size,
                "--tokens",
                str(tokens),
                "--micro-batch-size",
                str(micro),
                "--micro-batch-tokens",
                str(micro_tokens),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument(
        "--candidate-max-words",
        type=int,
        default=300,
        help="ZPPO's candidate budget (config candidate_max_words; 300 = the default)",
    )
    parser.add_argument("--micro-batch-size", type=int, default=32, help="sequences per forward/backward")
    parser.add_argument(
        "--micro-batch-tokens", type=int, default=0, help="padded tokens per forward/backward (0 = off)"
    )
    parser.add_argument(
        "--old-logprobs",
        default="auto",
        choices=["auto", "sampler", "recompute"],
        help="PPO's log pi_old (config old_logprobs)",
    )
    parser.add_argument(
        "--methods",
        default="zppo,hint,prefix,distill_off,distill_on",
        help="methods timed against GRPO (comma-separated)",
    )
    parser.add_argument("--skip-memory", action="store_true", help="step times only")
    parser.add_argument("--memory-only", action="store_true", help="peak memory only")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return peak_memory_child(args.memory_child, args.tokens, args.micro_batch_tokens, args.micro_batch_size)
    # memory first (see peak_memory)
    for size in () if args.skip_memory else ("s", "m"):
        r = peak_memory(size, args.tokens, args.micro_batch_size, args.micro_batch_tokens)
        print(
            f"peak memory of a ZPPO step, tiny {size}: {r['peak_mb']:.0f} MB resident "
            f"({r['step_added_mb']:.0f} MB above the loaded model; token budget {args.micro_batch_tokens or 'off'})"
        )
    if not args.memory_only:
        step_times(args)


if __name__ == "__main__":
    main()
