"""Reading one tar shard: its members grouped into undecoded samples, damage as events."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

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

