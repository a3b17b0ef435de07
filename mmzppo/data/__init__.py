"""Samples, media settings and (later) shard I/O and synthetic tasks."""

from mmzppo.data.sample import ANSWER_TYPES, Sample, SampleError, VisionSettings

__all__ = ["ANSWER_TYPES", "Sample", "SampleError", "VisionSettings"]
