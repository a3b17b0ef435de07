"""WebDataset shards of `Sample`s: one writer, one reader, both tolerant of real-world damage.

Layout of one sample (all members share the key = the sample uid, which has no dots):

    <uid>.json          question, answer, answer_type, choices, solution, source, meta,
                        video_fps, n_images, and the member names of the media (`images`, `video`)
    <uid>.img0.jpg ...  images, original bytes and extension when the source was a file,
                        PNG when it was an in-memory PIL image
    <uid>.mp4           a video file, original bytes (or .webm/.mkv/.avi/.mov)
    <uid>.frame0.jpg .. a video given as a frame list (then json.video_fps is its frame rate)
    <uid>.teacher.json  optional precomputed teacher responses:
                        [{"response": str, "reward": float, "parsed": str | None}, ...]

Shards are written with `webdataset.ShardWriter` as `shard-%06d.tar` next to an `index.json`
(shard names and counts, counts per source and modality, media bytes, the VisionSettings the
media were made under, and what a converter skipped).

The reader (`ShardReader`, a torch IterableDataset) decodes a sample only when it is about to
be handed out, applies the consumer's `VisionSettings` to video at read time (decord counts
the frames of the in-memory mp4 as `encode` counts a video file, the same rule picks the
frames Qwen-VL would sample, and only those are converted, with PyAV, pixel-identical to
decord and faster), and hands out `Sample`s whose images are PIL images and whose video is a
list of PIL frames (resized to the video pixel budget) with `video_fps` = the sampled rate,
which `mmzppo.inputs.encode` takes through its frame-list path. Teacher responses go to
`sample.meta["teacher"]`.

Why a reader of our own rather than webdataset's pipeline: the failure policy must be exact.
A damaged sample (bad JSON, missing member, corrupt image, truncated video) is skipped, logged
once with its key and reason, and counted in `reader.skipped`; a truncated tar yields every
sample before the damage and counts one "truncated tar" event naming the shard; nothing stops
the run and nothing hangs. Reading shards is a few lines of `tarfile`; the format stays
plain WebDataset, so `webdataset.WebDataset(urls)` reads these shards too.
"""

from __future__ import annotations

import glob
import io
import json
import logging
import random
import re
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from PIL import Image

from mmzppo.data.sample import Sample, SampleError, VisionSettings

log = logging.getLogger(__name__)

SHARD_PATTERN = "shard-%06d.tar"
INDEX_NAME = "index.json"
FORMAT_VERSION = 1
IMAGE_EXTS = ("jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff")
VIDEO_EXTS = ("mp4", "webm", "mkv", "avi", "mov")
# Every reason a reader can skip a sample (fixed, so worker processes can count in shared memory).
SKIP_REASONS = (
    "bad json",
    "missing member",
    "corrupt image",
    "corrupt video",
    "invalid sample",
    "truncated tar",
    "unreadable shard",
)
_MAX_WORKERS = 64  # rows of the shared skip counter: one per DataLoader worker
_UID_OK = re.compile(r"[A-Za-z0-9_\-]+")
_MAX_UID = 200


class NotEnoughShardsError(RuntimeError):
    """More readers (ranks x DataLoader workers) than shards in non-resample mode."""


class SkipSample(Exception):
    """A sample that cannot be used; `reason` is one of SKIP_REASONS."""

    def __init__(self, reason: str, detail: str):
        assert reason in SKIP_REASONS, reason
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


# --------------------------------------------------------------------------- writing


def check_uid(uid: str) -> str:
    """A uid usable as a WebDataset key: WebDataset splits member names at the first dot, so a
    dot would silently move part of the uid into the member suffix."""
    if "." in uid:
        raise SampleError(uid, "uid", "contains a dot; WebDataset keys cannot (replace dots, e.g. with '-')")
    if not _UID_OK.fullmatch(uid) or len(uid) > _MAX_UID:
        raise SampleError(uid, "uid", f"a shard key must be 1-{_MAX_UID} characters of A-Z a-z 0-9 _ -")
    return uid


def media_bytes(source: Any, uid: str, field_name: str, exts: tuple[str, ...]) -> tuple[bytes, str]:
    """(bytes, extension) of one image or frame: a file keeps its bytes, a PIL image becomes PNG
    (lossless, so pixels round-trip exactly)."""
    if isinstance(source, Image.Image):
        buf = io.BytesIO()
        source.save(buf, format="PNG")
        return buf.getvalue(), "png"
    path = Path(str(source).removeprefix("file://"))
    ext = path.suffix.lower().lstrip(".")
    if ext not in exts:
        raise SampleError(uid, field_name, f"{path}: extension {ext!r} is not one of {', '.join(exts)}")
    if not path.is_file():
        raise SampleError(uid, field_name, f"{path}: file not found")
    return path.read_bytes(), ext


def check_teacher(teacher: Any, uid: str) -> list[dict]:
    """Teacher responses in the stored shape, so a reader can trust teacher.json."""
    if not isinstance(teacher, list):
        raise SampleError(uid, "teacher", "must be a list of {response, reward, parsed}")
    out = []
    for i, t in enumerate(teacher):
        if not isinstance(t, dict) or not isinstance(t.get("response"), str):
            raise SampleError(uid, f"teacher[{i}]", "needs a 'response' string")
        parsed = t.get("parsed")
        out.append({"response": t["response"], "reward": float(t.get("reward", 0.0)),
                    "parsed": None if parsed is None else str(parsed)})  # fmt: skip
    return out


def sample_to_record(sample: Sample, teacher: list[dict] | None = None) -> dict[str, Any]:
    """The WebDataset members of one sample (see the module docstring for the layout).

    Teacher responses come from `teacher` or else from `sample.meta["teacher"]` (what the
    reader puts there), so a read sample writes back unchanged.
    """
    uid = check_uid(sample.uid)
    record: dict[str, Any] = {"__key__": uid}
    images = []
    for i, im in enumerate(sample.images):
        data, ext = media_bytes(im, uid, f"images[{i}]", IMAGE_EXTS)
        images.append(f"img{i}.{ext}")
        record[images[-1]] = data
    video: str | list[str] | None = None
    if isinstance(sample.video, list):
        video = []
        for i, frame in enumerate(sample.video):
            data, ext = media_bytes(frame, uid, f"video[{i}]", IMAGE_EXTS)
            video.append(f"frame{i}.{ext}")
            record[video[-1]] = data
    elif sample.video is not None:
        data, video = media_bytes(sample.video, uid, "video", VIDEO_EXTS)
        record[video] = data
    meta = dict(sample.meta)
    teacher = meta.pop("teacher", None) if teacher is None else teacher
    meta.pop("teacher", None)
    info = dict(
        uid=uid, question=sample.question, answer=sample.answer, answer_type=sample.answer_type,
        choices=sample.choices, solution=sample.solution, source=sample.source, meta=meta,
        video_fps=sample.video_fps, n_images=len(images), images=images, video=video,
    )  # fmt: skip
    try:
        record["json"] = json.dumps(info, ensure_ascii=False).encode()
    except TypeError as e:
        raise SampleError(uid, "meta", f"not JSON-serialisable: {e}") from e
    if teacher is not None:
        record["teacher.json"] = json.dumps(check_teacher(teacher, uid), ensure_ascii=False).encode()
    return record


@dataclass
class WriteStats:
    """What went into a shard folder; becomes index.json."""

    shards: dict[str, int] = field(default_factory=dict)  # shard name -> samples
    sources: Counter = field(default_factory=Counter)
    modalities: Counter = field(default_factory=Counter)
    source_modality: Counter = field(default_factory=Counter)
    media_bytes: Counter = field(default_factory=Counter)  # image / video / frames
    with_teacher: int = 0
    skipped: Counter = field(default_factory=Counter)  # converter skips, by reason
    skipped_items: list = field(default_factory=list)  # first few (where, reason, detail)


class ShardWriter:
    """Writes `Sample`s into `out/shard-%06d.tar` (via webdataset.ShardWriter) and index.json.

    maxcount / maxsize bound each shard (samples / bytes). Write more, smaller shards than
    (ranks x DataLoader workers) you will read with: the reader needs at least one shard per
    reader in non-resample mode. Use as a context manager; `close()` writes index.json.
    """

    def __init__(
        self,
        out: str | Path,
        *,
        maxcount: int = 500,
        maxsize: float = 1e9,
        vision: VisionSettings | None = None,
        extra: dict | None = None,
    ):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        if any(self.out.glob("shard-*.tar")):
            raise FileExistsError(f"{self.out} already holds shards; write into an empty folder")
        self.maxcount, self.maxsize, self.vision, self.extra = maxcount, maxsize, vision, extra or {}
        self.stats = WriteStats()
        self._uids: set[str] = set()
        self._writer = None  # opened on the first sample, so an empty run writes no empty shard

    def write(self, sample: Sample, teacher: list[dict] | None = None) -> None:
        """Add one sample; a duplicate uid is an error (readers promise each sample once)."""
        import webdataset as wds

        record = sample_to_record(sample, teacher)
        if sample.uid in self._uids:
            raise SampleError(sample.uid, "uid", "duplicate uid in this shard folder")
        self._uids.add(sample.uid)
        if self._writer is None:
            self._writer = wds.ShardWriter(
                str(self.out / SHARD_PATTERN), maxcount=self.maxcount, maxsize=self.maxsize, verbose=0,
                encoder=False, mtime=0, format="PAX_FORMAT",
            )  # fmt: skip
        self._writer.write(record)
        s = self.stats
        s.shards[Path(self._writer.fname).name] = s.shards.get(Path(self._writer.fname).name, 0) + 1
        s.sources[sample.source] += 1
        s.modalities[sample.modality] += 1
        s.source_modality[f"{sample.source}/{sample.modality}"] += 1
        for name, data in record.items():
            kind = "image" if name.startswith("img") else "frames" if name.startswith("frame") else None
            kind = "video" if name in VIDEO_EXTS else kind
            if kind:
                s.media_bytes[kind] += len(data)
        s.with_teacher += "teacher.json" in record

    def skip(self, where: str, reason: str, detail: str = "") -> None:
        """Record an input record a converter could not use (kept in index.json)."""
        self.stats.skipped[reason] += 1
        if len(self.stats.skipped_items) < 100:
            self.stats.skipped_items.append({"where": where, "reason": reason, "detail": detail})

    def index(self) -> dict[str, Any]:
        s = self.stats
        return {
            "format": "mmzppo-shards",
            "version": FORMAT_VERSION,
            "shards": [{"name": n, "count": c} for n, c in s.shards.items()],
            "total": sum(s.shards.values()),
            "counts": {
                "source": dict(s.sources),
                "modality": dict(s.modalities),
                "source_modality": dict(s.source_modality),
            },
            "media_bytes": dict(s.media_bytes),
            "with_teacher": s.with_teacher,
            "vision": self.vision.to_dict() if self.vision else None,
            "skipped": dict(s.skipped),
            "skipped_items": s.skipped_items,
            **self.extra,
        }

    def close(self) -> dict[str, Any]:
        """Finish the last shard and write index.json; returns the index."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        index = self.index()
        (self.out / INDEX_NAME).write_text(json.dumps(index, indent=2, ensure_ascii=False))
        return index

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        elif self._writer is not None:  # failed run: close the tar, but write no index that looks complete
            self._writer.close()
            self._writer = None


def write_shards(
    samples: Iterable[Sample],
    out: str | Path,
    *,
    maxcount: int = 500,
    maxsize: float = 1e9,
    vision: VisionSettings | None = None,
    progress: bool | None = None,
    extra: dict | None = None,
) -> dict[str, Any]:
    """Write an iterable of samples (teacher responses in `meta["teacher"]`); returns the index.

    progress: a tqdm bar (None: only on a terminal). extra: more keys for index.json.
    """
    from tqdm import tqdm

    with ShardWriter(out, maxcount=maxcount, maxsize=maxsize, vision=vision, extra=extra) as writer:
        total = len(samples) if hasattr(samples, "__len__") else None
        for sample in tqdm(samples, total=total, desc="writing shards", unit="sample", disable=_quiet(progress)):
            writer.write(sample)
    return writer.index()


def _quiet(progress: bool | None) -> bool | None:
    """tqdm's `disable`: None lets tqdm decide (off when stderr is not a terminal)."""
    return None if progress is None else not progress


# --------------------------------------------------------------------------- finding shards


def read_index(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / INDEX_NAME
    return json.loads(path.read_text()) if path.is_file() else None


def resolve_shards(urls: str | Path | Iterable[str | Path]) -> list[str]:
    """Shard paths from a folder (its index.json order, else its *.tar), a file, a glob, a
    brace pattern (`shard-{000000..000009}.tar`) or a list of those. Missing files are an
    error here, at start-up, rather than a silently smaller epoch."""
    if isinstance(urls, (list, tuple)):
        return [p for u in urls for p in resolve_shards(u)]
    text = str(urls)
    path = Path(text)
    if path.is_dir():
        index = read_index(path)
        names = [s["name"] for s in index["shards"]] if index else sorted(
            p.name for p in path.iterdir() if p.name.endswith((".tar", ".tar.gz", ".tgz"))
        )
        found = [str(path / n) for n in names]
    elif "{" in text:
        import braceexpand

        found = list(braceexpand.braceexpand(text))
    elif any(c in text for c in "*?["):
        found = sorted(glob.glob(text))
        if not found:
            raise FileNotFoundError(f"no shard matches {text}")
    else:
        found = [text]
    missing = [p for p in found if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"shard(s) not found: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    return found


# --------------------------------------------------------------------------- reading one shard


@dataclass
class RawSample:
    """The undecoded members of one sample (member suffix -> bytes)."""

    key: str
    members: dict[str, bytes]
    shard: str


@dataclass
class SkipEvent:
    """Something in a shard that yields no sample (a damaged tar); counted like a skip."""

    reason: str
    key: str
    shard: str
    detail: str


def has_end_marker(path: str) -> bool:
    """Whether a plain tar ends in the zero blocks of a complete archive.

    A tar cut exactly at a member boundary reads without any error (tarfile treats the missing
    header as the end), so this is how such a truncation is noticed. Compressed shards are not
    checked (gzip itself fails on truncation).
    """
    if not path.endswith(".tar"):
        return True
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        if size < 1024 or size % 512:
            return False
        f.seek(size - 1024)
        return f.read(1024) == bytes(1024)


def split_member(name: str) -> tuple[str, str]:
    """(key, suffix) the WebDataset way: the key ends at the first dot of the file name."""
    folder, _, base = name.rpartition("/")
    key, _, suffix = base.partition(".")
    return (f"{folder}/{key}" if folder else key), suffix


def iter_shard(path: str) -> Iterator[RawSample | SkipEvent]:
    """Group a shard's members into samples; damage becomes one SkipEvent, never an exception.

    A tar that breaks mid-way yields every complete sample before the break, then one
    "truncated tar" event (the partly read sample is part of that event). A file that is not
    a readable tar at all is one "unreadable shard" event.
    """
    name = Path(path).name
    try:
        complete = has_end_marker(path)
    except OSError as e:
        yield SkipEvent("unreadable shard", "", name, str(e))
        return
    key, members, member, seen_any = None, {}, None, False
    try:
        with open(path, "rb") as f, tarfile.open(fileobj=f, mode="r|*") as tar:
            for info in tar:
                if not info.isreg():
                    continue
                member, seen_any = info.name, True
                member_key, suffix = split_member(info.name)
                if member_key != key:  # the previous sample is complete: hand it out before reading on
                    if key is not None:
                        yield RawSample(key, members, name)
                    key, members = member_key, {}
                members[suffix] = tar.extractfile(info).read()
    except Exception as e:  # tarfile raises ReadError, EOFError, StreamError, zlib errors, ...
        where = f" at member {member}; it and all after it are lost" if member else ""
        reason = "truncated tar" if seen_any else "unreadable shard"
        yield SkipEvent(reason, "", name, f"{type(e).__name__}: {e}{where}")
        return
    if key is not None:
        yield RawSample(key, members, name)
    if not complete:
        detail = f"no end-of-archive marker after member {member}: the file was cut short"
        yield SkipEvent("truncated tar", "", name, detail)


# --------------------------------------------------------------------------- decoding one sample


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
    of the processor later)."""
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        return im
    except Exception as e:  # PIL raises several types for bad data
        raise SkipSample("corrupt image", f"{what}: {e}") from None


def sampled_frames(total: int, native_fps: float, vision: VisionSettings | None, uid: str) -> tuple[list[int], float]:
    """Frame indices to decode and the rate they represent.

    The same rule as a video file given to `mmzppo.inputs.encode`: `frame_plan` clamps the
    settings to the clip, qwen-vl-utils' `smart_nframes` picks the count, indices are evenly
    spaced (rounded linspace). Without settings every frame is kept at the native rate.
    """
    from mmzppo.inputs import MediaError, frame_plan

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
            uid=uid, question=info["question"], answer=info["answer"],
            answer_type=info.get("answer_type") or "latex", images=images, video=video, video_fps=video_fps,
            choices=info.get("choices"), solution=info.get("solution"), source=info.get("source") or "", meta=meta,
        )  # fmt: skip
    except (SampleError, TypeError) as e:
        raise SkipSample("invalid sample", str(e)) from None


# --------------------------------------------------------------------------- the reader


def _rank_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """Explicit rank/world size, else torch.distributed's when initialised, else (0, 1)."""
    if rank is not None or world_size is not None:
        if rank is None or world_size is None or not 0 <= rank < world_size:
            raise ValueError(f"give both rank and world_size with 0 <= rank < world_size (got {rank}, {world_size})")
        return rank, world_size
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _worker() -> tuple[int, int]:
    info = torch.utils.data.get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


def _share(total: int, i: int, n: int) -> int:
    """Reader i's part when `total` items are dealt out to n readers as evenly as possible."""
    return total // n + (1 if i < total % n else 0)


class ShardReader(torch.utils.data.IterableDataset):
    """`Sample`s from shards, split by rank and DataLoader worker, decoded lazily.

    urls: a shard folder, file, glob, brace pattern or list (see `resolve_shards`).
    vision: the consumer's VisionSettings; video frames are sampled (and resized) under it.
        None keeps every frame at full size.
    rank, world_size: explicit node split; default torch.distributed's, else a single reader.
    resample=False: each epoch reads every sample exactly once across all ranks and workers
        (shards are dealt to readers). With fewer shards than readers (world_size x workers)
        iteration raises NotEnoughShardsError at once (a reader without data would make
        distributed training wait forever). Ranks can still get unequal counts when shards
        are unequal; use resample mode (or equal shards) when steps must match across ranks.
    resample=True: every reader draws shards at random with replacement until this rank has
        yielded exactly `epoch_length` samples (split over its workers); default epoch_length
        is index.json's total / world_size. Works with any number of readers.
    seed: shuffling and resampling are deterministic in (seed, epoch, rank, worker).
    shuffle: a buffer of that many undecoded samples shuffles sample order (and shard order
        is shuffled per epoch); 0 reads in shard order.

    Call `set_epoch(e)` each epoch, like DistributedSampler. `skipped` is a Counter of skip
    reasons, summed over DataLoader workers (they count in shared memory). `state_dict()` /
    `load_state_dict()` record (epoch, samples consumed): resuming skips that many samples
    without decoding them. The count is exact in-process (num_workers=0); with DataLoader
    workers pass `consumed=` (samples this rank's loop took) and it is split evenly over the
    workers, exact when the loader took whole rounds of equal batches.
    """

    def __init__(
        self,
        urls,
        vision: VisionSettings | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        resample: bool = False,
        epoch_length: int | None = None,
        seed: int = 0,
        shuffle: int = 0,
    ):
        super().__init__()
        self.shards = resolve_shards(urls)
        if not self.shards:
            raise FileNotFoundError(f"no shards in {urls}")
        self.index = read_index(urls) if isinstance(urls, (str, Path)) and Path(urls).is_dir() else None
        self.vision, self.rank, self.world_size = vision, rank, world_size
        self.resample, self.seed, self.shuffle = resample, seed, shuffle
        _rank_world(rank, world_size)  # validate now
        if resample and epoch_length is None:
            if not self.index:
                raise ValueError("resample=True needs epoch_length (no index.json to take the total from)")
            epoch_length = -(-self.index["total"] // _rank_world(rank, world_size)[1])
        if epoch_length is not None and epoch_length < 0:
            raise ValueError(f"epoch_length must be >= 0 (got {epoch_length})")
        self.epoch_length = epoch_length
        self.epoch = 0
        self._resume = 0  # samples of this rank to pass over on the next iteration
        self._consumed = 0  # samples handed out by iteration in this process
        self._counts = torch.zeros(_MAX_WORKERS, len(SKIP_REASONS), dtype=torch.int64).share_memory_()
        self._logged: set[tuple[str, str, str]] = set()

    # ----------------------------------------------------------------- bookkeeping

    @property
    def skipped(self) -> Counter:
        """Skipped samples (and damaged-tar events) by reason, over all workers so far."""
        totals = self._counts.sum(0).tolist()
        return Counter({r: n for r, n in zip(SKIP_REASONS, totals) if n})

    def set_epoch(self, epoch: int) -> None:
        """Start epoch `epoch` from its beginning (changes shuffling and resampling)."""
        self.epoch, self._resume = epoch, 0

    def state_dict(self, consumed: int | None = None) -> dict[str, int]:
        """Data position: epoch and samples this rank consumed in it."""
        return {"epoch": self.epoch, "consumed": self._consumed if consumed is None else consumed, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume at a recorded position (same shards, seed, world size and workers)."""
        self.epoch, self._resume = int(state["epoch"]), int(state["consumed"])
        self.seed = int(state.get("seed", self.seed))

    def check_readers(self, num_workers: int = 0) -> None:
        """Raise NotEnoughShardsError now if these shards cannot feed every reader."""
        _, world = _rank_world(self.rank, self.world_size)
        self._check(world, max(1, num_workers))

    def _check(self, world: int, workers: int) -> None:
        readers = world * workers
        if not self.resample and len(self.shards) < readers:
            raise NotEnoughShardsError(
                f"{len(self.shards)} shard(s) for {readers} readers ({world} rank(s) x {workers} DataLoader "
                f"worker(s)): some readers would get no data and distributed training would wait for them "
                f"forever. Write at least {readers} shards (e.g. convert/synth with a smaller --maxcount), "
                f"use fewer DataLoader workers, or read with ShardReader(..., resample=True, epoch_length=N)."
            )

    def _skip(self, row: int, reason: str, key: str, shard: str, detail: str) -> None:
        """Count a skip (in shared memory) and log it once per (shard, key, reason)."""
        self._counts[min(row, _MAX_WORKERS - 1), SKIP_REASONS.index(reason)] += 1
        if (shard, key, reason) not in self._logged:
            self._logged.add((shard, key, reason))
            log.warning("skipped %s in %s: %s (%s)", key or "<shard>", shard, reason, detail)

    # ----------------------------------------------------------------- iteration

    def _shuffled(self, items: Iterator, rng: random.Random) -> Iterator:
        """Buffered shuffle of undecoded samples (media are decoded only after this)."""
        if self.shuffle <= 1:
            yield from items
            return
        buffer: list = []
        for item in items:
            buffer.append(item)
            if len(buffer) >= self.shuffle:
                yield buffer.pop(rng.randrange(len(buffer)))
        rng.shuffle(buffer)
        yield from buffer

    def _raw_stream(self, me: int, readers: int, rank: int, worker: int) -> Iterator[RawSample | SkipEvent]:
        """This reader's undecoded samples for the epoch (resampling is bounded by the caller)."""
        rng = random.Random(f"{self.seed}:{self.epoch}:{rank}:{worker}")
        if not self.resample:
            order = list(self.shards)
            if self.shuffle > 1:
                random.Random(f"{self.seed}:{self.epoch}").shuffle(order)  # same on every rank
            mine = order[me::readers]
            yield from self._shuffled((x for s in mine for x in iter_shard(s)), rng)
            return
        draws_without_sample = 0
        while True:
            shard = rng.choice(self.shards)
            got = False
            for item in self._shuffled(iter_shard(shard), rng):
                got = got or isinstance(item, RawSample)
                yield item
            draws_without_sample = 0 if got else draws_without_sample + 1
            if draws_without_sample > 2 * len(self.shards) + 8:
                raise RuntimeError(f"resampling found no readable sample in {len(self.shards)} shard(s)")

    def __iter__(self) -> Iterator[Sample]:
        rank, world = _rank_world(self.rank, self.world_size)
        worker, workers = _worker()
        self._check(world, workers)
        me, readers = rank * workers + worker, world * workers
        resume = _share(self._resume, worker, workers)  # this worker's part of the recorded position
        quota = _share(self.epoch_length, worker, workers) if self.resample else None
        self._consumed = self._resume
        position, handed, before = 0, 0, self._counts[worker].clone()
        bad_run, bad_limit = 0, 2 * self.index["total"] + 64 if self.index else 10_000
        try:
            if quota == 0:
                return
            for item in self._raw_stream(me, readers, rank, worker):
                if self.resample and bad_run > bad_limit:  # resampling only bad samples would never end
                    raise RuntimeError(f"resampling: {bad_run} unusable samples in a row and none usable; "
                                       f"see the warnings above ({dict(self.skipped)})")  # fmt: skip
                if isinstance(item, SkipEvent):
                    bad_run += 1
                    self._skip(worker, item.reason, item.key, item.shard, item.detail)
                    continue
                if position < resume:  # already consumed before the resume: pass without decoding
                    position += 1
                    continue
                try:
                    sample = decode_sample(item, self.vision)
                except SkipSample as e:
                    bad_run += 1
                    self._skip(worker, e.reason, item.key, item.shard, e.detail)
                    continue
                position, bad_run = position + 1, 0
                handed += 1
                self._consumed += 1
                yield sample
                if quota is not None and position >= quota:
                    return
        finally:
            new = (self._counts[worker] - before).tolist()
            if any(new):
                summary = ", ".join(f"{r}: {n}" for r, n in zip(SKIP_REASONS, new) if n)
                log.warning("ShardReader rank %d worker %d: %d sample(s) read, skipped %s",
                            rank, worker, handed, summary)  # fmt: skip
