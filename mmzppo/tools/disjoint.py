"""The comparison's data kept apart: RL, warm-up (with its reading examples) and test items share
no uid and no content, so the start never trains on an RL question and nothing trains on a test
item.

Content is what the student is shown: the question text with its options
(`mmzppo.prompting.builders.question_text`) and a hash of every image's pixels and of every
video file's bytes (`content_key`). Two items with the same question over the same picture are
the same item whatever their uids, seeds or task parameters. The synthetic suite's splits are
already disjoint by content (`mmzppo.data.synthetic.split_of`); RL and warm-up items both come
from the train split, so `make_data` (`mmzppo.tools.stages`) draws them from different seeds,
drops every RL item whose uid or content is a warm-up or reading item's (the warm-up set stays
what the shipped start was trained on), and checks the sets and the test items with `overlaps`
before anything trains.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mmzppo.data.sample import Sample
from mmzppo.prompting.builders import question_text

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")


def media_digest(x) -> str:
    """sha256 of one image's pixels (a file path or a PIL image: the same picture gives the same
    digest either way), of a video file's bytes, or of a frame list's pixels."""
    from PIL import Image

    h = hashlib.sha256()
    if isinstance(x, (str, Path)) and Path(x).suffix.lower() not in IMAGE_SUFFIXES:
        h.update(Path(x).read_bytes())
        return h.hexdigest()
    frames = x if isinstance(x, list) else [x]
    for f in frames:
        im = Image.open(f) if isinstance(f, (str, Path)) else f
        im = im.convert("RGB")
        h.update(f"{im.size}".encode())
        h.update(im.tobytes())
    return h.hexdigest()


def content_key(sample: Sample) -> str:
    """What the student is shown, hashed: the question text (with its options) and its media."""
    parts = [question_text(sample), *(media_digest(im) for im in sample.images)]
    if sample.video is not None:
        parts.append(media_digest(sample.video))
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def keys_of(samples: list[Sample]) -> dict[str, str]:
    """uid -> content key."""
    return {s.uid: content_key(s) for s in samples}


def overlaps(sets: dict[str, dict[str, str]], pairs: list[tuple[str, str]] | None = None) -> list[str]:
    """Every pair of sets (name -> {uid: content key}; default: all pairs) that shares a uid or a
    content key, one line each with an example; empty when they are disjoint."""
    names, problems = list(sets), []
    pairs = pairs if pairs is not None else [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    for a, b in pairs:
        uids = sorted(set(sets[a]) & set(sets[b]))
        contents = sorted(set(sets[a].values()) & set(sets[b].values()))
        if uids:
            problems.append(f"{a} and {b} share {len(uids)} uids, e.g. {uids[0]}")
        if contents:
            uid_a = next(u for u, k in sets[a].items() if k == contents[0])
            uid_b = next(u for u, k in sets[b].items() if k == contents[0])
            problems.append(f"{a} and {b} share {len(contents)} items by content, e.g. {uid_a} = {uid_b}")
    return problems


def without(samples: list[Sample], taken: dict[str, str]) -> tuple[list[Sample], int]:
    """`samples` less those whose uid or content is in `taken` (uid -> key) or repeats an earlier
    one of `samples`; and how many were dropped."""
    seen_uids, seen_keys = set(taken), set(taken.values())
    kept = []
    for s in samples:
        key = content_key(s)
        if s.uid in seen_uids or key in seen_keys:
            continue
        seen_uids.add(s.uid)
        seen_keys.add(key)
        kept.append(s)
    return kept, len(samples) - len(kept)
