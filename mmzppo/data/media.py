"""Reading a sample's images and video under the run's `VisionSettings`.

`load_media(part, vision, uid, field)` opens one image or video content part of a prompt,
decodes it fully (so a truncated file fails here, not inside a processor), and sizes it with
qwen-vl-utils under `vision`: images within the pixel budget, video frames sampled by fps or
count (`frame_plan`, clamped to what the clip really has) and resized alike. This is the one
place the budgets are applied; the trainer's processor, a vLLM engine and a served teacher all
receive what it returns. Bad media raise a `MediaError` that names the sample uid, the field
and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

import mmzppo  # noqa: F401  (torchvision compat before qwen-vl-utils imports torchvision)
from mmzppo.data.vision import VisionSettings


class MediaError(ValueError):
    """An image or video of a sample cannot be used; names the uid, field and file."""

    def __init__(self, uid: str, field_name: str, source: Any, problem: str):
        self.uid, self.field, self.source, self.problem = uid, field_name, source, problem
        super().__init__(f"sample {uid!r}, field {field_name!r} ({source}): {problem}")


def open_image(source: Any, uid: str, field_name: str) -> Image.Image:
    """Open and fully decode an image (path or PIL), so truncated files fail here."""
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    path = Path(str(source).removeprefix("file://"))
    if not path.is_file():
        raise MediaError(uid, field_name, path, "file not found")
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except Exception as e:  # PIL raises several types for bad files
        raise MediaError(uid, field_name, path, f"cannot decode image: {e}") from e


def video_frame_count(source: Any, uid: str, field_name: str = "video") -> int:
    """Number of frames of a video file (or frame list); errors name the sample."""
    if isinstance(source, list):
        return len(source)
    path = Path(str(source).removeprefix("file://"))
    if not path.is_file():
        raise MediaError(uid, field_name, path, "file not found")
    import decord

    try:
        return len(decord.VideoReader(str(path), num_threads=1))
    except Exception as e:  # decord raises DECORDError / RuntimeError on bad streams
        raise MediaError(uid, field_name, path, f"cannot decode video: {e}") from e


def frame_plan(total_frames: int, vision: VisionSettings, uid: str, source: Any) -> dict[str, Any]:
    """qwen-vl-utils frame keys for one video, clamped to the frames the clip really has.

    Short clips are clamped (never crashed on); a clip needs at least 2 frames because
    Qwen-VL merges frames in temporal pairs.
    """
    if total_frames < 2:
        raise MediaError(uid, "video", source, f"has {total_frames} frame(s); at least 2 are needed")
    even_total = total_frames - total_frames % 2
    if vision.nframes is not None:
        return {"nframes": min(vision.nframes, even_total)}
    return {
        "fps": vision.fps,
        "min_frames": min(vision.min_frames, even_total),
        "max_frames": min(vision.max_frames, even_total),
    }


def frames_to_video(frames: list[Image.Image], fps: float, vision: VisionSettings):
    """A frame list as the (T, C, H, W) float tensor and metadata the processor takes.

    All frames are resized to the first frame's budgeted size (qwen-vl-utils' own frame-list
    path resizes each frame on its own and rounds with the wrong factor). An odd count is
    padded with the last frame, since frames are merged in pairs.
    """
    import numpy as np
    import torch
    from qwen_vl_utils.vision_process import smart_resize

    w, h = frames[0].size
    rh, rw = smart_resize(
        h, w, factor=vision.factor, min_pixels=vision.video_min_pixels, max_pixels=vision.video_max_pixels
    )
    frames = [f.resize((rw, rh), Image.BICUBIC) for f in frames]
    if len(frames) % 2:
        frames.append(frames[-1])
    video = torch.stack([torch.from_numpy(np.asarray(f).copy()).permute(2, 0, 1) for f in frames]).float()
    metadata = dict(fps=fps, frames_indices=list(range(len(frames))), total_num_frames=len(frames))
    return video, metadata


def load_media(part: dict, vision: VisionSettings, uid: str, field_name: str):
    """Read one image or video content part under `vision`; returns ("image", PIL image) or
    ("video", (T, C, H, W) tensor, metadata)."""
    from qwen_vl_utils.vision_process import fetch_image, fetch_video

    if part["type"] == "image":
        image = open_image(part["image"], uid, field_name)
        ele = {"image": image, "min_pixels": vision.min_pixels, "max_pixels": vision.max_pixels}
        return "image", fetch_image(ele, image_patch_size=vision.patch_size)
    source = part["video"]
    if isinstance(source, list):
        frames = [open_image(f, uid, f"video[{i}]") for i, f in enumerate(source)]
        if len(frames) < 2:
            raise MediaError(uid, "video", "frame list", f"has {len(frames)} frame(s); at least 2 are needed")
        return ("video", *frames_to_video(frames, part.get("fps") or vision.fps or 2.0, vision))
    path = str(source).removeprefix("file://")
    ele = {"video": path, "min_pixels": vision.video_min_pixels, "max_pixels": vision.video_max_pixels}
    ele.update(frame_plan(video_frame_count(path, uid), vision, uid, path))
    try:
        video, metadata = fetch_video(ele, image_patch_size=vision.patch_size, return_video_metadata=True)
    except Exception as e:  # a stream that decord opens but cannot fully decode
        raise MediaError(uid, "video", path, f"cannot decode video frames: {e}") from e
    return "video", video, metadata
