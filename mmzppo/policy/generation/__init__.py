"""Sampling backends behind one interface: transformers `generate` (`hf`) and a colocated vLLM engine (`vllm`)."""

from mmzppo.policy.generation.base import Completion, RolloutBackend, SamplingParams

__all__ = ["Completion", "RolloutBackend", "SamplingParams"]
