"""Image tasks of the synthetic suite: count_color, bar_compare, spatial, digit_arith (levels in the package docstring)."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

from mmzppo.data.formats import LETTERS
from mmzppo.data.sample import Sample
from mmzppo.data.synthetic.draw import (
    BLACK,
    GRID_GRAY,
    PALETTE,
    SHAPES,
    WHITE,
    _draw_text,
    _join,
    _lettered,
    _place,
    _plural,
    _sample,
    _save_png,
    _shape,
    text_size,
)

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
        uid,
        "count_color",
        level,
        "image",
        question=f"How many {name}s are there in the picture?",
        answer=len(hits),
        answer_type="number",
        solution=solution + f"\\boxed{{{len(hits)}}}",
        scene={"grid": g, "target": [color, shape], "objects": objects},
        images=[_save_png(im, media_dir / f"{uid}.png")],
    )


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
        uid,
        "bar_compare",
        level,
        "image",
        question=question,
        answer=answer,
        answer_type=answer_type,
        solution=solution + f"\\boxed{{{answer}}}",
        choices=choices,
        scene={"kind": kind, "bars": bars, "color": bar_color, "unit_px": unit},
        images=[_save_png(im, media_dir / f"{uid}.png")],
    )


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
        uid,
        "spatial",
        level,
        "image",
        question=question,
        answer=answer,
        answer_type=answer_type,
        solution=solution + f"\\boxed{{{answer}}}",
        choices=choices,
        scene={
            "circle": {"color": circle_color, "x": cx, "y": cy},
            "square": {"color": square_color, "x": sx, "y": sy},
            "size": s,
            "relation": relation,
            "distractors": distractors,
        },
        images=[_save_png(im, media_dir / f"{uid}.png")],
    )


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
        uid,
        "digit_arith",
        level,
        "image",
        question="What is the sum of the numbers shown in the picture?",
        answer=total,
        answer_type="number",
        solution=solution + f"\\boxed{{{total}}}",
        scene={"numbers": numbers, "scale": DIGIT_SCALE},
        images=[_save_png(im, media_dir / f"{uid}.png")],
    )
