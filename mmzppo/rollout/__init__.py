"""Rollout backends (transformers `generate`; vLLM later) behind one interface."""

from mmzppo.rollout.base import Completion, RolloutBackend, SamplingParams

__all__ = ["Completion", "RolloutBackend", "SamplingParams"]
