"""Writing `Sample`s as WebDataset shards plus an index.json (layout in the package docstring)."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from mmzppo.data.sample import Sample, SampleError
from mmzppo.data.shards.layout import FORMAT_VERSION, IMAGE_EXTS, INDEX_NAME, SHARD_PATTERN, VIDEO_EXTS
from mmzppo.data.vision import VisionSettings

_UID_OK = re.compile(r"[A-Za-z0-9_\-]+")
_MAX_UID = 200


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
        out.append(
            {
                "response": t["response"],
                "reward": float(t.get("reward", 0.0)),
                "parsed": None if parsed is None else str(parsed),
            }
        )
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
        uid=uid,
        question=sample.question,
        answer=sample.answer,
        answer_type=sample.answer_type,
        choices=sample.choices,
        solution=sample.solution,
        source=sample.source,
        meta=meta,
        video_fps=sample.video_fps,
        n_images=len(images),
        images=images,
        video=video,
    )
    for name in ("reward_type", "tolerance"):  # only when set: older shards lack them, and stay as they were
        if getattr(sample, name) is not None:
            info[name] = getattr(sample, name)
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
                str(self.out / SHARD_PATTERN),
                maxcount=self.maxcount,
                maxsize=self.maxsize,
                verbose=0,
                encoder=False,
                mtime=0,
                format="PAX_FORMAT",
            )
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

    def __enter__(self) -> ShardWriter:
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
