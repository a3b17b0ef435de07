"""Video tasks of the synthetic suite: motion_direction, first_appearance, count_events (mp4, levels in the package docstring)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

from PIL import Image, ImageDraw

from mmzppo.data.sample import Sample
from mmzppo.data.synthetic.draw import (
    PALETTE,
    SHAPES,
    WHITE,
    _join,
    _lettered,
    _place,
    _plural,
    _sample,
    _save_mp4,
    _shape,
)

DIRECTIONS = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
    "up-left": (-1, -1),
    "up-right": (1, -1),
    "down-left": (-1, 1),
    "down-right": (1, 1),
}
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
        uid,
        "motion_direction",
        level,
        "video",
        question="In which direction does the red dot move?",
        answer=answer,
        answer_type="choice",
        solution=solution,
        choices=choices,
        scene={"frames": frames_n, "fps": fps, "size": size, "radius": r, "dots": dots},
        video=_save_mp4(frames, media_dir / f"{uid}.mp4", fps),
    )


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
        uid,
        "first_appearance",
        level,
        "video",
        question=f"Shapes appear one after another and stay. Which shape appears {which}?",
        answer=answer,
        answer_type="choice",
        solution=solution,
        choices=choices,
        scene={"frames": frames_n, "fps": EVENT_FPS, "size": size, "asked": which, "objects": objects},
        video=_save_mp4(frames, media_dir / f"{uid}.mp4", EVENT_FPS),
    )


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
        uid,
        "count_events",
        level,
        "video",
        question="A red light turns on and off during the video. How many times does it turn on?",
        answer=k,
        answer_type="number",
        solution=solution,
        scene={"frames": frames_n, "fps": EVENT_FPS, "size": size, "radius": r, "lights": lights},
        video=_save_mp4(frames, media_dir / f"{uid}.mp4", EVENT_FPS),
    )
