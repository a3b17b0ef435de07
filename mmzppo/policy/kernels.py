"""Which implementation each attention type of a model runs: a fast kernel or a torch fallback.

Qwen3.5 mixes three kinds of attention, each with its own fast path:

* full attention (1 layer in 4): the model's `attn_implementation`: `flash_attention_2`
  (the `flash-attn` package, GPU), `sdpa` (torch's fused attention) or `eager`;
* Gated-DeltaNet linear attention (3 layers in 4): transformers runs the `fla` package's
  chunked kernels (flash-linear-attention) and `causal-conv1d`'s convolution when both
  import on a GPU, else its reference torch code, which it calls more than 10x slower on
  an H100 (`chunk_gated_delta_rule` "is falling back to its reference PyTorch
  implementation");
* the vision tower's attention: its own `attn_implementation`.

`kernel_report(model)` says which one each uses, so the trainer can log it at start-up and a
GPU user sees a slow path before the first step rather than in the step times. The checks
follow transformers' own rule (`transformers.utils.import_utils`: the package imports and a
CUDA device exists).
"""

from __future__ import annotations

import importlib

import torch


def _imports(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except Exception:  # a package built for another torch fails with anything, not only ImportError
        return False


def gated_deltanet_kernels() -> dict[str, bool]:
    """Whether the fast Gated-DeltaNet pieces are usable here (a GPU, and each package importing)."""
    gpu = torch.cuda.is_available()
    return {
        "fla (chunk_gated_delta_rule)": gpu and _imports("fla.ops.gated_delta_rule", "chunk_gated_delta_rule"),
        "causal-conv1d (causal_conv1d_fn)": gpu and _imports("causal_conv1d", "causal_conv1d_fn"),
    }


def kernel_report(model: torch.nn.Module) -> dict[str, str]:
    """{attention type: implementation} for the model's full-attention, linear-attention and
    vision-attention layers (the kinds it has)."""
    config = getattr(model, "config", None)
    text = getattr(config, "text_config", config)
    layer_types = set(getattr(text, "layer_types", None) or ["full_attention"])
    report = {}
    if "full_attention" in layer_types:
        impl = getattr(text, "_attn_implementation", None) or getattr(config, "_attn_implementation", "eager")
        report["full attention"] = f"{impl}" + (" (fast kernel)" if impl == "flash_attention_2" else "")
    if "linear_attention" in layer_types:
        fast = gated_deltanet_kernels()
        missing = [name.split(" ")[0] for name, ok in fast.items() if not ok]
        report["Gated-DeltaNet"] = (
            "fla + causal-conv1d (fast kernels)"
            if not missing
            else f"torch fallback (slow; missing on this machine: {', '.join(missing)}; the `gpu` extra)"
        )
    vision = getattr(config, "vision_config", None)
    if vision is not None:
        report["vision attention"] = getattr(vision, "_attn_implementation", None) or "eager"
    return report
