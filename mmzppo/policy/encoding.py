"""Turning chat messages into model inputs: media loading, checking and processor call.

The prompt builders (`mmzppo.prompting.builders`) only describe a conversation; this module reads the
media it references, applies the run's `VisionSettings` to every image and video element
(the one place they are applied), and calls the model's processor. Bad media raise a
`MediaError` that names the sample uid, the field and the file.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import mmzppo  # noqa: F401  (torchvision compat before qwen-vl-utils imports torchvision)
from mmzppo.data.media import MediaError, load_media
from mmzppo.data.vision import VisionSettings
from mmzppo.prompting.builders import text_content

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


def encode(processor, prompts: list, vision: VisionSettings | None, *, return_tensors: str = "pt"):
    """Chat template + media + processor for a batch of prompts (left padded).

    `prompts` are `mmzppo.prompting.builders.Prompt`s (or bare message lists). A prompt whose last
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
