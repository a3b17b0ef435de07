"""Data parallelism for the trainer: replicated models (gradients summed by hand) or FSDP2.

Two layouts, chosen by the config's `sharding`:

* "none" (replicated, DDP semantics): every rank holds the whole model; after each
  mini-batch `sync_gradients` sums the gradients over ranks. Done by hand, not by DDP's
  hooks: ranks hold different numbers of micro-batches, and a text-only batch leaves the
  vision tower unused, both of which DDP's automatic reduction cannot take.
* "fsdp" (FSDP2, `torch.distributed.fsdp.fully_shard`): every language-model decoder layer
  is one FSDP unit and the rest of the language model (embeddings, final norm, LM head)
  the root unit, so parameters, gradients and AdamW state of those are sharded over ranks
  (the ZeRO-3 layout). The vision tower stays replicated and is summed by hand like above,
  for the same reason: an FSDP unit must run forward and backward on every rank alike, and
  a rank with a text-only batch never calls the vision tower. Around generation and the
  no-grad scoring of old log-probs, `full_params` gathers the whole model once, so ranks
  that generate different lengths issue no collectives. In the update every rank runs the
  same number of micro-batches (mmzppo/update.py pads with 1-token dummy passes of zero
  loss).

Either way the loss of a mini-batch is divided by the token count over ALL ranks and the
gradients are SUMMED over ranks (FSDP's reduce-scatter divide factor is set to 1), so the
update equals one process's on the same global mini-batch.

Precision (`mmzppo.policy.precision`): under `bf16-mixed` the parameters are float32 masters
and so are their gradients: `sync_gradients` sums float32 tensors, and `shard` gives FSDP2 a
`MixedPrecisionPolicy` that all-gathers bfloat16 copies for compute and reduce-scatters the
gradients in float32 into float32 shards: the same semantics on both layouts.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def all_reduce(values: list[float], op: str = "sum") -> list[float]:
    """Sum (or max) floats over ranks; the values themselves in one process."""
    if world_size() == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return t.tolist()


def collective_device() -> torch.device:
    """Where small tensors for a collective must live: the GPU for NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sum_counts(counts: dict[str, float]) -> dict[str, float]:
    """Sum a dict of counts over ranks, keys united (e.g. graduations by entry accuracy)."""
    if world_size() == 1:
        return dict(counts)
    gathered: list[dict[str, float] | None] = [None] * world_size()
    dist.all_gather_object(gathered, dict(counts))
    total: dict[str, float] = {}
    for part in gathered:
        for key, value in (part or {}).items():
            total[key] = total.get(key, 0) + value
    return dict(sorted(total.items()))


def broadcast_from_rank0(model: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank. Needed under an FSDP launch:
    transformers' CPU-RAM-efficient loading (`FSDP_CPU_RAM_EFFICIENT_LOADING`, accelerate's
    default) reads the checkpoint on rank 0 only and leaves zeros elsewhere; otherwise a
    cheap guarantee that all replicas start equal."""
    if world_size() == 1:
        return
    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(tensor.data, src=0)


# --------------------------------------------------------------------------- FSDP2


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The decoder layers of a Qwen3.5 VLM or of a text-only causal LM."""
    inner = getattr(model, "model", model)
    layers = getattr(getattr(inner, "language_model", inner), "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: no decoder layers found to shard (expected .model.layers)")
    return list(layers)


def vision_params(model: torch.nn.Module) -> set[torch.nn.Parameter]:
    inner = getattr(model, "model", model)
    visual = getattr(inner, "visual", None)
    return set(visual.parameters()) if visual is not None else set()


def shard(model: torch.nn.Module, precision: str = "fp32") -> None:
    """FSDP2 in place: each decoder layer a unit, the rest of the language model the root
    unit; the vision tower replicated (ignored by FSDP). Gradients are summed, not averaged;
    `precision`'s mixed-precision policy (bf16 compute, fp32 reduction for `bf16-mixed`)."""
    from torch.distributed.fsdp import fully_shard

    from mmzppo.policy.precision import fsdp_policy

    policy = fsdp_policy(precision)
    for layer in decoder_layers(model):
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, ignored_params=vision_params(model), mp_policy=policy)
    for unit in fsdp_units(model):
        unit.set_gradient_divide_factor(1.0)  # a sum over ranks, as `sync_gradients`
        unit.set_force_sum_reduction_for_comms(True)  # plain SUM (gloo has no PREMUL_SUM)


def fsdp_units(model: torch.nn.Module) -> list:
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]


def is_sharded(model: torch.nn.Module) -> bool:
    return bool(fsdp_units(model))


@contextmanager
def full_params(model: torch.nn.Module):
    """Gather every FSDP unit once for the block (generation, no-grad scoring), so that a
    forward issues no collective and ranks may run different numbers of them. No-op on a
    replicated model."""
    units = fsdp_units(model)
    for unit in units:
        unit.set_reshard_after_forward(False)
        unit.unshard()
    try:
        yield
    finally:
        for unit in units:
            unit.reshard()
            # FSDP2's defaults: layers reshard after forward; the root keeps its parameters (the LM
            # head among them, which `mmzppo.policy.logprobs` applies after the forward) until backward
            unit.set_reshard_after_forward(unit is not model)


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """The whole model's state dict on CPU (a collective under FSDP: every rank calls it),
    for `save_pretrained`; None on a replicated model (save as usual)."""
    if not is_sharded(model):
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    # A tied parameter (Qwen3.5-0.8B's LM head is its input embedding) comes back as one copy per
    # name: one tensor again, so save_pretrained writes it once under the embedding's name as for
    # an unsharded model (else it keeps only `lm_head.weight`, which a tied model's loaders skip).
    for names in tied_names(model):
        present = [n for n in names if n in state]
        for name in names if present else ():
            state[name] = state[present[0]]
    return state


def tied_names(model: torch.nn.Module) -> list[list[str]]:
    """Groups of parameter names that share one parameter (tied weights), in module order."""
    groups: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


# --------------------------------------------------------------------------- gradients


def sync_gradients(model: torch.nn.Module) -> None:
    """Sum the gradients of the replicated parameters over ranks (all of them without FSDP;
    the vision tower with it: FSDP's reduce-scatter already summed the sharded ones)."""
    if world_size() == 1:
        return
    params = [p for p in model.parameters() if p.requires_grad and not _is_dtensor(p)]
    if not params:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def clip_grad_norm(model: torch.nn.Module, max_norm: float) -> float:
    """Clip the global gradient norm (as `torch.nn.utils.clip_grad_norm_`) over a model that
    may mix sharded (DTensor) and replicated parameters; returns the norm before clipping."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not any(_is_dtensor(g) for g in grads):
        return float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
    sharded_sq = sum(float(g.to_local().double().pow(2).sum()) for g in grads if _is_dtensor(g))
    replicated_sq = sum(float(g.double().pow(2).sum()) for g in grads if not _is_dtensor(g))
    total = math.sqrt(all_reduce([sharded_sq])[0] + replicated_sq)  # replicated grads are equal on all ranks
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for g in grads:
            g.mul_(scale)
    return total


def local(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of a sharded (DTensor) parameter, or the tensor itself."""
    return t.to_local() if _is_dtensor(t) else t


def _is_dtensor(t) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(t, DTensor)
