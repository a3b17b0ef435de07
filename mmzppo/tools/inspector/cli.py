"""`python -m mmzppo.tools.inspector`, and a tiny run to look at when there is no run folder at hand."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from mmzppo.tools.inspector.report import write_report

# --------------------------------------------------------------------------- a run to look at


def tiny_run(
    workdir: str | Path,
    model_dir: str | Path | None = None,
    *,
    name: str = "tiny",
    steps: int = 2,
    extra: Iterable[str] = (),
) -> Path:
    """A `steps`-step ZPPO run of a tiny random-weight xs student on a few synthetic image,
    video and text questions (the reference teacher, so BCQs form), for looking at.

    Everything goes under `workdir`; returns the run folder. Seconds on a CPU."""
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.tools.models import build_tiny
    from mmzppo.train.config_files import load_config
    from mmzppo.train.loop import Trainer

    workdir = Path(workdir)
    model_dir = model_dir or build_tiny(workdir / "tiny-xs", size="xs")
    shards = workdir / "shards"
    if not (shards / "index.json").is_file():
        tasks = ["count_color", "motion_direction", "arith_chain", "bar_compare"]
        write_shards(list(generate_suite(tasks, 1, 0, "train", workdir / "shard-media", levels=[1])), shards)
    vision = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]
    overrides = [
        f"student={model_dir}",
        "teacher_kind=reference",
        f"train_shards={shards}",
        f"output_dir={workdir}",
        f"name={name}",
        f"steps={steps}",
        "save_every=0",
        "prompts_per_step=2",
        "group_size=2",
        "max_new_tokens=16",
        "updates_per_step=1",
        "micro_batch_size=16",
        "rho_aug=1.0",
        "log_samples=4",
        "dtype=float32",
        *vision,
        *extra,
    ]
    return Trainer(load_config(None, overrides)).train()


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.tools.inspector", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?", help="a run folder (holds samples.jsonl)")
    parser.add_argument("--shards", help="a shard folder instead of a run folder")
    parser.add_argument("--out", required=True, help="the HTML file to write")
    parser.add_argument("--n", type=int, default=50, help="at most this many prompts / samples (default 50)")
    parser.add_argument(
        "--kind",
        action="append",
        choices=["plain", "bcq", "ncq", "hint", "prefix"],
        help="only prompts of this kind (repeatable; run folders only)",
    )
    args = parser.parse_args(argv)
    if (args.run_dir is None) == (args.shards is None):
        parser.error("give a RUN_DIR or --shards DIR (exactly one)")
    out = write_report(args.out, run_dir=args.run_dir, shards=args.shards, n=args.n, kinds=args.kind)
    print(f"wrote {out}")
    return out
