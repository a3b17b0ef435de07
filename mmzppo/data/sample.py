"""The one question type that flows through the whole framework, and the one set of media settings.

A `Sample` is a question with its media and gold answer, independent of where it came from
(a synthetic task, a WebDataset shard, a benchmark file). A `VisionSettings` says how its
images and video are turned into pixels; the same object is used by training rollout, the
teacher, evaluation and (later) vLLM, and it is written next to every result, because a
score moves with the frame count and pixel budget.
"""

from __future__ import annotations

import dataclasses
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
    answer: str  # gold final answer, as graded by `mmzppo.reward.grade`
    answer_type: str = "latex"  # one of ANSWER_TYPES
    images: list[Any] = field(default_factory=list)  # 0..n image paths or PIL images
    video: str | list[Any] | None = None  # a video file path, or a list of frames (paths/PIL)
    video_fps: float | None = None  # frame rate of `video` when it is a frame list
    choices: list[str] | None = None  # option texts, in letter order, for answer_type "choice"
    solution: str | None = None  # gold worked solution ending in \boxed{answer}, if known
    source: str = ""  # benchmark or task name
    meta: dict[str, Any] = field(default_factory=dict)  # anything else (difficulty, split, ...)

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


@dataclass(frozen=True)
class VisionSettings:
    """How images and video become pixels, everywhere (rollout, teacher, eval, vLLM).

    Pixel budgets are per image / per video frame and are rounded by qwen-vl-utils to
    multiples of `patch_size * merge_size`. Give either `fps` or `nframes` for video.
    Defaults are the paper's evaluation settings (image pixels in [256, 1280] * 32 * 32).
    """

    min_pixels: int = 256 * 32 * 32  # smallest image area; smaller images are upscaled
    max_pixels: int = 1280 * 32 * 32  # largest image area; larger images are downscaled
    video_min_pixels: int = 128 * 32 * 32  # smallest area of one video frame
    video_max_pixels: int = 256 * 32 * 32  # largest area of one video frame
    fps: float | None = 2.0  # frames sampled per second of video (exclusive with nframes)
    nframes: int | None = None  # fixed number of frames per video (exclusive with fps)
    min_frames: int = 4  # with fps: at least this many frames (clamped to the clip's length)
    max_frames: int = 64  # with fps: at most this many frames
    patch_size: int = 16  # vision patch size of the model (Qwen3.5: 16)
    merge_size: int = 2  # spatial merge of patches into one LLM token (Qwen3.5: 2)

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"VisionSettings.{name}: {why} (got {getattr(self, name)!r})")

        for name in ("min_pixels", "max_pixels", "video_min_pixels", "video_max_pixels", "patch_size", "merge_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                bad(name, "must be a positive integer")
        if self.min_pixels > self.max_pixels:
            bad("min_pixels", f"must be <= max_pixels={self.max_pixels}")
        if self.video_min_pixels > self.video_max_pixels:
            bad("video_min_pixels", f"must be <= video_max_pixels={self.video_max_pixels}")
        if (self.fps is None) == (self.nframes is None):
            bad("fps", f"give exactly one of fps and nframes (nframes={self.nframes!r})")
        if self.fps is not None and self.fps <= 0:
            bad("fps", "must be > 0")
        if self.nframes is not None and self.nframes < 2:
            bad("nframes", "must be >= 2 (Qwen-VL merges frames in pairs)")
        if self.min_frames < 2:
            bad("min_frames", "must be >= 2")
        if self.max_frames < self.min_frames:
            bad("max_frames", f"must be >= min_frames={self.min_frames}")

    @property
    def factor(self) -> int:
        """Side length, in pixels, of one LLM vision token."""
        return self.patch_size * self.merge_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VisionSettings:
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"VisionSettings: unknown field(s) {sorted(unknown)}")
        return cls(**d)
