"""Training: the loop every method shares, the rollout record, the update, checkpoints, logs.

`python -m mmzppo.train --config configs/RUN.yaml [key=value ...] [--resume]`. A method is a
file in `methods/` that reads like its Algorithm box; the loop (`loop.Trainer`) gives it the
steps declared in `api.Loop`.
"""

from mmzppo.train.checkpoints import latest_checkpoint
from mmzppo.train.config import Config, ConfigError
from mmzppo.train.config_files import load_config
from mmzppo.train.loop import Trainer

__all__ = ["Config", "ConfigError", "Trainer", "latest_checkpoint", "load_config"]
