"""Numerical precision of training (`precision: bf16-mixed | bf16 | fp32`).

* `bf16-mixed` (the paper and GPU configs): the weights the optimizer updates (the "masters")
  and AdamW's state are float32; forward and backward compute in bfloat16 under
  `torch.autocast`; gradients belong to float32 parameters, so they are float32 and are summed
  over ranks in float32. Under FSDP2 the same through its `MixedPrecisionPolicy`: shards stay
  float32, parameters are all-gathered in bfloat16 for compute, gradients reduce-scattered in
  float32. Autocast rather than a separate bf16 copy of the weights because the parameters
  themselves are then the masters: the optimizer, gradient clipping, checkpoints and FSDP
  need nothing extra, and autocast caches each weight's bf16 cast for a forward pass.
  DEVIATION from the paper, which kept bf16 weights and a bf16 optimizer state with
  compensated updates (AnyPrecisionAdamW): we pay 4 more bytes per parameter for the float32
  masters (the Kahan buffer it keeps instead costs 2) and 8 for float32 AdamW moments.
* `bf16` (pure): weights, gradients and optimizer state in bfloat16, half the memory. An
  AdamW step moves a weight by about lr; bfloat16 keeps 8 significant bits, so at lr 1e-6
  every weight of magnitude 2^-11 (4.9e-4) or more rounds that step away and never changes.
  Kept for comparisons; the trainer warns with the measured share (`rounded_away_fraction`).
* `fp32`: everything float32 (the CPU tests and tiny runs).

Checkpoints hold the float32 masters (exact resume) and a Hugging Face export in
`export_dtype` (bfloat16 for both bf16 precisions: what a user or vLLM loads).
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import torch

PRECISIONS = ("bf16-mixed", "bf16", "fp32")
# what the weights are stored and updated in (a `load_policy` dtype), per precision
WEIGHTS = {"bf16-mixed": "float32", "bf16": "bfloat16", "fp32": "float32"}
# what a frozen model (the teacher) runs in: no updates, so no masters
FROZEN = {"bf16-mixed": "bfloat16", "bf16": "bfloat16", "fp32": "float32"}
EXPORT = {"bf16-mixed": torch.bfloat16, "bf16": torch.bfloat16, "fp32": torch.float32}
# the run config's former `dtype` key, read as this precision
FROM_DTYPE = {"float32": "fp32", "bfloat16": "bf16"}
WARN_ABOVE = 0.5  # share of weights whose lr-sized step rounds away that triggers the warning


def autocast(precision: str, device: torch.device | str):
    """bfloat16 compute for `bf16-mixed` (a no-op context for the other two)."""
    if precision != "bf16-mixed":
        return nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def fsdp_policy(precision: str):
    """FSDP2's mixed-precision policy: bf16 all-gathers and fp32 gradient reduction for
    `bf16-mixed`; no casting otherwise."""
    from torch.distributed.fsdp import MixedPrecisionPolicy

    if precision == "bf16-mixed":
        return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    return MixedPrecisionPolicy()


def rounded_away_fraction(model: torch.nn.Module, lr: float) -> float:
    """Share of the trainable weights that a step of size lr (what AdamW's normalised update
    is, about, per weight) leaves unchanged in their own dtype, in either direction: measured
    by adding and subtracting lr, not estimated."""
    unchanged = total = 0
    with torch.no_grad():
        for p in model.parameters():
            if not p.requires_grad:
                continue
            w = p.to_local() if hasattr(p, "to_local") else p  # a sharded parameter: this rank's part
            unchanged += int(((w + lr == w) & (w - lr == w)).sum())
            total += w.numel()
    return unchanged / max(total, 1)


def warn_if_updates_round_away(model: torch.nn.Module, lr: float, precision: str) -> float | None:
    """Under pure `bf16`, warn when most weights cannot move by lr; returns the share (None
    for the other precisions, whose float32 masters take such steps)."""
    if precision != "bf16":
        return None
    share = rounded_away_fraction(model, lr)
    if share > WARN_ABOVE:
        warnings.warn(
            f"precision bf16: at lr {lr:g}, a step of lr leaves {share:.1%} of the weights unchanged "
            "(rounded away in bfloat16), so most of each update is lost; use precision: bf16-mixed "
            "(float32 master weights) unless this is the comparison you want",
            stacklevel=2,
        )
    return share
