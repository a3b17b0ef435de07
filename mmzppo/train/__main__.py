"""Training: `python -m mmzppo.train --config configs/RUN.yaml [key=value ...] [--resume] [--no-preflight]`.

The memory preflight (`mmzppo.train.preflight`) runs first, for this machine's devices (its
GPUs, else the host's RAM) and the launch's process count, and refuses a config that cannot
fit. A SIGTERM ends the run after the current step with a checkpoint (exit 0); a lost rank
ends the others with a message naming it (exit 75); both continue with `--resume`.
"""

from __future__ import annotations

import argparse
import os
import sys

from mmzppo.data.sample import SampleError
from mmzppo.policy.threads import pick_threads
from mmzppo.train import cluster
from mmzppo.train.checkpoints import CheckpointError, NonFiniteError
from mmzppo.train.config import ConfigError
from mmzppo.train.config_files import describe, load_config
from mmzppo.train.loop import Trainer


def main(argv: list[str] | None = None) -> None:
    from mmzppo.data.shards import NotEnoughShardsError
    from mmzppo.teachers.served import TeacherUnavailable

    parser = argparse.ArgumentParser(prog="python -m mmzppo.train", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="YAML run config (configs/*.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's newest checkpoint")
    parser.add_argument("--help-config", action="store_true", help="list every config key with its default and help")
    parser.add_argument("--no-preflight", action="store_true", help="start even if the memory preflight refuses")
    parser.add_argument("overrides", nargs="*", help="key=value overrides (vision.max_pixels=... for VisionSettings)")
    args = parser.parse_args(argv)
    if args.help_config:
        print(describe())
        return
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    if not args.no_preflight:
        preflight(config)
    print(f"torch threads: {pick_threads()} (set OMP_NUM_THREADS to fix the count)", file=sys.stderr)
    try:
        trainer = Trainer(config, resume=args.resume)
        run_dir = trainer.train()
    except RuntimeError:  # a failed collective: if a peer died, the heartbeat names it and exits
        cluster.wait_for_verdict()
        raise
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    except (
        FileNotFoundError,
        FileExistsError,
        CheckpointError,
        NonFiniteError,
        SampleError,
        NotEnoughShardsError,
        TeacherUnavailable,
    ) as e:
        sys.exit(f"error: {e}")
    trainer.acc.end_training()  # destroy the process group: gloo threads left at exit can abort a rank
    print(f"run folder: {run_dir}")


def preflight(config) -> None:
    """Refuse a config that cannot fit this machine's devices (`mmzppo.train.preflight`). A
    student that cannot be counted here (no local folder, not a known Qwen3.5 size) is left to
    the loader, whose error names it."""
    from pathlib import Path

    from mmzppo.policy.shapes import size_of
    from mmzppo.train.preflight import check

    if not Path(config.student).is_dir() and size_of(config.student) is None:
        return
    estimate, text = check(config, gpus=int(os.environ.get("WORLD_SIZE", "1")))
    if estimate.problems:
        sys.exit(text + "\n(python -m mmzppo.train --no-preflight starts anyway)")
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{text.splitlines()[0]}: fits, {estimate.update_peak / 2**30:.1f} GiB at peak", file=sys.stderr)


if __name__ == "__main__":
    main()
