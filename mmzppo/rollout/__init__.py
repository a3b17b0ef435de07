"""Rollout backends behind one interface: transformers `generate` (hf.py) and a colocated vLLM engine (vllm.py)."""

from mmzppo.rollout.base import Completion, RolloutBackend, SamplingParams

__all__ = ["Completion", "RolloutBackend", "SamplingParams"]
