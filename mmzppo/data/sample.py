"""The one question type that flows through the whole framework.

A `Sample` is a question with its media and gold answer, independent of where it came from
(a synthetic task, a WebDataset shard, a benchmark file). How its images and video become
pixels is `mmzppo.data.vision.VisionSettings`; reading them is `mmzppo.data.media`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANSWER_TYPES = ("number", "latex", "choice", "yesno", "text")


class SampleError(ValueError):
    """A sample is unusable; the message names the sample uid and the field."""

    def __init__(self, uid: str, field_name: str, problem: str):
        self.uid, self.field, self.problem = uid, field_name, problem
        super().__init__(f"sample {uid!r}, field {field_name!r}: {problem}")


@dataclass
class Sample:
    """One verifiable question.

    Media are given by reference (file paths, or already-decoded PIL images when a shard
    reader hands them over); nothing is read until the prompt is encoded.
    """

    uid: str  # unique id; also the WebDataset key, so no dots
    question: str  # question text, without the answer-format instruction (the prompt adds it)
    answer: str  # gold final answer, as graded by `mmzppo.grading.grader.grade`
    answer_type: str = "latex"  # one of ANSWER_TYPES
    images: list[Any] = field(default_factory=list)  # 0..n image paths or PIL images
    video: str | list[Any] | None = None  # a video file path, or a list of frames (paths/PIL)
    video_fps: float | None = None  # frame rate of `video` when it is a frame list
    choices: list[str] | None = None  # option texts, in letter order, for answer_type "choice"
    solution: str | None = None  # gold worked solution ending in \boxed{answer}, if known
    source: str = ""  # benchmark or task name
    meta: dict[str, Any] = field(default_factory=dict)  # anything else (difficulty, split, ...)
    # How the source grades the answer, when it says (Vero-600k's extra_info.reward_type, e.g.
    # "numeric", "multiple_choice"); "llm_judge" marks a sample the LLM judge grades.
    reward_type: str | None = None
    # Relative tolerance of a numeric gold (Vero-600k's): |answer - gold| <= tolerance * |gold|
    # (<= tolerance when the gold is 0) is correct; `mmzppo.grading.grader.grade(tolerance=)`.
    tolerance: float | None = None

    def __post_init__(self):
        if not isinstance(self.uid, str) or not self.uid.strip():
            raise SampleError(str(self.uid), "uid", "empty uid")
        if not isinstance(self.question, str) or not self.question.strip():
            raise SampleError(self.uid, "question", "empty question")
        if self.answer is None or not str(self.answer).strip():
            raise SampleError(self.uid, "answer", "no gold answer")
        self.answer = str(self.answer).strip()
        if self.answer_type not in ANSWER_TYPES:
            raise SampleError(self.uid, "answer_type", f"{self.answer_type!r} is not one of {', '.join(ANSWER_TYPES)}")
        if self.answer_type == "choice" and self.choices is not None and len(self.choices) < 2:
            raise SampleError(self.uid, "choices", f"a choice question needs >= 2 options, got {self.choices!r}")
        if self.reward_type is not None and (not isinstance(self.reward_type, str) or not self.reward_type.strip()):
            raise SampleError(self.uid, "reward_type", f"must be a non-empty string or None, got {self.reward_type!r}")
        if self.tolerance is not None:
            try:
                self.tolerance = float(self.tolerance)
            except (TypeError, ValueError):
                raise SampleError(self.uid, "tolerance", f"not a number: {self.tolerance!r}") from None
            if not (self.tolerance >= 0 and math.isfinite(self.tolerance)):
                raise SampleError(self.uid, "tolerance", f"must be a finite number >= 0, got {self.tolerance!r}")
        if isinstance(self.images, (str, Path)):
            self.images = [self.images]
        self.images = list(self.images)
        if isinstance(self.video, Path):
            self.video = str(self.video)
        if isinstance(self.video, (list, tuple)):
            if not self.video:
                raise SampleError(self.uid, "video", "empty frame list")
            self.video = list(self.video)

    @property
    def modality(self) -> str:
        """ "video", "image" or "text": what the question carries."""
        if self.video is not None:
            return "video"
        return "image" if self.images else "text"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (media that are not paths are shown as placeholders)."""
        d = dataclasses.asdict(self)
        d["images"] = [str(im) if isinstance(im, (str, Path)) else "<in-memory image>" for im in self.images]
        if isinstance(self.video, list):
            d["video"] = [str(f) if isinstance(f, (str, Path)) else "<in-memory frame>" for f in self.video]
        return d
