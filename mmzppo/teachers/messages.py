"""Prompts in the OpenAI chat format, media as vLLM's server takes them.

An image goes as a PNG data URL (lossless, so the server sees the pixels
`mmzppo.data.media.load_media` produced under the run's `VisionSettings`), a video as its
sampled frames, one JPEG each, in a `video/jpeg` data URL (vLLM's frame-list form; quality
95), with its frame timing in the chat request's `media_io_kwargs` (`video_timing`). The server's
own processor may resize them again to its model's budgets: a served teacher is a different
model, with its own settings.
"""

from __future__ import annotations

import base64
import io


def image_url(image) -> dict:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()},
    }


def video_url(video) -> dict:
    """A (T, C, H, W) frame tensor (as `load_media` returns it) as vLLM's JPEG frame list."""
    import numpy as np
    import torch
    from PIL import Image

    frames = []
    for frame in video:
        array = frame.permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(array)).save(buf, format="JPEG", quality=95)
        frames.append(base64.b64encode(buf.getvalue()).decode())
    return {"type": "video_url", "video_url": {"url": "data:video/jpeg;base64," + ",".join(frames)}}


def video_timing(metadata: dict) -> dict:
    """A video's frame timing as vLLM's frame-list loader reads it (the request's
    `media_io_kwargs["video"]`). Without it vLLM takes the frames as consecutive at 1 fps and
    writes other timestamps into the prompt than the student's processor (`<0.5 seconds>` for
    `<0.4 seconds>` on a 4 fps clip sampled at frames 0 and 3)."""
    return {
        "fps": float(metadata["fps"]),
        "frames_indices": [int(i) for i in metadata["frames_indices"]],
        "total_num_frames": int(metadata["total_num_frames"]),
    }


def openai_messages(prompt, vision, video_kwargs: dict | None = None) -> list[dict]:
    """A `mmzppo.prompting.builders.Prompt`'s messages in the OpenAI chat format, media loaded under
    `vision` (None: text only) by `mmzppo.data.media.load_media`. A prompt that continues an
    assistant prefix keeps it as the last (assistant) message; the caller asks the server to
    continue it (vLLM's `continue_final_message`). `video_kwargs`: a dict that receives the
    video's `video_timing` (for the chat request's `media_io_kwargs`; one video per prompt)."""
    from mmzppo.data.media import load_media
    from mmzppo.prompting.builders import text_content

    out = []
    for message in prompt.messages:
        content = message["content"]
        if isinstance(content, str) or vision is None:
            out.append({"role": message["role"], "content": text_content(content)})
            continue
        parts, n_image = [], 0
        for part in content:
            if part.get("type") == "text":
                parts.append({"type": "text", "text": part["text"]})
                continue
            field_name = f"images[{n_image}]" if part["type"] == "image" else "video"
            kind, *media = load_media(part, vision, prompt.uid, field_name)
            if kind == "image":
                parts.append(image_url(media[0]))
                n_image += 1
            else:
                parts.append(video_url(media[0]))
                if video_kwargs is not None and len(media) > 1 and media[1]:
                    video_kwargs.update(video_timing(media[1]))
        out.append({"role": message["role"], "content": parts})
    return out
