"""Turning chat messages into model inputs: media loading, checking and processor call.

The prompt builders (`mmzppo.prompts`) only describe a conversation; this module reads the
media it references, applies the run's `VisionSettings` to every image and video element
(the one place they are applied), and calls the model's processor. Bad media raise a
`MediaError` that names the sample uid, the field and the file.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

import mmzppo  # noqa: F401  (torchvision compat before qwen-vl-utils imports torchvision)
from mmzppo.data.sample import VisionSettings


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


_MEDIA_CACHE: dict | None = None


@contextmanager
def media_cache():
    """Within the block, each sample's images and video are read and resized once: a training
    step encodes the same question for G_S rollouts, its BCQ / NCQ prompts, the teacher and
    every update. Keyed by (sample uid, field, VisionSettings); the trainer opens one per step."""
    global _MEDIA_CACHE
    outer = _MEDIA_CACHE
    _MEDIA_CACHE = {} if outer is None else outer
    try:
        yield
    finally:
        _MEDIA_CACHE = outer


def cached_media(part: dict, vision: VisionSettings, uid: str, field_name: str):
    """`load_media`, memoised inside `media_cache()` (prompts without a sample uid are not)."""
    if _MEDIA_CACHE is None or uid.startswith("#"):
        return load_media(part, vision, uid, field_name)
    key = (uid, field_name, vision)
    if key not in _MEDIA_CACHE:
        _MEDIA_CACHE[key] = load_media(part, vision, uid, field_name)
    return _MEDIA_CACHE[key]


def text_content(content: str | list[dict]) -> str:
    """The text of a message's content (string, or the text parts joined)."""
    return content if isinstance(content, str) else "".join(p["text"] for p in content if p["type"] == "text")


def encode(processor, prompts: list, vision: VisionSettings | None, *, return_tensors: str = "pt"):
    """Chat template + media + processor for a batch of prompts (left padded).

    `prompts` are `mmzppo.prompts.Prompt`s (or bare message lists). A prompt whose last
    message is an assistant prefix is continued rather than closed. Returns the processor's
    BatchFeature: input_ids and attention_mask, plus for vision models pixel_values /
    image_grid_thw / pixel_values_videos / video_grid_thw / mm_token_type_ids as the inputs
    need. Text-only models (a tokenizer as `processor`) take no media.
    """
    texts = [chat_text(processor, p, vision, getattr(p, "uid", f"#{i}")) for i, p in enumerate(prompts)]
    if vision is None:
        return processor(texts, return_tensors=return_tensors, padding=True, add_special_tokens=False)
    images: list = []
    videos: list = []
    for i, p in enumerate(prompts):
        more_images, more_videos = prompt_media(p, vision, getattr(p, "uid", f"#{i}"))
        images += more_images
        videos += more_videos
    kwargs: dict[str, Any] = dict(text=texts, return_tensors=return_tensors, padding=True)
    if images:
        kwargs.update(images=images, images_kwargs={"do_resize": False})
    if videos:
        video_kwargs = {"do_resize": False, "do_sample_frames": False, "video_metadata": [m for _, m in videos]}
        if hasattr(getattr(processor, "video_processor", None), "cap_pixels_per_frame"):
            # transformers >= 5.19 warns unless told: the cap only changes its own resizing,
            # which is off (qwen-vl-utils already sized the frames under `vision`)
            video_kwargs["cap_pixels_per_frame"] = False
        kwargs.update(videos=[v for v, _ in videos], videos_kwargs=video_kwargs)
    return processor(**kwargs)


def chat_text(processor, prompt, vision: VisionSettings | None, uid: str) -> str:
    """One conversation through the chat template (continued, not closed, when it ends in an
    assistant prefix). A text-only model (`vision` None) takes no media and plain-string content."""
    conversation = getattr(prompt, "messages", prompt)
    if vision is None:
        if any(
            isinstance(m["content"], list) and any(p.get("type") != "text" for p in m["content"]) for m in conversation
        ):
            raise MediaError(uid, "images/video", "-", "this model is text-only and cannot take media")
        conversation = [{**m, "content": text_content(m["content"])} for m in conversation]
    cont = bool(getattr(prompt, "continue_final", False))
    return processor.apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=not cont, continue_final_message=cont
    )


def prompt_media(prompt, vision: VisionSettings, uid: str) -> tuple[list, list]:
    """A conversation's images (PIL, sized under `vision`) and videos ((T, C, H, W) tensor,
    metadata), in order, each loaded once per step (`media_cache`)."""
    images, videos, n_image = [], [], 0
    for message in getattr(prompt, "messages", prompt):
        if isinstance(message["content"], str):
            continue
        for part in message["content"]:
            if part.get("type") not in ("image", "video"):
                continue
            field_name = f"images[{n_image}]" if part["type"] == "image" else "video"
            kind, *media = cached_media(part, vision, uid, field_name)
            if kind == "image":
                images.append(media[0])
                n_image += 1
            else:
                videos.append((media[0], media[1]))
    return images, videos
