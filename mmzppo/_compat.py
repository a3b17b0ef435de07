"""Make CPU-only torch and PyPI's torchvision import together.

Every torchvision wheel reachable on the project's CPU machines is CUDA-linked. Beside the
CPU build of torch 2.13.0 its compiled ops library (`torchvision/_C.so`) fails to load, and
`import torchvision` then dies with `operator torchvision::nms does not exist`, taking every
transformers vision model (and qwen-vl-utils) down with it. None of the project's code uses
torchvision's detection ops; only the op *schemas* must exist for torchvision's Python
registrations to succeed. `define_missing_torchvision_ops` declares them (`nms`, `qnms`)
with `torch.library`, and does nothing when

* torch has CUDA (GPU machines load the real library), or
* torchvision is already imported, not installed, or its `_C` library loads.

It runs on `import mmzppo`; a subprocess that imports transformers before mmzppo (a vLLM
engine process, say) must call it itself first.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys

_library = None  # keeps the op definitions alive for the life of the process


def define_missing_torchvision_ops() -> bool:
    """Declare torchvision's `nms`/`qnms` schemas if its compiled library cannot load.

    Returns True when the schemas were defined by this call.
    """
    global _library
    if _library is not None or "torchvision" in sys.modules:
        return False
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    import torch

    if torch.version.cuda is not None:
        return False
    for so_file in glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.so")):
        try:
            torch.ops.load_library(so_file)
            return False
        except OSError:
            pass
    try:
        torch.ops.torchvision.nms  # noqa: B018 - defined already by someone else
        return False
    except (AttributeError, RuntimeError):
        pass
    _library = torch.library.Library("torchvision", "DEF")
    _library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return True
