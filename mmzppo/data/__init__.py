"""Samples, media settings and (later) shard I/O and synthetic tasks."""

from mmzppo.data.sample import ANSWER_TYPES, Sample, SampleError
from mmzppo.data.vision import VisionSettings

__all__ = ["ANSWER_TYPES", "Sample", "SampleError", "VisionSettings"]
