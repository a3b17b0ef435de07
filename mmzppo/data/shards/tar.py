"""Reading one tar shard: its members grouped into undecoded samples, damage as events."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mmzppo.data.shards.layout import shard_count


@dataclass
class RawSample:
    """The undecoded members of one sample (member suffix -> bytes)."""

    key: str
    members: dict[str, bytes]
    shard: str


@dataclass
class SkipEvent:
    """One sample a shard does not yield (damaged tar, duplicate key); counted like a skip."""

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


def iter_shard(path: str, expected: int | None = None) -> Iterator[RawSample | SkipEvent]:
    """Group a shard's members into samples; damage becomes SkipEvents, never an exception.

    Every SkipEvent stands for one sample that is not handed out, so whoever counts events
    counts lost samples:

    * a second sample with a key already seen in this tar (right after the first, which
      WebDataset would silently merge into one sample, or later) is a "duplicate key" event
      naming the key; the first one is kept. A member name repeating within a key starts
      the second sample.
    * a tar that breaks mid-way yields every complete sample before the break; the sample
      being read is lost ("truncated tar", with its key) and so is everything after it: with
      `expected` (the shard's count in index.json, looked up beside the shard when not given)
      each of those is one more event; without it one event says that the number is unknown.
    * a file that is not a readable tar at all: one "unreadable shard" event per expected
      sample (one when the count is unknown).
    """
    name = Path(path).name
    expected = shard_count(path) if expected is None else expected
    try:
        complete = has_end_marker(path)
    except OSError as e:
        yield from _lost(name, "", expected, 0, "unreadable shard", str(e))
        return
    key, members, member, seen, groups = None, {}, None, set(), 0
    try:
        with open(path, "rb") as f, tarfile.open(fileobj=f, mode="r|*") as tar:
            for info in tar:
                if not info.isreg():
                    continue
                member = info.name
                member_key, suffix = split_member(info.name)
                if member_key != key or suffix in members:  # the previous sample is complete
                    if key is not None:
                        yield _complete(key, members, name, seen)
                        groups += 1
                    key, members = member_key, {}
                members[suffix] = tar.extractfile(info).read()
    except Exception as e:  # tarfile raises ReadError, EOFError, StreamError, zlib errors, ...
        reason = "truncated tar" if member else "unreadable shard"
        where = f" at member {member}" if member else ""
        yield from _lost(name, key or "", expected, groups, reason, f"{type(e).__name__}: {e}{where}")
        return
    if key is not None:
        yield _complete(key, members, name, seen)
        groups += 1
    if not complete:
        detail = f"no end-of-archive marker after member {member}: the file was cut short"
        if expected is None or expected > groups:
            yield from _lost(name, "", expected, groups, "truncated tar", detail, partial=False)


def _complete(key: str, members: dict[str, bytes], shard: str, seen: set[str]) -> RawSample | SkipEvent:
    """A finished group of members: a sample, or a duplicate of one this tar already gave."""
    if key in seen:
        detail = f"a second sample with key {key} in this tar (members {', '.join(members)}); the first was kept"
        return SkipEvent("duplicate key", key, shard, detail)
    seen.add(key)
    return RawSample(key, members, shard)


def _lost(
    shard: str, key: str, expected: int | None, read: int, reason: str, detail: str, partial: bool = True
) -> Iterator[SkipEvent]:
    """One event per sample lost at the damage (the one being read, if any, names its key)."""
    partial = partial and bool(key)
    if expected is None:
        what = "the rest of the tar is unreadable; how many samples it held is unknown (no count in index.json)"
        yield SkipEvent(reason, key, shard, f"{detail}: {what}")
        return
    lost = max(expected - read, int(partial))
    what = f"{lost} sample(s) lost ({read} read before the damage; index.json lists {expected})"
    for i in range(lost):
        yield SkipEvent(reason, key if i == 0 else "", shard, f"{detail}: {what}")
