"""Turning chat messages into model inputs: media loading, checking and processor call.

The prompt builders (`mmzppo.prompts`) only describe a conversation; this module reads the
media it references, applies the run's `VisionSettings` to every image and video element
(the one place they are applied), and calls the model's processor. Bad media raise a
`MediaError` that names the sample uid, the field and the file.
"""

from __future__ import annotations

import copy
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


def resolve_media(messages: list[dict], vision: VisionSettings, uid: str) -> list[dict]:
    """A copy of `messages` whose media elements are checked, decoded where cheap, and
    carry the pixel/frame settings that qwen-vl-utils reads."""
    messages = copy.deepcopy(messages)
    n_image = 0
    for message in messages:
        if isinstance(message["content"], str):
            continue
        for part in message["content"]:
            if part.get("type") == "image":
                field_name = f"images[{n_image}]"
                part["image"] = open_image(part["image"], uid, field_name)
                part.update(min_pixels=vision.min_pixels, max_pixels=vision.max_pixels)
                n_image += 1
            elif part.get("type") == "video":
                source = part["video"]
                if isinstance(source, list):  # a frame list: decode frames here
                    part["video"] = [open_image(f, uid, f"video[{i}]") for i, f in enumerate(source)]
                    if len(part["video"]) < 2:
                        raise MediaError(uid, "video", "frame list", "needs at least 2 frames")
                    part["sample_fps"] = part.pop("fps", None) or vision.fps or 2.0
                else:
                    part.update(frame_plan(video_frame_count(source, uid), vision, uid, source))
                    part["video"] = str(Path(str(source).removeprefix("file://")))
                part.update(min_pixels=vision.video_min_pixels, max_pixels=vision.video_max_pixels)
    return messages


def encode(processor, prompts: list, vision: VisionSettings | None, *, return_tensors: str = "pt"):
    """Chat template + media + processor for a batch of prompts (left padded).

    `prompts` are `mmzppo.prompts.Prompt`s (or bare message lists). A prompt whose last
    message is an assistant prefix is continued rather than closed. Returns the processor's
    BatchFeature: input_ids and attention_mask, plus for vision models pixel_values /
    image_grid_thw / pixel_values_videos / video_grid_thw / mm_token_type_ids as the inputs
    need. Text-only models (a tokenizer as `processor`) take no media.
    """
    conversations = [getattr(p, "messages", p) for p in prompts]
    uids = [getattr(p, "uid", f"#{i}") for i, p in enumerate(prompts)]
    texts = []
    for p, c in zip(prompts, conversations):
        cont = bool(getattr(p, "continue_final", False))
        texts.append(
            processor.apply_chat_template(
                c, tokenize=False, add_generation_prompt=not cont, continue_final_message=cont
            )
        )
    if vision is None:  # text-only model: media parts are not allowed
        for uid, c in zip(uids, conversations):
            if any(isinstance(m["content"], list) and any(p.get("type") != "text" for p in m["content"]) for m in c):
                raise MediaError(uid, "images/video", "-", "this model is text-only and cannot take media")
        return processor(texts, return_tensors=return_tensors, padding=True)

    from qwen_vl_utils import process_vision_info

    images: list = []
    videos: list = []
    metadata: list = []
    for uid, c in zip(uids, conversations):
        resolved = resolve_media(c, vision, uid)
        try:
            ims, vids, _ = process_vision_info(
                resolved, return_video_kwargs=True, return_video_metadata=True, image_patch_size=vision.patch_size
            )
        except Exception as e:
            raise MediaError(uid, "video", "-", f"frame sampling failed: {e}") from e
        images += ims or []
        for video, meta in vids or []:
            videos.append(video)
            metadata.append(meta)
    kwargs: dict[str, Any] = dict(text=texts, return_tensors=return_tensors, padding=True)
    if images:
        kwargs.update(images=images, images_kwargs={"do_resize": False})
    if videos:
        kwargs.update(
            videos=videos, videos_kwargs={"do_resize": False, "do_sample_frames": False, "video_metadata": metadata}
        )
    return processor(**kwargs)
