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

The same file also holds the import hook that `scripts/setup.sh` installs into every Python
process of the environment (a one-line `mmzppo-torchvision.pth` in site-packages runs this
file by path): some processes import transformers, and so torchvision, before any project
code (vLLM inspects a model's architecture in a subprocess of its own, its engine core may
be another process, and `vllm serve` is a command of its own). Run by path (`runpy.run_path`,
which names the module "<run_path>"), the file only registers a meta-path finder, so a
process that never imports torchvision (pip, say) pays nothing and does not import torch;
the first `import torchvision` of a process runs the compat step first. Importing the file
as `mmzppo._compat` would import the package, and the package imports torch: about 2 s
added to every Python start. On GPU builds the compat step does nothing, so the hook is
harmless there.
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


class TorchvisionCompatHook:
    """A meta-path finder that never finds anything: it only runs the compat step once,
    when `torchvision` is first looked up, and then removes itself."""

    def find_spec(self, name, path=None, target=None):
        if name != "torchvision" or self not in sys.meta_path:
            return None
        sys.meta_path.remove(self)  # before the compat step, which looks torchvision up itself
        try:
            from mmzppo._compat import define_missing_torchvision_ops
        except ImportError:  # mmzppo uninstalled: torchvision fails with its own message
            return None
        define_missing_torchvision_ops()
        return None  # the regular finders load torchvision


def install_import_hook() -> None:
    if not any(
        isinstance(f, TorchvisionCompatHook) or type(f).__name__ == "TorchvisionCompatHook" for f in sys.meta_path
    ):
        sys.meta_path.insert(0, TorchvisionCompatHook())


if __name__ == "<run_path>":  # the .pth line of scripts/setup.sh
    install_import_hook()
