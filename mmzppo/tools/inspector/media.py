"""Media of a record as the report shows them: images as data URIs, video as a strip of frames,
and the media exactly as the processor receives them (`model_media`)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image

from mmzppo.data.vision import VisionSettings

VIDEO_FRAMES = 6  # frames decoded from an mp4 file for its strip
MAX_STRIP = 16  # at most this many frames of a frame list are shown (evenly spaced)
THUMB_SIDE = 320  # longest side of an embedded picture, in pixels
# How a shard folder's video is sampled for the report: a few frames at the default budget.
REPORT_VISION = VisionSettings(fps=None, nframes=VIDEO_FRAMES)


# --------------------------------------------------------------------------- media


def open_media(source: Any, base: Path | None = None) -> Image.Image | None:
    """A PIL image from a PIL image or a path (relative paths: to `base`, then to the cwd)."""
    if isinstance(source, Image.Image):
        return source
    path = Path(str(source).removeprefix("file://"))
    for p in ([base / path] if base is not None and not path.is_absolute() else []) + [path]:
        if p.is_file():
            try:
                with Image.open(p) as im:
                    return im.convert("RGB")
            except OSError:
                return None
    return None


def resolve(source: Any, base: Path | None) -> Path:
    path = Path(str(source).removeprefix("file://"))
    if base is not None and not path.is_absolute() and (base / path).exists():
        return base / path
    return path


def data_uri(image: Image.Image, max_side: int = THUMB_SIDE) -> str:
    """A picture as a data URI: PNG (exact colours) unless JPEG is much smaller."""
    im = image.convert("RGB")
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    mime, data = "image/png", buf.getvalue()
    if len(data) > 40_000:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=85)
        if len(buf.getvalue()) < len(data) // 2:
            mime, data = "image/jpeg", buf.getvalue()
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def evenly(n_total: int, n: int) -> list[int]:
    if n_total <= n:
        return list(range(n_total))
    return [round(i * (n_total - 1) / (n - 1)) for i in range(n)]


def mp4_frames(path: str | Path, n: int = VIDEO_FRAMES) -> tuple[list[Image.Image], list[int], int, float]:
    """`n` evenly spaced frames of a video file: (frames, indices, total frames, fps).

    decord first (what the processor uses), PyAV when decord cannot read the file."""
    try:
        import decord

        reader = decord.VideoReader(str(path), num_threads=1)
        total, fps = len(reader), float(reader.get_avg_fps())
        idx = evenly(total, n)
        frames = [Image.fromarray(a) for a in reader.get_batch(idx).asnumpy()]
        return frames, idx, total, fps
    except Exception:  # decord missing or unable to read it: PyAV decodes every frame
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 0) or 0.0
            every = [f.to_image() for f in container.decode(stream)]
        idx = evenly(len(every), n)
        return [every[i] for i in idx], idx, len(every), fps


def media_blocks(record: dict, base: Path | None = None) -> list[dict]:
    """What to show of a record's media: [{"kind", "frames": [PIL | None], "captions", "note"}].

    A record may carry `media` (already decoded, as `model_media` returns); otherwise its
    `images` and `video` (paths or PIL) are opened here."""
    if record.get("media") is not None:
        return record["media"]
    blocks = []
    for i, source in enumerate(record.get("images") or []):
        im = open_media(source, base)
        size = f"{im.width}×{im.height} px" if im else f"missing: {source}"
        blocks.append({"kind": "image", "frames": [im], "captions": [f"image {i + 1} · {size}"], "note": ""})
    video, fps = record.get("video"), record.get("video_fps")
    if isinstance(video, list):
        idx = evenly(len(video), MAX_STRIP)
        frames = [open_media(video[i], base) for i in idx]
        captions = [f"#{i}" + (f" · {i / fps:.1f} s" if fps else "") for i in idx]
        note = f"frame list: {len(video)} frames" + (f" at {fps:.2f} fps" if fps else "")
        note += f", {len(idx)} shown" if len(idx) < len(video) else ""
        blocks.append({"kind": "video", "frames": frames, "captions": captions, "note": note})
    elif video:
        path = resolve(video, base)
        try:
            frames, idx, total, native = mp4_frames(path)
            captions = [f"#{i}" + (f" · {i / native:.1f} s" if native else "") for i in idx]
            note = f"{Path(str(video)).name}: {total} frames at {native:.2f} fps, {len(idx)} evenly spaced shown"
        except Exception as e:  # a missing or broken file is shown as such
            frames, captions, note = [None], ["missing"], f"cannot read video {video}: {e}"
        blocks.append({"kind": "video", "frames": frames, "captions": captions, "note": note})
    return blocks


def model_media(prompt, vision: VisionSettings) -> list[dict]:
    """The media of a prompt exactly as the processor receives them under `vision`: images
    resized to the pixel budget, the video frames qwen-vl-utils samples (at their size)."""
    import numpy as np

    from mmzppo.data.media import load_media

    blocks, n_image = [], 0
    for message in prompt.messages:
        for part in message["content"] if isinstance(message["content"], list) else []:
            if part.get("type") == "image":
                _, im = load_media(part, vision, prompt.uid, f"images[{n_image}]")
                n_image += 1
                caption = f"image {n_image} · {im.width}×{im.height} px as the model sees it"
                blocks.append({"kind": "image", "frames": [im], "captions": [caption], "note": ""})
            elif part.get("type") == "video":
                _, video, meta = load_media(part, vision, prompt.uid, "video")
                arr = video.clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
                frames = [Image.fromarray(np.ascontiguousarray(a)) for a in arr]
                idx = meta.get("frames_indices") or list(range(len(frames)))
                fps = meta.get("fps")
                captions = [f"#{i}" for i in idx][: len(frames)] + [" (pad)"] * max(0, len(frames) - len(idx))
                note = (
                    f"{len(frames)} frames of {meta.get('total_num_frames', len(frames))}"
                    + (f" (source {fps:.2f} fps)" if fps else "")
                    + f", {frames[0].width}×{frames[0].height} px each, as the model sees them"
                )
                blocks.append({"kind": "video", "frames": frames, "captions": captions, "note": note})
    return blocks
