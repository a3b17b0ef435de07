"""Activation checkpointing (`gradient_checkpointing: true`): each decoder layer keeps only its
input in the forward and recomputes its activations in backward, so activation memory grows
with the layers' inputs (layers x tokens x hidden), not with everything inside them, for about
one more forward of compute.

transformers' own switch does the work (`enable`: non-reentrant `torch.utils.checkpoint`
around every `GradientCheckpointingLayer`, decoder and vision layers alike), but a layer
checkpoints only while it is in training mode, and the trainer keeps its model in eval mode
(the log-probs it scores must equal the sampler's). So `checkpointed_layers` sets the training
flag of those layer modules only, not of their submodules (whose dropout, 0 in Qwen3.5 anyway,
keeps reading their own flag), around the gradient-carrying forward of the update. Loss and
gradients are the same with and without (tested); nothing changes when the switch is off.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


def enable(model: torch.nn.Module) -> None:
    """Turn on transformers' checkpointing of every decoder (and vision) layer."""
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The layers transformers checkpoints, when it was enabled (else none)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer) and m.gradient_checkpointing]


@contextmanager
def checkpointed_layers(model: torch.nn.Module):
    """Checkpoint the enabled layers in the forwards of this block (see the module docstring)."""
    flagged = [(m, m.training) for m in layers(model)]
    for m, _ in flagged:
        m.training = True
    try:
        yield
    finally:
        for m, was in flagged:
            m.training = was
