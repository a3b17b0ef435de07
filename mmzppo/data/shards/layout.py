"""Where shards are and what they may contain: names, the index, the skip reasons.

Shared by the writer, the tar reader, the decoder and `ShardReader` (see the package docstring).
"""

from __future__ import annotations

import functools
import glob
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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
    "duplicate key",
    "empty answer",
)


class SkipSample(Exception):
    """A sample that cannot be used; `reason` is one of SKIP_REASONS."""

    def __init__(self, reason: str, detail: str):
        assert reason in SKIP_REASONS, reason
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


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
        names = (
            [s["name"] for s in index["shards"]]
            if index
            else sorted(p.name for p in path.iterdir() if p.name.endswith((".tar", ".tar.gz", ".tgz")))
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


@functools.lru_cache(maxsize=256)
def _index_counts(folder: str, mtime_ns: int) -> dict[str, int]:
    index = read_index(folder) or {}
    return {str(s["name"]): int(s["count"]) for s in index.get("shards", [])}


def shard_count(path: str | Path) -> int | None:
    """Samples a shard should hold, from the index.json beside it; None when unknown.

    This is what lets a reader say how many samples a truncated or unreadable shard lost
    (a tar cannot tell what came after its damage). A missing or broken index gives None.
    """
    folder = Path(path).parent
    try:
        return _index_counts(str(folder), (folder / INDEX_NAME).stat().st_mtime_ns).get(Path(path).name)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
