"""Run mmzppo's torchvision compat step in EVERY Python process of the environment.

`mmzppo._compat.define_missing_torchvision_ops` must run before torchvision is imported
(CPU-only torch beside PyPI's CUDA-linked torchvision; see that module). `import mmzppo`
does it, but some processes import transformers (and so torchvision) before any project
code: vLLM inspects a model's architecture in a subprocess of its own
(`python -m vllm.model_executor.models.registry`), its engine core may be another process,
and `vllm serve` is a command of its own.

`scripts/setup.sh` therefore writes a one-line `mmzppo-torchvision.pth` into the virtual
environment's site-packages that runs this file at interpreter start. It only registers an
import hook, so a process that never imports torchvision (pip, say) pays nothing; the first
`import torchvision` of a process runs the compat step first (importing torch and mmzppo's
small package init), then lets the normal import continue. On GPU builds the compat step
does nothing, so the hook is harmless there.

The file is run by path (`runpy.run_path`) rather than imported as `mmzppo._torchvision_hook`,
because importing any mmzppo submodule imports the package, and the package imports torch:
about 2 s added to every Python start.
"""

import sys


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


def install() -> None:
    if not any(
        isinstance(f, TorchvisionCompatHook) or type(f).__name__ == "TorchvisionCompatHook" for f in sys.meta_path
    ):
        sys.meta_path.insert(0, TorchvisionCompatHook())


install()
