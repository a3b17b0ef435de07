"""The data layer: `Sample`, `VisionSettings`, media loading (`media`), WebDataset shards
(`shards/`), converters from benchmark layouts (`convert`, `formats/`), the builder of the
paper's training set ZPPO-77K (`zppo77k/`, its recipe in `recipes/`) and the synthetic task
suite (`synthetic/`). It imports nothing else of mmzppo; every other layer builds on it."""

from mmzppo.data.sample import ANSWER_TYPES, Sample, SampleError
from mmzppo.data.vision import VisionSettings

__all__ = ["ANSWER_TYPES", "Sample", "SampleError", "VisionSettings"]
