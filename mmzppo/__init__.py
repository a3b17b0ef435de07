"""mmzppo: Zone of Proximal Policy Optimization for small vision-language students."""

import os as _os

from mmzppo._compat import define_missing_torchvision_ops

# qwen-vl-utils' torchvision video reader no longer exists; decord is the reader that works.
_os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
define_missing_torchvision_ops()

__version__ = "0.1.0"
