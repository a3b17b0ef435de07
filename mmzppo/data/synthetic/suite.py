"""The suite's machinery: tasks and their registry, per-item randomness, content-hash splits,
generation, and `python -m mmzppo.data.synthetic`."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mmzppo.data.sample import Sample
from mmzppo.data.synthetic.image_tasks import bar_compare, count_color, digit_arith, spatial
from mmzppo.data.synthetic.text_tasks import arith_chain, choose_option, word_problem
from mmzppo.data.synthetic.video_tasks import count_events, first_appearance, motion_direction

SPLITS = ("train", "validation", "test")
LEVELS = (1, 2, 3, 4, 5)
SPLIT_BUCKETS = {"train": range(0, 8), "validation": range(8, 9), "test": range(9, 10)}  # content hash % 10
MAX_DRAWS = 1000  # draws per item before giving up on finding content of the requested split


@dataclass(frozen=True)
class Task:
    """One synthetic task: `make(rng, level, media_dir, uid)` draws one item."""

    name: str
    modality: str  # "image" | "video" | "text"
    levels: tuple[int, ...]
    make: Callable[[random.Random, int, Path, str], Sample]


# --------------------------------------------------------------------------- generation


def item_rng(task: str, split: str, seed: int, index: int) -> random.Random:
    """The RNG of one item: a stable hash of its coordinates (Python's hash() is salted)."""
    digest = hashlib.sha256(f"mmzppo-synthetic|{task}|{split}|{seed}|{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def content_hash(sample: Sample) -> str:
    """Hash of what the student sees and must answer (not the uid or file names)."""
    key = [sample.source, sample.question, sample.answer, sample.choices, sample.meta.get("scene")]
    return hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def split_of(sample: Sample) -> str:
    """The split an item's content belongs to (fixed for all seeds)."""
    bucket = int(content_hash(sample)[:16], 16) % 10
    return next(s for s, buckets in SPLIT_BUCKETS.items() if bucket in buckets)


def _check_choice(kind: str, value, valid: Sequence) -> None:
    if value not in valid:
        raise ValueError(f"unknown {kind} {value!r}; valid: {', '.join(map(str, valid))}")


def _check_levels(task: Task, levels: Sequence[int] | None) -> tuple[int, ...]:
    if levels is None:
        return task.levels
    if isinstance(levels, int):
        levels = (levels,)
    levels = tuple(levels)
    bad = [lv for lv in levels if lv not in task.levels]
    if not levels or bad:
        raise ValueError(
            f"bad levels {list(levels)!r} for task {task.name!r}; valid: {', '.join(map(str, task.levels))}"
        )
    return levels


def uid_for(task: str, split: str, seed: int, index: int) -> str:
    """`synth_<task>_<split>_s<seed>_<index>`: unique across tasks, splits and seeds, no dots."""
    return f"synth_{task}_{split}_s{seed}_{index:05d}"


def task_of_uid(uid: str) -> str | None:
    """The task of a `uid_for` uid (tasks may contain "_"; splits may not); None for another uid."""
    if not uid.startswith("synth_"):
        return None
    for split in SPLITS:
        if f"_{split}_s" in uid:
            return uid.removeprefix("synth_").split(f"_{split}_s")[0]
    return None


def generate(
    task: str,
    n: int,
    seed: int,
    split: str,
    media_dir: str | Path | None,
    levels: Sequence[int] | None = None,
) -> Iterator[Sample]:
    """`n` items of one task; item i has level `levels[i % len(levels)]` (default 1..5).

    Media go to `media_dir/<uid>.png|mp4` (text tasks need no `media_dir`). Arguments are
    checked at the call, not at the first item.
    """
    _check_choice("task", task, list(TASKS))
    _check_choice("split", split, SPLITS)
    spec = TASKS[task]
    levels = _check_levels(spec, levels)
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    media = None if media_dir is None else Path(media_dir)
    if spec.modality != "text":
        if media is None:
            raise ValueError(f"task {task!r} writes {spec.modality} files: media_dir is required")
        media.mkdir(parents=True, exist_ok=True)
    return (_item(spec, seed, split, i, levels[i % len(levels)], media) for i in range(n))


def _item(task: Task, seed: int, split: str, index: int, level: int, media: Path | None) -> Sample:
    rng = item_rng(task.name, split, seed, index)
    uid = uid_for(task.name, split, seed, index)
    for _ in range(MAX_DRAWS):
        sample = task.make(rng, level, media, uid)  # a rejected draw's file is overwritten by the next
        if split_of(sample) == split:
            sample.meta.update(split=split, seed=seed, index=index, content_hash=content_hash(sample)[:16])
            return sample
    raise RuntimeError(f"task {task.name!r} level {level}: no {split} item in {MAX_DRAWS} draws")


def generate_suite(
    tasks: Sequence[str] | None,
    n: int,
    seed: int,
    split: str,
    media_dir: str | Path | None,
    levels: Sequence[int] | None = None,
) -> Iterator[Sample]:
    """`n` items of each task (all tasks when None), interleaved task by task per index."""
    names = list(TASKS) if tasks is None else [tasks] if isinstance(tasks, str) else list(tasks)
    streams = [generate(t, n, seed, split, media_dir, levels) for t in names]  # checks every task now
    return (sample for group in zip(*streams) for sample in group)


# --------------------------------------------------------------------------- registry

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("count_color", "image", LEVELS, count_color),
        Task("bar_compare", "image", LEVELS, bar_compare),
        Task("spatial", "image", LEVELS, spatial),
        Task("digit_arith", "image", LEVELS, digit_arith),
        Task("motion_direction", "video", LEVELS, motion_direction),
        Task("first_appearance", "video", LEVELS, first_appearance),
        Task("count_events", "video", LEVELS, count_events),
        Task("arith_chain", "text", LEVELS, arith_chain),
        Task("word_problem", "text", LEVELS, word_problem),
        Task("choose_option", "text", LEVELS, choose_option),
    )
}


def main(argv: list[str] | None = None) -> None:
    """`python -m mmzppo.data.synthetic --out DIR`: write items as JSONL plus their media."""
    parser = argparse.ArgumentParser(prog="python -m mmzppo.data.synthetic", description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for samples.jsonl and media/")
    parser.add_argument("--tasks", default=None, help=f"comma-separated, default all: {','.join(TASKS)}")
    parser.add_argument("--n", type=int, default=10, help="items per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="train", choices=SPLITS)
    parser.add_argument("--levels", default=None, help="comma-separated levels, default 1..5 cycled")
    args = parser.parse_args(argv)
    tasks = args.tasks.split(",") if args.tasks else None
    levels = [int(v) for v in re.split(r"[,\s]+", args.levels.strip())] if args.levels else None
    args.out.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(args.out / "samples.jsonl", "w") as f:
        for sample in generate_suite(tasks, args.n, args.seed, args.split, args.out / "media", levels):
            f.write(json.dumps(sample.to_dict()) + "\n")
            count += 1
    print(f"wrote {count} samples to {args.out / 'samples.jsonl'}")
