"""Training: `python -m mmzppo.train --config configs/RUN.yaml [key=value ...] [--resume]`."""

from __future__ import annotations

import argparse
import sys

from mmzppo.data.sample import SampleError
from mmzppo.policy.threads import pick_threads
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
    parser.add_argument("overrides", nargs="*", help="key=value overrides (vision.max_pixels=... for VisionSettings)")
    args = parser.parse_args(argv)
    if args.help_config:
        print(describe())
        return
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    print(f"torch threads: {pick_threads()} (set OMP_NUM_THREADS to fix the count)", file=sys.stderr)
    try:
        trainer = Trainer(config, resume=args.resume)
        run_dir = trainer.train()
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


if __name__ == "__main__":
    main()
