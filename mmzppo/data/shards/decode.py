"""Decoding one sample: its json checked, images loaded, video frames sampled under VisionSettings."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from mmzppo.data.sample import Sample, SampleError
from mmzppo.data.shards.layout import SkipSample
from mmzppo.data.shards.tar import RawSample
from mmzppo.data.shards.writer import check_teacher
from mmzppo.data.vision import VisionSettings

_BYTES_IO = re.compile(r"<_io\.BytesIO object at 0x[0-9a-f]+>")


def parse_info(raw: RawSample) -> dict[str, Any]:
    """The sample's json member, checked against the members present (cheap, no media decoded)."""
    if "json" not in raw.members:
        raise SkipSample("missing member", "no json member")
    try:
        info = json.loads(raw.members["json"])
    except (ValueError, UnicodeDecodeError) as e:
        raise SkipSample("bad json", f"json: {e}") from None
    if not isinstance(info, dict) or not all(k in info for k in ("question", "answer")):
        raise SkipSample("bad json", "json: not an object with question and answer")
    if info["answer"] is None or not str(info["answer"]).strip():  # nothing to grade against
        raise SkipSample("empty answer", f"json: answer is {info['answer']!r}")
    images, video = info.get("images") or [], info.get("video")
    if not isinstance(images, list) or not (video is None or isinstance(video, (str, list))):
        raise SkipSample("bad json", "json: images/video are not member names")
    wanted = images + (video if isinstance(video, list) else [video] if video else [])
    missing = [m for m in wanted if m not in raw.members]
    if missing:
        raise SkipSample("missing member", ", ".join(missing))
    if "teacher.json" in raw.members:
        try:
            info["teacher"] = check_teacher(json.loads(raw.members["teacher.json"]), raw.key)
        except (ValueError, UnicodeDecodeError) as e:  # SampleError is a ValueError too
            raise SkipSample("bad json", f"teacher.json: {e}") from None
    return info


def decode_image(data: bytes, what: str) -> Image.Image:
    """A fully decoded PIL image (load() now, so a truncated file fails here, not in a worker
    of the processor later). A failure names the member and its size, not PIL's BytesIO."""
    if not data:
        raise SkipSample("corrupt image", f"{what}: empty member (0 bytes)")
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        return im
    except Exception as e:  # PIL raises several types for bad data
        if isinstance(e, UnidentifiedImageError):
            why = "not an image format PIL can identify"
        else:  # PIL's messages may print the in-memory file object: name the member instead
            why = _BYTES_IO.sub(what, f"{type(e).__name__}: {e}")
        raise SkipSample("corrupt image", f"{what} ({len(data):,} bytes): {why}") from None


def sampled_frames(total: int, native_fps: float, vision: VisionSettings | None, uid: str) -> tuple[list[int], float]:
    """Frame indices to decode and the rate they represent.

    The same rule as a video file given to `mmzppo.policy.encoding.encode`: `frame_plan` clamps the
    settings to the clip, qwen-vl-utils' `smart_nframes` picks the count, indices are evenly
    spaced (rounded linspace). Without settings every frame is kept at the native rate.
    """
    from mmzppo.data.media import MediaError, frame_plan

    if vision is None:
        if total < 1:
            raise SkipSample("corrupt video", "no frames")
        return list(range(total)), native_fps
    from qwen_vl_utils.vision_process import smart_nframes

    try:
        n = smart_nframes(frame_plan(total, vision, uid, "video"), total_frames=total, video_fps=native_fps)
    except (MediaError, ValueError) as e:
        raise SkipSample("corrupt video", str(e)) from None
    indices = torch.linspace(0, total - 1, n).round().long().tolist()
    return indices, n / total * native_fps


def fit_frames(frames: list[Image.Image], vision: VisionSettings | None) -> list[Image.Image]:
    """Resize frames to the video pixel budget the way `encode` would (then its own resize is a
    no-op), so DataLoader workers ship small frames instead of full-size ones."""
    if vision is None or not frames:
        return frames
    from qwen_vl_utils.vision_process import smart_resize

    w, h = frames[0].size
    rh, rw = smart_resize(
        h, w, factor=vision.factor, min_pixels=vision.video_min_pixels, max_pixels=vision.video_max_pixels
    )
    return [f.convert("RGB").resize((rw, rh), Image.BICUBIC) for f in frames]


def decode_frames(data: bytes, indices: list[int], selective: bool = True) -> dict[int, Image.Image]:
    """The frames at `indices` (display order, numbered as decord numbers them) of a video.

    Decoding is what costs (short clips often have a single keyframe, so every frame before
    the last wanted one must be decoded). With `selective`, packets are demuxed first so each
    one's display index is known (the rank of its pts, which is how decord orders frames),
    and a packet whose frame is not wanted is decoded with skip_frame=NONREF: the decoder
    drops it when no other frame refers to it (x264's B-frames; about a quarter of the time).
    Only kept frames are converted to RGB. Pixels equal decord's get_batch (tested).
    """
    import av

    wanted, got, decoded = set(indices), {}, 0
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        pts = [p.pts for p in packets]
        rank = {p: i for i, p in enumerate(sorted(pts))} if selective and None not in pts else None
        if rank is not None and len(rank) != len(pts):  # repeated pts: display order is unclear
            rank = None
        codec = stream.codec_context
        for packet in [*packets, None]:  # None flushes the decoder
            if rank is not None and packet is not None:
                codec.skip_frame = "DEFAULT" if packet.is_keyframe or rank[packet.pts] in wanted else "NONREF"
            for frame in codec.decode(packet):
                index = rank.get(frame.pts) if rank is not None else decoded
                decoded += 1
                if index in wanted:
                    got[index] = frame.to_image()
            if len(got) == len(wanted):
                break
    return got


def decode_video_file(data: bytes, vision: VisionSettings | None, uid: str) -> tuple[list[Image.Image], float]:
    """Only the needed frames of an in-memory video (no temp file).

    decord (reading the BytesIO) gives the frame count and rate exactly as `encode` counts a
    video file, so the frame rule is the same; `decode_frames` (PyAV) then decodes the kept
    frames in about half the time decord's get_batch takes for the same pixels.
    """
    import decord

    try:
        reader = decord.VideoReader(io.BytesIO(data), num_threads=1)
        total, fps = len(reader), float(reader.get_avg_fps())
    except Exception as e:  # DECORDError / RuntimeError on truncated or garbage streams
        raise SkipSample("corrupt video", f"cannot open: {e}") from None
    del reader
    indices, rate = sampled_frames(total, fps, vision, uid)
    try:
        got = decode_frames(data, indices)
        if len(got) < len(set(indices)):  # odd timestamps: decode every frame in order instead
            got = decode_frames(data, indices, selective=False)
    except Exception as e:  # av.error.* on damaged streams
        raise SkipSample("corrupt video", f"cannot decode frames: {e}") from None
    if len(got) < len(set(indices)):
        raise SkipSample("corrupt video", f"the stream ends before frame {max(set(indices) - set(got))} of {total}")
    return fit_frames([got[i] for i in indices], vision), rate


def decode_frame_list(raw: RawSample, names: list[str], fps: float | None, vision, uid: str):
    """Only the needed frames of a stored frame list."""
    native = fps or (vision.fps if vision and vision.fps else 2.0)
    indices, rate = sampled_frames(len(names), native, vision, uid)
    frames = [decode_image(raw.members[names[i]], names[i]) for i in indices]
    return fit_frames(frames, vision), rate


def decode_sample(raw: RawSample, vision: VisionSettings | None = None, info: dict | None = None) -> Sample:
    """A `Sample` with PIL images and (for video) PIL frames sampled under `vision`.

    Raises SkipSample with the reason when the sample cannot be used.
    """
    info = info if info is not None else parse_info(raw)
    uid = info.get("uid") or raw.key
    images = [decode_image(raw.members[name], name) for name in info.get("images") or []]
    video, video_fps = None, info.get("video_fps")
    if isinstance(info.get("video"), list):
        video, video_fps = decode_frame_list(raw, info["video"], video_fps, vision, uid)
    elif info.get("video"):
        video, video_fps = decode_video_file(raw.members[info["video"]], vision, uid)
    meta = dict(info.get("meta") or {})
    if "teacher" in info:
        meta["teacher"] = info["teacher"]
    try:
        return Sample(
            uid=uid,
            question=info["question"],
            answer=info["answer"],
            answer_type=info.get("answer_type") or "latex",
            images=images,
            video=video,
            video_fps=video_fps,
            choices=info.get("choices"),
            solution=info.get("solution"),
            source=info.get("source") or "",
            meta=meta,
            reward_type=info.get("reward_type"),
            tolerance=info.get("tolerance"),
        )
    except (SampleError, TypeError) as e:
        raise SkipSample("invalid sample", str(e)) from None
