"""Which weights train (`train_top_layers`): all of them (the paper), or only the top decoder layers.

Training only the top n decoder layers and the final norm is a deviation for small machines:
the layers below them, the embeddings (and with them a tied LM head) and a vision tower stay
as loaded. Autograd then stops at the lowest trained layer, so the backward pass costs about
n / layers of a full one, and AdamW holds state for those weights only. The forward pass is
unchanged, so the log-probs of sampler and learner still agree.
"""

from __future__ import annotations

import torch

from mmzppo.policy.parallel import decoder_layers


def train_top_layers(model: torch.nn.Module, n: int) -> int:
    """Freeze every weight but those of the top `n` decoder layers and the final norm (n = 0:
    leave all trainable). Returns the number of trainable weights; a ValueError when the model
    has fewer than n layers."""
    if n <= 0:
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    layers = decoder_layers(model)
    if n > len(layers):
        raise ValueError(f"train_top_layers: {n}, but {type(model).__name__} has {len(layers)} decoder layers")
    inner = getattr(model, "model", model)
    norm = getattr(getattr(inner, "language_model", inner), "norm", None)
    model.requires_grad_(False)
    for module in [*layers[-n:], *([norm] if norm is not None else [])]:
        module.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The weights the optimizer holds."""
    return [p for p in model.parameters() if p.requires_grad]
