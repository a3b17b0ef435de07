"""The built-in demo: `python -m mmzppo.demo` (offline, CPU, a few minutes).

1. writes the synthetic suite as WebDataset shards (image, video and text tasks; a train
   split and a held-out test split),
2. builds a tiny Qwen3.5 student (xs) and a larger tiny teacher (s) and warms both up on the
   worked solutions of the train split (the teacher longer), cached after the first run,
3. measures greedy accuracy on the test split per modality,
4. trains the student with ZPPO (`configs/demo.yaml`: BCQ, NCQ, replay buffer, the local
   teacher) into `runs/demo/` (replaced on every run),
5. measures again and prints the before/after table, the run's BCQ/NCQ/buffer counts and
   one BCQ prompt as the student saw it.

`--quick` shrinks every stage (used by the tests). Extra `key=value` arguments override the
run config, e.g. `steps=100`.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from mmzppo.config import load_config
from mmzppo.data.formats import read_jsonl
from mmzppo.data.sample import Sample
from mmzppo.models import TINY_VISION, Policy, build_tiny, load_policy
from mmzppo.prompts import plain
from mmzppo.reward import grade
from mmzppo.rollout.base import SamplingParams
from mmzppo.rollout.hf import HFRollout

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "configs" / "demo.yaml"
MODALITIES = ("image", "video", "text")


def write_split(out: Path, split: str, n: int, levels: list[int], seed: int = 0) -> Path:
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite

    if not (out / "index.json").is_file():
        shutil.rmtree(out, ignore_errors=True)
        samples = generate_suite(None, n, seed, split, out.parent / f"{split}-media", levels=levels)
        write_shards(samples, out, maxcount=100)
    return out


def warmed_model(out: Path, size: str, seed: int, train: list[Sample], steps: int, lr: float) -> Path:
    """A tiny model warmed up on worked solutions (cached in `out`)."""
    from mmzppo.warmup import warmup

    if (out / "config.json").is_file():
        return out
    torch.manual_seed(seed)
    policy = load_policy(build_tiny(out.with_name(out.name + "-init"), size, seed=seed), vision=TINY_VISION)
    warmup(policy, train, steps=steps, batch_size=8, lr=lr, seed=seed)
    policy.model.save_pretrained(out)
    policy.processor.save_pretrained(out)
    return out


def accuracy_by_modality(policy: Policy, samples: list[Sample], max_new_tokens: int) -> dict[str, float]:
    """Greedy pass@1 per modality (the closer and grader of training)."""
    outputs = HFRollout(policy, batch_size=128).generate(
        [plain(s) for s in samples], 1, SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    )
    hits: dict[str, list[float]] = {m: [] for m in MODALITIES}
    for s, (c,) in zip(samples, outputs):
        hits[s.modality].append(grade(c.text, s.answer, s.answer_type, s.choices).reward)
    return {m: sum(v) / len(v) for m, v in hits.items() if v}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path(".cache/mmzppo/demo"), help="cache of data and models")
    parser.add_argument("--output-dir", default="runs", help="where the run folder goes")
    parser.add_argument("--quick", action="store_true", help="tiny everything (seconds; for tests)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of configs/demo.yaml")
    args = parser.parse_args(argv)
    console = Console()
    start = time.perf_counter()
    from mmzppo.parallel import pick_threads

    console.print(f"torch threads: {pick_threads()} (one per idle core; set OMP_NUM_THREADS to fix the count, "
                  "and with it the numbers)")  # fmt: skip
    q = args.quick
    work = args.workdir.resolve()

    console.rule("1. synthetic shards")
    train_dir = write_split(work / "data/train", "train", 4 if q else 40, [1, 2, 3])
    test_dir = write_split(work / "data/test", "test", 2 if q else 12, [1, 2, 3])
    from mmzppo.data.shards import ShardReader

    train = list(ShardReader(train_dir, vision=TINY_VISION))
    test = list(ShardReader(test_dir, vision=TINY_VISION))
    console.print(f"{len(train)} training and {len(test)} held-out test questions (10 tasks, levels 1-3)")

    console.rule("2. tiny teacher and student, warmed up on worked solutions (cached)")
    teacher_dir = warmed_model(work / "teacher", "s", 1, train, 10 if q else 300, 2e-3)
    student_dir = warmed_model(work / "student", "xs", 0, train, 5 if q else 60, 3e-3)
    teacher, student = load_policy(teacher_dir, vision=TINY_VISION), load_policy(student_dir, vision=TINY_VISION)
    tokens = load_config(DEMO_CONFIG, ["teacher=-"]).max_new_tokens  # evaluate with the training length
    before = accuracy_by_modality(student, test, tokens)
    teacher_acc = accuracy_by_modality(teacher, test, tokens)
    del teacher, student

    console.rule("3. ZPPO")
    overrides = [f"student={student_dir}", f"teacher={teacher_dir}", f"train_shards={train_dir}",
                 f"output_dir={args.output_dir}", *(["steps=2", "save_every=0"] if q else []), *args.overrides]  # fmt: skip
    config = load_config(DEMO_CONFIG, overrides)
    shutil.rmtree(config.run_dir, ignore_errors=True)
    from mmzppo.train import Trainer, latest_checkpoint

    Trainer(config).train()
    after = accuracy_by_modality(load_policy(latest_checkpoint(config.run_dir), vision=TINY_VISION), test, tokens)

    console.rule("4. results")
    table = Table("modality", "items", "student before", "student after ZPPO", "teacher",
                  title=f"greedy accuracy on the held-out synthetic test split ({len(test)} questions)")  # fmt: skip
    for m in MODALITIES:
        n = sum(s.modality == m for s in test)
        table.add_row(m, str(n), f"{before[m]:.3f}", f"{after[m]:.3f}", f"{teacher_acc[m]:.3f}")
    console.print(table)
    metrics = list(read_jsonl(config.run_dir / "metrics.jsonl"))
    k = max(1, len(metrics) // 4)
    first, last = metrics[:k], metrics[-k:]
    avg = lambda rows, key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    console.print(
        f"{len(metrics)} ZPPO steps: plain-group reward {avg(first, 'reward/plain_mean'):.3f} (first {k}) -> "
        f"{avg(last, 'reward/plain_mean'):.3f} (last {k}); BCQ groups {sum(r['groups/bcq'] for r in metrics):.0f}, "
        f"NCQ groups {sum(r['groups/ncq'] for r in metrics):.0f}; buffer admitted "
        f"{metrics[-1]['buffer/admitted_total']:.0f}, graduated {metrics[-1]['buffer/graduated_total']:.0f}, "
        f"size {metrics[-1]['buffer/size']:.0f}"
    )
    samples = list(read_jsonl(config.run_dir / "samples.jsonl"))
    shown = next((s for s in samples if s["kind"] == "bcq"), None)
    if shown:
        labels = ", ".join(c["label"] for c in shown["candidates"])
        console.print(f"\na BCQ prompt from step {shown['step']} ({shown['uid']}; candidates in order: {labels}):")
        console.print(shown["prompt"], markup=False, highlight=False)
        console.print(f"student rewards on it: {[r['reward'] for r in shown['responses']]}")
    console.print(f"\nrun folder: {config.run_dir}  (metrics.jsonl, samples.jsonl, tb/, checkpoints/)")
    console.print(f"demo took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
