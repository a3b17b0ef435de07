"""The built-in synthetic task suite: verifiable image, video and text questions from a seed.

Every item is a `Sample` with a gold answer, a short worked solution ending in
``\\boxed{answer}`` (what a reference teacher or a warm-up reads), `source` = task name and
`meta` = {"task", "level", "split", "modality", "seed", "index", "content_hash", "scene"}.
`scene` is the item's ground truth as plain data (positions, colours, heights, frames), so
an item can be inspected or re-checked without looking at its pixels.

Images are PIL-drawn PNGs (64..128 px, no anti-aliasing, so colours are exact); videos are
real mp4 files (PyAV, libx264, yuv420p, even sizes, 4..8 frames); digits and labels use
PIL's built-in bitmap font, so nothing is read from outside the package.

Levels 1..5 (what grows with the level; level 1 should be easy for a small student and
level 5 hard):

- count_color (image, number): grid 3x3 .. 7x7; up to 3 .. 9 targets; 0-2 .. 10-18
  distractors, which from level 3 share the target's colour or its shape.
- bar_compare (image, choice or number): 2, 3, 4, 5, 5 bars; heights up to 5 .. 9; margin of
  the extreme bar 2 -> 1; asks the tallest, then the shortest, a height, a difference.
- spatial (image, yesno or choice): left/right yes-no, then any relation, then a 4-way
  choice; 0 .. 4 distractor shapes; smaller objects and gaps.
- digit_arith (image, number): 2, 3, 3, 4, 5 numbers; values up to 9, 9, 20, 50, 99;
  coloured ink from level 3.
- motion_direction (video, choice): 4 .. 8 frames; 2, then 4, then 8 directions; smaller
  dot and step; 0 .. 2 distractor dots (static at level 3, moving after).
- first_appearance (video, choice): 2, 2, 3, 4, 5 shapes; 4 .. 8 frames; appearance gap
  2 -> 1 frame; asks the first, from level 4 also the last.
- count_events (video, number): 4, 6, 6, 8, 8 frames; up to 2 .. 4 flashes; 0 .. 2
  distractor lights.
- arith_chain (text, number): `level` operations: + and -, then also x, then also /;
  operands up to 9 .. 99.
- word_problem (text, number): `level` events: gain and lose, then packs, doubling or
  tripling, equal splitting.
- choose_option (text, choice): four statements, one true, three near misses; the facts are
  1-digit sums, 2-digit sums/differences, times tables, 2-digit x 1-digit, two-operation
  expressions.

Splits. An item's randomness comes from a stable hash of (task, split, seed, index), and an
item belongs to the split its *content* hashes to (80% train, 10% validation, 10% test of
the content space): `generate` draws until it gets an item of the requested split. So the
same arguments give identical items (PNG bytes identical; mp4 frames identical up to rare
encoder noise), and no question/picture of the test split can
ever be produced for train, whatever seeds are used (small spaces, like level-1 sums,
would otherwise repeat across splits).

Video timing. The event tasks (first_appearance, count_events) are written at 2 fps with an
even number of frames: at the default `VisionSettings(fps=2)` every frame is seen. Sampled at
a lower rate (or with fewer `nframes`) a flash can fall between sampled frames.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mmzppo.data.formats import LETTERS
from mmzppo.data.sample import Sample

SPLITS = ("train", "validation", "test")
LEVELS = (1, 2, 3, 4, 5)
SPLIT_BUCKETS = {"train": range(0, 8), "validation": range(8, 9), "test": range(9, 10)}  # content hash % 10
MAX_DRAWS = 1000  # draws per item before giving up on finding content of the requested split

PALETTE = {  # saturated and far apart, so they survive yuv420p and are easy to tell apart
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (40, 80, 220),
    "yellow": (230, 190, 20),
    "purple": (150, 50, 190),
}
SHAPES = ("square", "circle", "triangle")
WHITE, BLACK, GRID_GRAY = (255, 255, 255), (0, 0, 0), (215, 215, 215)


@dataclass(frozen=True)
class Task:
    """One synthetic task: `make(rng, level, media_dir, uid)` draws one item."""

    name: str
    modality: str  # "image" | "video" | "text"
    levels: tuple[int, ...]
    make: Callable[[random.Random, int, Path, str], Sample]


# --------------------------------------------------------------------------- generation


def item_rng(task: str, split: str, seed: int, index: int) -> random.Random:
    """The RNG of one item: a stable hash of its coordinates (Python's hash() is salted)."""
    digest = hashlib.sha256(f"mmzppo-synthetic|{task}|{split}|{seed}|{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def content_hash(sample: Sample) -> str:
    """Hash of what the student sees and must answer (not the uid or file names)."""
    key = [sample.source, sample.question, sample.answer, sample.choices, sample.meta.get("scene")]
    return hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def split_of(sample: Sample) -> str:
    """The split an item's content belongs to (fixed for all seeds)."""
    bucket = int(content_hash(sample)[:16], 16) % 10
    return next(s for s, buckets in SPLIT_BUCKETS.items() if bucket in buckets)


def _check_choice(kind: str, value, valid: Sequence) -> None:
    if value not in valid:
        raise ValueError(f"unknown {kind} {value!r}; valid: {', '.join(map(str, valid))}")


def _check_levels(task: Task, levels: Sequence[int] | None) -> tuple[int, ...]:
    if levels is None:
        return task.levels
    if isinstance(levels, int):
        levels = (levels,)
    levels = tuple(levels)
    bad = [lv for lv in levels if lv not in task.levels]
    if not levels or bad:
        raise ValueError(
            f"bad levels {list(levels)!r} for task {task.name!r}; valid: {', '.join(map(str, task.levels))}"
        )
    return levels


def uid_for(task: str, split: str, seed: int, index: int) -> str:
    """`synth_<task>_<split>_s<seed>_<index>`: unique across tasks, splits and seeds, no dots."""
    return f"synth_{task}_{split}_s{seed}_{index:05d}"


def generate(
    task: str,
    n: int,
    seed: int,
    split: str,
    media_dir: str | Path | None,
    levels: Sequence[int] | None = None,
) -> Iterator[Sample]:
    """`n` items of one task; item i has level `levels[i % len(levels)]` (default 1..5).

    Media go to `media_dir/<uid>.png|mp4` (text tasks need no `media_dir`). Arguments are
    checked at the call, not at the first item.
    """
    _check_choice("task", task, list(TASKS))
    _check_choice("split", split, SPLITS)
    spec = TASKS[task]
    levels = _check_levels(spec, levels)
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    media = None if media_dir is None else Path(media_dir)
    if spec.modality != "text":
        if media is None:
            raise ValueError(f"task {task!r} writes {spec.modality} files: media_dir is required")
        media.mkdir(parents=True, exist_ok=True)
    return (_item(spec, seed, split, i, levels[i % len(levels)], media) for i in range(n))


def _item(task: Task, seed: int, split: str, index: int, level: int, media: Path | None) -> Sample:
    rng = item_rng(task.name, split, seed, index)
    uid = uid_for(task.name, split, seed, index)
    for _ in range(MAX_DRAWS):
        sample = task.make(rng, level, media, uid)  # a rejected draw's file is overwritten by the next
        if split_of(sample) == split:
            sample.meta.update(split=split, seed=seed, index=index, content_hash=content_hash(sample)[:16])
            return sample
    raise RuntimeError(f"task {task.name!r} level {level}: no {split} item in {MAX_DRAWS} draws")


def generate_suite(
    tasks: Sequence[str] | None,
    n: int,
    seed: int,
    split: str,
    media_dir: str | Path | None,
    levels: Sequence[int] | None = None,
) -> Iterator[Sample]:
    """`n` items of each task (all tasks when None), interleaved task by task per index."""
    names = list(TASKS) if tasks is None else [tasks] if isinstance(tasks, str) else list(tasks)
    streams = [generate(t, n, seed, split, media_dir, levels) for t in names]  # checks every task now
    return (sample for group in zip(*streams) for sample in group)


# --------------------------------------------------------------------------- drawing helpers


def _join(items: Sequence[str], last: str = "and") -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


@lru_cache(maxsize=1)
def bitmap_font() -> ImageFont.ImageFont:
    """PIL's built-in bitmap font (6x11 px cells), shipped inside Pillow: works offline."""
    loader = getattr(ImageFont, "load_default_imagefont", None)  # Pillow >= 10.1
    return loader() if loader else ImageFont.load_default()


def _draw_text(im: Image.Image, xy: tuple[int, int], text: str, color, scale: int = 1) -> tuple[int, int]:
    """Bitmap-font text, scaled by pixel repetition (crisp, exact colours); returns its size."""
    w, h = text_size(text, scale)
    mask = Image.new("L", (w // scale, h // scale), 0)
    ImageDraw.Draw(mask).text((0, 0), text, font=bitmap_font(), fill=255)
    mask = mask.point(lambda v: 255 if v >= 128 else 0).resize((w, h), Image.NEAREST)
    im.paste(Image.new("RGB", (w, h), color), xy, mask)
    return w, h


def text_size(text: str, scale: int = 1) -> tuple[int, int]:
    left, top, right, bottom = bitmap_font().getbbox(text)
    return (right - min(left, 0)) * scale, (bottom - min(top, 0)) * scale


def _shape(draw: ImageDraw.ImageDraw, shape: str, x: int, y: int, s: int, color) -> None:
    """A filled `s` x `s` shape with top-left corner (x, y); integer vertices only."""
    x1, y1, xm, ym = x + s - 1, y + s - 1, x + (s - 1) // 2, y + (s - 1) // 2
    if shape == "square":
        draw.rectangle([x, y, x1, y1], fill=color)
    elif shape == "circle":
        draw.ellipse([x, y, x1, y1], fill=color)
    elif shape == "triangle":
        draw.polygon([(x, y1), (x1, y1), (xm, y)], fill=color)
    elif shape == "diamond":
        draw.polygon([(xm, y), (x1, ym), (xm, y1), (x, ym)], fill=color)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def _place(rng: random.Random, sizes: list[int], canvas: int, gap: int, margin: int = 2, taken=()) -> list:
    """Top-left (x, y) corners for squares of the given sizes, `gap` px apart from each other and
    from the `taken` (x, y, size) boxes, inside the canvas."""
    for _ in range(200):
        boxes = list(taken)
        for s in sizes:
            for _ in range(200):
                x, y = rng.randint(margin, canvas - s - margin), rng.randint(margin, canvas - s - margin)
                if all(_apart((x, y, s), box, gap) for box in boxes):
                    boxes.append((x, y, s))
                    break
            else:
                break
        else:
            return [(x, y) for x, y, _ in boxes[len(taken) :]]
    raise RuntimeError(f"cannot place {len(sizes)} objects on a {canvas} px canvas")


def _apart(a: tuple[int, int, int], b: tuple[int, int, int], gap: int) -> bool:
    """Whether two (x, y, size) squares are at least `gap` px apart along some axis."""
    (ax, ay, a_s), (bx, by, b_s) = a, b
    return ax + a_s + gap <= bx or bx + b_s + gap <= ax or ay + a_s + gap <= by or by + b_s + gap <= ay


def _save_png(im: Image.Image, path: Path) -> str:
    im.save(path, format="PNG")
    return str(path)


def _save_mp4(frames: list[Image.Image], path: Path, fps: int) -> str:
    """An H.264 mp4 (yuv420p, crf 12, no B-frames, one encoder thread)."""
    import av

    w, h = frames[0].size
    if w % 2 or h % 2:
        raise ValueError(f"yuv420p needs even frame sizes, got {w}x{h}")
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # One thread, no B-frames: the same frames give the same stream (on a loaded machine a
        # rare, slightly different stream was still seen; the frames decode to near-identical pixels).
        stream.options = {"crf": "12", "preset": "veryfast", "bf": "0", "threads": "1"}
        stream.codec_context.thread_count = 1
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame.convert("RGB")), format="rgb24")))
        out.mux(stream.encode())
    return str(path)


def _sample(uid, task, level, modality, question, answer, answer_type, solution, scene, **kw) -> Sample:
    return Sample(
        uid=uid, question=question, answer=str(answer), answer_type=answer_type, solution=solution,
        source=task, meta={"task": task, "level": level, "modality": modality, "scene": scene}, **kw,
    )  # fmt: skip


def _lettered(rng: random.Random, options: list[str], correct: str) -> tuple[list[str], str]:
    """Options shuffled with `rng`, and the letter of the correct one."""
    options = list(options)
    rng.shuffle(options)
    return options, LETTERS[options.index(correct)]


# --------------------------------------------------------------------------- image tasks

# level: (grid side, canvas px, targets (min, max), distractors (min, max))
_COUNT_COLOR = {
    1: (3, 64, (1, 3), (0, 2)),
    2: (4, 80, (1, 4), (1, 4)),
    3: (5, 96, (0, 5), (3, 7)),
    4: (6, 112, (0, 7), (6, 12)),
    5: (7, 128, (0, 9), (10, 18)),
}
_COUNT_COLORS = ("red", "green", "blue", "yellow")


def count_color(rng: random.Random, level: int, media_dir: Path, uid: str) -> Sample:
    """Coloured shapes in a grid: how many of one colour and shape?"""
    g, canvas, (t_lo, t_hi), (d_lo, d_hi) = _COUNT_COLOR[level]
    color, shape = rng.choice(_COUNT_COLORS), rng.choice(SHAPES)
    n_target = rng.randint(t_lo, t_hi)
    n_distract = min(rng.randint(d_lo, d_hi), g * g - n_target)
    kinds = [(color, shape)] * n_target
    other_colors = [c for c in _COUNT_COLORS if c != color]
    other_shapes = [s for s in SHAPES if s != shape]
    for _ in range(n_distract):
        if level == 1:  # differs in both: easy to ignore
            kinds.append((rng.choice(other_colors), rng.choice(other_shapes)))
        elif level == 2:  # anything but the target
            kinds.append(rng.choice([(c, s) for c in _COUNT_COLORS for s in SHAPES if (c, s) != (color, shape)]))
        elif rng.randint(0, 1):  # confusable: same colour, other shape ...
            kinds.append((color, rng.choice(other_shapes)))
        else:  # ... or same shape, other colour
            kinds.append((rng.choice(other_colors), shape))
    cells = rng.sample(range(g * g), len(kinds))
    cell = canvas // g
    offset = (canvas - g * cell) // 2
    im = Image.new("RGB", (canvas, canvas), WHITE)
    draw = ImageDraw.Draw(im)
    for k in range(g + 1):  # light grid lines, so rows and columns can be named
        p = offset + k * cell
        draw.line([(offset, p), (offset + g * cell, p)], fill=GRID_GRAY)
        draw.line([(p, offset), (p, offset + g * cell)], fill=GRID_GRAY)
    objects = []
    for c, (obj_color, obj_shape) in zip(cells, kinds):
        row, col = divmod(c, g)
        s = rng.randint(cell - 8, cell - 5)
        x = offset + col * cell + rng.randint(2, cell - s - 2)
        y = offset + row * cell + rng.randint(2, cell - s - 2)
        _shape(draw, obj_shape, x, y, s, PALETTE[obj_color])
        objects.append(dict(row=row + 1, col=col + 1, color=obj_color, shape=obj_shape, x=x, y=y, size=s))
    hits = sorted((o["row"], o["col"]) for o in objects if (o["color"], o["shape"]) == (color, shape))
    name = f"{color} {shape}"
    if hits:
        where = _join([f"({r}, {c})" for r, c in hits])
        solution = f"{name.capitalize()}s at (row, column): {where}.\nThat is {_plural(len(hits), name)}.\n"
    else:
        solution = f"No shape is a {name}.\nThat is 0 {name}s.\n"
    return _sample(
        uid, "count_color", level, "image",
        question=f"How many {name}s are there in the picture?",
        answer=len(hits), answer_type="number", solution=solution + f"\\boxed{{{len(hits)}}}",
        scene={"grid": g, "target": [color, shape], "objects": objects},
        images=[_save_png(im, media_dir / f"{uid}.png")],
    )  # fmt: skip


# level: (bars, max height, min margin of the asked extreme, question kinds)
_BARS = {
    1: (2, 5, 2, ("tallest",)),
    2: (3, 6, 2, ("tallest", "shortest")),
    3: (4, 7, 1, ("tallest", "shortest", "height")),
    4: (5, 8, 1, ("tallest", "shortest", "height")),
    5: (5, 9, 1, ("height", "difference")),
}


def bar_compare(rng: random.Random, level: int, media_dir: Path, uid: str) -> Sample:
    """A bar chart with lettered bars and a ticked axis: which is tallest/shortest, or how high."""
    n, top_h, margin, kinds = _BARS[level]
    kind = rng.choice(kinds)
    labels = list(LETTERS[:n])
    while True:
        heights = [rng.randint(1, top_h) for _ in range(n)]
        ordered = sorted(heights)
        if kind == "tallest" and ordered[-1] - ordered[-2] >= margin:
            break
        if kind == "shortest" and ordered[1] - ordered[0] >= margin:
            break
        if kind in ("height", "difference") and ordered[-1] > ordered[0]:
            break
    canvas = 96 if level <= 2 else 128
    left, top, base, right = 14, 6, canvas - 16, canvas - 4  # axis at x=left, baseline at y=base
    unit = (base - top) // top_h
    im = Image.new("RGB", (canvas, canvas), WHITE)
    draw = ImageDraw.Draw(im)
    for v in range(top_h + 1):
        y = base - v * unit
        draw.line([(left + 1, y), (right, y)], fill=GRID_GRAY)
        draw.line([(left - 3, y), (left - 1, y)], fill=BLACK)
        _draw_text(im, (2, y - 6), str(v), BLACK)
    bar_color = rng.choice(list(PALETTE))
    slot = (right - left - 4) // n
    width = min(16, slot - 6) - rng.randint(0, 6)
    bars = []
    for i, (label, h) in enumerate(zip(labels, heights)):
        x = left + 4 + i * slot + (slot - width) // 2
        draw.rectangle([x, base - h * unit, x + width - 1, base - 1], fill=PALETTE[bar_color])
        _draw_text(im, (x + width // 2 - 3, base + 2), label, BLACK)
        bars.append({"label": label, "height": h, "x": x, "width": width})
    draw.line([(left, top - 2), (left, base)], fill=BLACK)
    draw.line([(left, base), (right, base)], fill=BLACK)

    reading = "Reading each bar against the axis: " + ", ".join(f"{b} = {h}" for b, h in zip(labels, heights)) + ".\n"
    if kind in ("tallest", "shortest"):
        pick = (max if kind == "tallest" else min)(range(n), key=heights.__getitem__)
        answer, answer_type, choices = labels[pick], "choice", labels
        question = f"Which bar is the {kind}: {_join(labels, 'or')}?"
        solution = reading + f"The {kind} is bar {labels[pick]} ({heights[pick]}).\n"
    elif kind == "height":
        pick = rng.randrange(n)
        answer, answer_type, choices = heights[pick], "number", None
        question = f"What is the height of bar {labels[pick]}?"
        solution = f"The top of bar {labels[pick]} is level with the tick {heights[pick]} on the axis.\n"
    else:
        hi = rng.choice([i for i in range(n) if heights[i] > min(heights)])
        lo = rng.choice([i for i in range(n) if heights[i] < heights[hi]])
        answer, answer_type, choices = heights[hi] - heights[lo], "number", None
        question = f"How much taller is bar {labels[hi]} than bar {labels[lo]}?"
        solution = (
            f"Bar {labels[hi]} is {heights[hi]} high and bar {labels[lo]} is {heights[lo]} high.\n"
            f"{heights[hi]} - {heights[lo]} = {answer}.\n"
        )
    return _sample(
        uid, "bar_compare", level, "image", question=question, answer=answer, answer_type=answer_type,
        solution=solution + f"\\boxed{{{answer}}}", choices=choices,
        scene={"kind": kind, "bars": bars, "color": bar_color, "unit_px": unit},
        images=[_save_png(im, media_dir / f"{uid}.png")],
    )  # fmt: skip


# level: (canvas px, object px, distractor shapes, min gap px along the axis, question kinds)
_SPATIAL = {
    1: (64, 14, 0, 14, ("yesno_h",)),
    2: (80, 12, 0, 10, ("yesno",)),
    3: (96, 12, 1, 8, ("yesno", "choice")),
    4: (112, 10, 2, 6, ("yesno", "choice")),
    5: (128, 8, 4, 4, ("yesno", "choice")),
}
_RELATIONS = {"left": "left of", "right": "right of", "above": "above", "below": "below"}
_OPPOSITE = {"left": "right", "right": "left", "above": "below", "below": "above"}


def spatial(rng: random.Random, level: int, media_dir: Path, uid: str) -> Sample:
    """A circle and a square (plus distractors): where is the circle relative to the square?

    The asked axis always dominates (the other offset is at most half of it), so the answer
    is never a judgement call.
    """
    canvas, s, n_distract, gap, kinds = _SPATIAL[level]
    kind = rng.choice(kinds)
    horizontal = kind == "yesno_h" or rng.randint(0, 1) == 1
    lo, hi = 2, canvas - s - 2
    while True:
        cx, cy, sx, sy = (rng.randint(lo, hi) for _ in range(4))
        d, d_other = (sx - cx, sy - cy) if horizontal else (sy - cy, sx - cx)
        if abs(d) >= s + gap and 2 * abs(d_other) <= abs(d):
            break
    relation = ("left" if cx < sx else "right") if horizontal else ("above" if cy < sy else "below")
    im = Image.new("RGB", (canvas, canvas), WHITE)
    draw = ImageDraw.Draw(im)
    colors = list(PALETTE)
    circle_color, square_color = rng.choice(colors), rng.choice(colors)
    _shape(draw, "circle", cx, cy, s, PALETTE[circle_color])
    _shape(draw, "square", sx, sy, s, PALETTE[square_color])
    distractors = []
    for x, y in _place(rng, [s] * n_distract, canvas, gap=3, taken=[(cx, cy, s), (sx, sy, s)]):
        shape, color = rng.choice(("triangle", "diamond")), rng.choice(colors)
        _shape(draw, shape, x, y, s, PALETTE[color])
        distractors.append({"shape": shape, "color": color, "x": x, "y": y})

    c_mid, s_mid = (cx + s // 2, cy + s // 2), (sx + s // 2, sy + s // 2)
    axis, (a, b) = ("x", (c_mid[0], s_mid[0])) if horizontal else ("y", (c_mid[1], s_mid[1]))
    solution = (
        f"The circle's centre is at x = {c_mid[0]}, y = {c_mid[1]}; "
        f"the square's is at x = {s_mid[0]}, y = {s_mid[1]}.\n"
        f"{min(a, b)} < {max(a, b)}{' (y grows downward)' if axis == 'y' else ''}, "
        f"so the circle is {_RELATIONS[relation]} the square"
    )
    choices = None
    if kind == "choice":
        question = "Where is the circle relative to the square?"
        options = [f"{r} the square" for r in _RELATIONS.values()]
        choices, answer = _lettered(rng, options, f"{_RELATIONS[relation]} the square")
        answer_type, solution = "choice", solution + f": option {answer}.\n"
    else:
        asked = relation if rng.randint(0, 1) else _OPPOSITE[relation]  # a "no" asks the opposite, never the other axis
        question = f"Is the circle {_RELATIONS[asked]} the square?"
        answer, answer_type = ("yes", "yesno") if asked == relation else ("no", "yesno")
        solution += ".\n" if asked == relation else f", not {_RELATIONS[asked]} it.\n"
    return _sample(
        uid, "spatial", level, "image", question=question, answer=answer, answer_type=answer_type,
        solution=solution + f"\\boxed{{{answer}}}", choices=choices,
        scene={"circle": {"color": circle_color, "x": cx, "y": cy}, "square": {"color": square_color, "x": sx, "y": sy},
               "size": s, "relation": relation, "distractors": distractors},
        images=[_save_png(im, media_dir / f"{uid}.png")],
    )  # fmt: skip


# level: (numbers, largest value, canvas px)
_DIGITS = {1: (2, 9, 64), 2: (3, 9, 64), 3: (3, 20, 96), 4: (4, 50, 96), 5: (5, 99, 128)}
DIGIT_SCALE = 2  # bitmap glyphs (5x7 px of ink) drawn at twice their size
_INKS = ((0, 0, 0), (150, 20, 20), (20, 90, 30), (30, 40, 150), (110, 30, 120))


def digit_arith(rng: random.Random, level: int, media_dir: Path, uid: str) -> Sample:
    """Numbers scattered on a canvas in the bitmap font: what is their sum?"""
    count, top, canvas = _DIGITS[level]
    values = [rng.randint(1, top) for _ in range(count)]
    sizes = [text_size(str(v), DIGIT_SCALE) for v in values]
    side = max(max(w, h) for w, h in sizes)  # place each number in a square box of the largest size
    corners = _place(rng, [side] * count, canvas, gap=4)
    im = Image.new("RGB", (canvas, canvas), WHITE)
    numbers = []
    for v, (x, y) in zip(values, corners):
        ink = _INKS[0] if level <= 2 else rng.choice(_INKS)
        _draw_text(im, (x, y), str(v), ink, DIGIT_SCALE)
        numbers.append({"value": v, "x": x, "y": y, "ink": list(ink)})
    numbers.sort(key=lambda d: (d["y"], d["x"]))  # top to bottom, as a reader would list them
    shown = [d["value"] for d in numbers]
    lines, total = [], shown[0]
    for v in shown[1:]:
        lines.append(f"{total} + {v} = {total + v}")
        total += v
    solution = f"The numbers shown are {_join([str(v) for v in shown])}.\n" + "".join(f"{ln}\n" for ln in lines)
    return _sample(
        uid, "digit_arith", level, "image", question="What is the sum of the numbers shown in the picture?",
        answer=total, answer_type="number", solution=solution + f"\\boxed{{{total}}}",
        scene={"numbers": numbers, "scale": DIGIT_SCALE},
        images=[_save_png(im, media_dir / f"{uid}.png")],
    )  # fmt: skip


# --------------------------------------------------------------------------- video tasks

DIRECTIONS = {
    "left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1),
    "up-left": (-1, -1), "up-right": (1, -1), "down-left": (-1, 1), "down-right": (1, 1),
}  # fmt: skip
_FOUR = ("left", "right", "up", "down")

# level: (frames, frame px, dot radius, step px per frame, directions, static and moving distractor dots)
_MOTION = {
    1: (4, 64, 6, 10, ("left", "right"), (0, 0)),
    2: (5, 64, 5, 8, _FOUR, (0, 0)),
    3: (6, 64, 5, 6, _FOUR, (1, 0)),
    4: (7, 96, 4, 6, tuple(DIRECTIONS), (0, 1)),
    5: (8, 96, 3, 4, tuple(DIRECTIONS), (0, 2)),
}


def _path_start(rng: random.Random, direction: str, length: int, r: int, size: int) -> tuple[int, int]:
    """A start centre from which the whole path stays inside the frame."""
    lo, hi = r + 1, size - r - 2
    return tuple(
        rng.randint(lo, hi - length) if d > 0 else rng.randint(lo + length, hi) if d < 0 else rng.randint(lo, hi)
        for d in DIRECTIONS[direction]
    )


def motion_direction(rng: random.Random, level: int, media_dir: Path, uid: str) -> Sample:
    """A red dot moving in a straight line (plus distractor dots): which direction?"""
    frames_n, size, r, step, directions, (n_static, n_moving) = _MOTION[level]
    fps = rng.choice((2, 3, 4))
    length = step * (frames_n - 1)
    direction = rng.choice(directions)
    start = _path_start(rng, direction, length, r, size)
    dots = [{"color": "red", "direction": direction, "start": list(start), "step": step}]
    others = [c for c in PALETTE if c != "red"]
    for i in range(n_static + n_moving):
        moving = i >= n_static
        d = rng.choice(tuple(DIRECTIONS)) if moving else None
        start_d = list(_path_start(rng, d or "left", length if moving else 0, r, size))
        dots.append({"color": rng.choice(others), "direction": d, "start": start_d, "step": step if moving else 0})
    frames = []
    for t in range(frames_n):
        im = Image.new("RGB", (size, size), WHITE)
        draw = ImageDraw.Draw(im)
        for dot in reversed(dots):  # the red dot last, on top
            dx, dy = DIRECTIONS[dot["direction"]] if dot["direction"] else (0, 0)
            x, y = dot["start"][0] + dx * dot["step"] * t, dot["start"][1] + dy * dot["step"] * t
            draw.ellipse([x - r, y - r, x + r, y + r], fill=PALETTE[dot["color"]])
        frames.append(im)
    if level >= 4:  # 4 of the 8 directions are offered
        offered = [direction, *rng.sample([d for d in directions if d != direction], 3)]
    else:
        offered = list(directions)
    choices, answer = _lettered(rng, offered, direction)
    dx, dy = DIRECTIONS[direction]
    end = (start[0] + dx * length, start[1] + dy * length)
    solution = (
        f"The red dot is at x = {start[0]}, y = {start[1]} in the first frame "
        f"and at x = {end[0]}, y = {end[1]} in the last.\n"
        f"x changes by {dx * length:+d} and y by {dy * length:+d} (y grows downward), "
        f"so it moves {direction}: option {answer}.\n"
        f"\\boxed{{{answer}}}"
    )
    return _sample(
        uid, "motion_direction", level, "video", question="In which direction does the red dot move?",
        answer=answer, answer_type="choice", solution=solution, choices=choices,
        scene={"frames": frames_n, "fps": fps, "size": size, "radius": r, "dots": dots},
        video=_save_mp4(frames, media_dir / f"{uid}.mp4", fps),
    )  # fmt: skip


# level: (shapes, frames, frame px, min frames between the two earliest (or latest), asked)
_FIRST = {
    1: (2, 4, 64, 2, ("first",)),
    2: (2, 4, 64, 1, ("first",)),
    3: (3, 6, 64, 1, ("first",)),
    4: (4, 6, 96, 1, ("first", "last")),
    5: (5, 8, 96, 1, ("first", "last")),
}
EVENT_FPS = 2  # event videos are seen frame by frame at the default VisionSettings(fps=2)


def first_appearance(rng: random.Random, level: int, media_dir: Path, uid: str) -> Sample:
    """Coloured shapes appear one by one and stay: which appears first (or last)?"""
    n, frames_n, size, gap, asked = _FIRST[level]
    which = rng.choice(asked)
    while True:
        starts = sorted(rng.sample(range(frames_n), n))
        if (starts[1] - starts[0] if which == "first" else starts[-1] - starts[-2]) >= gap:
            break
    rng.shuffle(starts)
    s = 14 if size == 64 else 16
    colors = rng.sample(list(PALETTE), n)
    objects = [
        {"color": c, "shape": rng.choice(SHAPES), "x": x, "y": y, "appears": t}
        for c, (x, y), t in zip(colors, _place(rng, [s] * n, size, gap=4), starts)
    ]
    frames = []
    for t in range(frames_n):
        im = Image.new("RGB", (size, size), WHITE)
        draw = ImageDraw.Draw(im)
        for o in objects:
            if t >= o["appears"]:
                _shape(draw, o["shape"], o["x"], o["y"], s, PALETTE[o["color"]])
        frames.append(im)
    name = {id(o): f"the {o['color']} {o['shape']}" for o in objects}
    order = sorted(objects, key=lambda o: o["appears"])
    pick = order[0] if which == "first" else order[-1]
    choices, answer = _lettered(rng, [name[id(o)] for o in objects], name[id(pick)])
    solution = (
        "Appearance frames: " + ", ".join(f"{name[id(o)]} in frame {o['appears'] + 1}" for o in order) + ".\n"
        f"The {which} to appear is {name[id(pick)]}: option {answer}.\n\\boxed{{{answer}}}"
    )
    return _sample(
        uid, "first_appearance", level, "video",
        question=f"Shapes appear one after another and stay. Which shape appears {which}?",
        answer=answer, answer_type="choice", solution=solution, choices=choices,
        scene={"frames": frames_n, "fps": EVENT_FPS, "size": size, "asked": which, "objects": objects},
        video=_save_mp4(frames, media_dir / f"{uid}.mp4", EVENT_FPS),
    )  # fmt: skip


# level: (frames, most flashes, distractor lights)
_EVENTS = {1: (4, 2, 0), 2: (6, 3, 0), 3: (6, 3, 1), 4: (8, 4, 1), 5: (8, 4, 2)}
LIGHT_OFF, EVENT_BACKGROUND = (70, 70, 70), (20, 20, 30)


def _runs(bits: Sequence[int]) -> int:
    """Number of maximal runs of 1s (flashes)."""
    return sum(1 for bit, _ in groupby(bits) if bit)


def count_events(rng: random.Random, level: int, media_dir: Path, uid: str) -> Sample:
    """A red light that is off in the first frame flashes k times: how many times does it turn on?"""
    frames_n, most, n_distract = _EVENTS[level]
    k = rng.randint(1, most)
    while True:
        pattern = [0] + [rng.randint(0, 1) for _ in range(frames_n - 1)]
        if _runs(pattern) == k:
            break
    size, r = 64, 8
    lights = [{"color": "red", "pattern": pattern}]
    for color in rng.sample(["green", "yellow", "blue"], n_distract):
        lights.append({"color": color, "pattern": [rng.randint(0, 1) for _ in range(frames_n)]})
    for light, (x, y) in zip(lights, _place(rng, [2 * r + 1] * len(lights), size, gap=6)):
        light.update(x=x, y=y)
    frames = []
    for t in range(frames_n):
        im = Image.new("RGB", (size, size), EVENT_BACKGROUND)
        draw = ImageDraw.Draw(im)
        for light in lights:
            fill = PALETTE[light["color"]] if light["pattern"][t] else LIGHT_OFF
            draw.ellipse([light["x"], light["y"], light["x"] + 2 * r, light["y"] + 2 * r], fill=fill)
        frames.append(im)
    turns_on = [t + 1 for t in range(1, frames_n) if pattern[t] and not pattern[t - 1]]
    solution = (
        "Red light frame by frame: " + ", ".join("on" if b else "off" for b in pattern) + ".\n"
        f"It turns on at frame{'s' if k > 1 else ''} {_join([str(t) for t in turns_on])}.\n"
        f"That is {_plural(k, 'time')}.\n\\boxed{{{k}}}"
    )
    return _sample(
        uid, "count_events", level, "video",
        question="A red light turns on and off during the video. How many times does it turn on?",
        answer=k, answer_type="number", solution=solution,
        scene={"frames": frames_n, "fps": EVENT_FPS, "size": size, "radius": r, "lights": lights},
        video=_save_mp4(frames, media_dir / f"{uid}.mp4", EVENT_FPS),
    )  # fmt: skip


# --------------------------------------------------------------------------- text tasks

# level: (operations allowed, largest +/- operand, largest multiplier)
_ARITH = {1: ("+-", 9, 0), 2: ("+-", 20, 0), 3: ("+-*", 30, 5), 4: ("+-*/", 50, 6), 5: ("+-*/", 99, 9)}
_OP_WORDS = {"+": "add {k}", "-": "subtract {k}", "*": "multiply by {k}", "/": "divide by {k}"}
_OP_SIGNS = {"+": "+", "-": "-", "*": "×", "/": "÷"}
MAX_VALUE = 999


def _apply(op: str, a: int, k: int) -> int:
    return {"+": a + k, "-": a - k, "*": a * k, "/": a // k}[op]


def _operation(rng: random.Random, ops: str, a: int, top: int, top_mul: int) -> tuple[str, int]:
    """One operation on `a` that keeps every value a whole number in 0..MAX_VALUE."""
    while True:
        op = rng.choice(ops)
        if op == "+" and a + 1 <= MAX_VALUE:
            return op, rng.randint(1, min(top, MAX_VALUE - a))
        if op == "-" and a >= 2:  # never down to 0, which would make 0 a common answer
            return op, rng.randint(1, min(top, a - 1))
        if op == "*" and a >= 1 and 2 * a <= MAX_VALUE:
            return op, rng.randint(2, min(top_mul, MAX_VALUE // a))
        if op == "/" and (divisors := [d for d in range(2, 10) if a % d == 0 and a // d >= 1 and a > 0]):
            return op, rng.choice(divisors)


def arith_chain(rng: random.Random, level: int, media_dir: Path | None, uid: str) -> Sample:
    """Start with a number and apply `level` operations."""
    ops, top, top_mul = _ARITH[level]
    value = start = rng.randint(max(2, top // 4), max(9, top))
    steps, lines = [], []
    for _ in range(level):
        op, k = _operation(rng, ops, value, top, top_mul)
        new = _apply(op, value, k)
        steps.append([op, k])
        lines.append(f"{value} {_OP_SIGNS[op]} {k} = {new}")
        value = new
    words = [_OP_WORDS[op].format(k=k) for op, k in steps]
    then = "".join(f", then {w}" for w in words[1:])
    question = f"Start with {start}. {words[0].capitalize()}{then}. What is the result?"
    return _sample(
        uid, "arith_chain", level, "text", question=question, answer=value, answer_type="number",
        solution="\n".join(lines) + f"\n\\boxed{{{value}}}", scene={"start": start, "steps": steps},
    )  # fmt: skip


# level: (events, event kinds, largest number)
_WORD = {
    1: (1, ("add", "remove"), 9),
    2: (2, ("add", "remove", "packs"), 12),
    3: (3, ("add", "remove", "packs", "times"), 15),
    4: (4, ("add", "remove", "packs", "times", "split"), 20),
    5: (5, ("add", "remove", "packs", "times", "split"), 25),
}
_NAMES = ("Ana", "Ben", "Chen", "Dina", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jia", "Kofi", "Lena")
_ITEMS = ("apples", "marbles", "stickers", "pencils", "coins", "shells", "cards", "stamps")
_ADD = ("{n} buys {k} more {item}.", "{n} finds {k} {item}.", "{f} gives {n} {k} {item}.")
_REMOVE = ("{n} gives {k} {item} to {f}.", "{n} loses {k} {item}.", "{n} sells {k} {item}.")


def word_problem(rng: random.Random, level: int, media_dir: Path | None, uid: str) -> Sample:
    """A short story of `level` events changing how many things someone has."""
    events_n, kinds, top = _WORD[level]
    n, f = rng.sample(_NAMES, 2)
    item = rng.choice(_ITEMS)
    value = start = rng.randint(2, top)
    sentences, lines, events = [f"{n} has {start} {item}."], [f"{n} starts with {start}."], []
    for _ in range(events_n):
        while True:
            kind = rng.choice(kinds)
            if kind == "add":
                k = rng.randint(2, top)
                text, line, new = rng.choice(_ADD), f"Gets {k}: {value} + {k} = {value + k}.", value + k
            elif kind == "remove" and value >= 3:
                k = rng.randint(2, min(top, value - 1))
                text, line, new = rng.choice(_REMOVE), f"Gives away {k}: {value} - {k} = {value - k}.", value - k
            elif kind == "packs":
                m, k = rng.randint(2, 4), rng.randint(2, 6)
                text = f"{{n}} buys {m} packs of {{item}} with {k} in each pack."
                line, new = f"Buys {m} × {k} = {m * k}: {value} + {m * k} = {value + m * k}.", value + m * k
            elif kind == "times" and value <= 60:
                m = rng.choice((2, 3))
                text = "The number of {item} {n} has " + ("doubles." if m == 2 else "triples.")
                line, new = f"{'Doubles' if m == 2 else 'Triples'}: {value} × {m} = {value * m}.", value * m
            elif kind == "split" and (parts := [m for m in (2, 3, 4, 5) if value % m == 0 and value > m]):
                m = rng.choice(parts)
                text = f"{{n}} splits the {{item}} into {m} equal groups and keeps one group."
                line, new = f"Keeps one of {m} groups: {value} ÷ {m} = {value // m}.", value // m
            else:
                continue
            break
        sentences.append(text.format(n=n, f=f, k=k if kind in ("add", "remove") else "", item=item))
        lines.append(line)
        events.append({"kind": kind, "before": value, "after": new})
        value = new
    question = " ".join(sentences) + f" How many {item} does {n} have now?"
    return _sample(
        uid, "word_problem", level, "text", question=question, answer=value, answer_type="number",
        solution="\n".join(lines) + f"\n\\boxed{{{value}}}", scene={"events": events},
    )  # fmt: skip


def _fact(rng: random.Random, level: int) -> tuple[str, int]:
    """An arithmetic expression of the level's kind, and its value."""
    if level == 1:
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        return f"{a} + {b}", a + b
    if level == 2:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        return (f"{a} + {b}", a + b) if rng.randint(0, 1) else (f"{max(a, b)} - {min(a, b)}", abs(a - b))
    if level == 3:
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        return f"{a} × {b}", a * b
    if level == 4:
        a, b = rng.randint(11, 25), rng.randint(2, 9)
        return f"{a} × {b}", a * b
    a, b, c = rng.randint(2, 12), rng.randint(2, 12), rng.randint(2, 9)
    return (f"{a} × {b} + {c}", a * b + c) if rng.randint(0, 1) else (f"({a} + {b}) × {c}", (a + b) * c)


_NEAR_MISSES = {1: (1, 2, 3), 2: (1, 2, 10), 3: (1, 2, 3), 4: (1, 2, 10), 5: (1, 2, 10)}


def choose_option(rng: random.Random, level: int, media_dir: Path | None, uid: str) -> Sample:
    """Four arithmetic statements, one true and three off by a near miss: which is true?"""
    facts: dict[str, int] = {}
    while len(facts) < 4:
        expr, value = _fact(rng, level)
        facts.setdefault(expr, value)
    options, truth = [], {}
    for i, (expr, value) in enumerate(facts.items()):
        shown = value
        if i:  # the first fact is the true one; the others show a near miss
            while shown == value or shown < 0:
                shown = value + rng.choice((-1, 1)) * rng.choice(_NEAR_MISSES[level])
        options.append(f"{expr} = {shown}")
        truth[options[-1]] = (expr, value)
    correct = options[0]
    choices, answer = _lettered(rng, options, correct)
    lines = [
        f"{LETTERS[i]}: {truth[o][0]} is {truth[o][1]}, so it is " + ("true." if o == correct else "false.")
        for i, o in enumerate(choices)
    ]
    return _sample(
        uid, "choose_option", level, "text", question="Which of these statements is true?",
        answer=answer, answer_type="choice", choices=choices,
        solution="\n".join(lines) + f"\nOnly {answer} is true.\n\\boxed{{{answer}}}",
        scene={"options": choices},
    )  # fmt: skip


# --------------------------------------------------------------------------- registry

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("count_color", "image", LEVELS, count_color),
        Task("bar_compare", "image", LEVELS, bar_compare),
        Task("spatial", "image", LEVELS, spatial),
        Task("digit_arith", "image", LEVELS, digit_arith),
        Task("motion_direction", "video", LEVELS, motion_direction),
        Task("first_appearance", "video", LEVELS, first_appearance),
        Task("count_events", "video", LEVELS, count_events),
        Task("arith_chain", "text", LEVELS, arith_chain),
        Task("word_problem", "text", LEVELS, word_problem),
        Task("choose_option", "text", LEVELS, choose_option),
    )
}


def main(argv: list[str] | None = None) -> None:
    """`python -m mmzppo.data.synthetic --out DIR`: write items as JSONL plus their media."""
    parser = argparse.ArgumentParser(prog="python -m mmzppo.data.synthetic", description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for samples.jsonl and media/")
    parser.add_argument("--tasks", default=None, help=f"comma-separated, default all: {','.join(TASKS)}")
    parser.add_argument("--n", type=int, default=10, help="items per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="train", choices=SPLITS)
    parser.add_argument("--levels", default=None, help="comma-separated levels, default 1..5 cycled")
    args = parser.parse_args(argv)
    tasks = args.tasks.split(",") if args.tasks else None
    levels = [int(v) for v in re.split(r"[,\s]+", args.levels.strip())] if args.levels else None
    args.out.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(args.out / "samples.jsonl", "w") as f:
        for sample in generate_suite(tasks, args.n, args.seed, args.split, args.out / "media", levels):
            f.write(json.dumps(sample.to_dict()) + "\n")
            count += 1
    print(f"wrote {count} samples to {args.out / 'samples.jsonl'}")


if __name__ == "__main__":
    main()
