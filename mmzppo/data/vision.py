"""How images and video become pixels: one `VisionSettings` shared by rollout, teacher, eval and vLLM.

A score moves with the frame count and pixel budget, so the same object is used everywhere a
model sees media and is written next to every result. Presets: the defaults are the paper's
evaluation settings (image pixels from 256 x 32 x 32 to 1280 x 32 x 32); `TINY_VISION` suits
the tiny test models (a 64 x 64 image is 4 LLM tokens).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import mmzppo  # noqa: F401  (torchvision compat before transformers loads vision code)


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


# Pixel budgets that suit tiny models (a 64x64 image is 4 LLM tokens at patch 16, merge 2;
# 128x128 is 16). Saved as the tiny processor's defaults and used by the demo.
TINY_VISION = VisionSettings(
    min_pixels=32 * 32,
    max_pixels=128 * 128,
    video_min_pixels=32 * 32,
    video_max_pixels=64 * 64,
    fps=2.0,
    min_frames=2,
    max_frames=8,
)
