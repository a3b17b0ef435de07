"""Drawing and writing helpers shared by the synthetic tasks: palette, bitmap text, shapes,
placement without overlap, PNG / mp4 files, and the `Sample` every task returns."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mmzppo.data.formats import LETTERS
from mmzppo.data.sample import Sample

PALETTE = {  # saturated and far apart, so they survive yuv420p and are easy to tell apart
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (40, 80, 220),
    "yellow": (230, 190, 20),
    "purple": (150, 50, 190),
}
SHAPES = ("square", "circle", "triangle")
WHITE, BLACK, GRID_GRAY = (255, 255, 255), (0, 0, 0), (215, 215, 215)


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
        uid=uid,
        question=question,
        answer=str(answer),
        answer_type=answer_type,
        solution=solution,
        source=task,
        meta={"task": task, "level": level, "modality": modality, "scene": scene},
        **kw,
    )


def _lettered(rng: random.Random, options: list[str], correct: str) -> tuple[list[str], str]:
    """Options shuffled with `rng`, and the letter of the correct one."""
    options = list(options)
    rng.shuffle(options)
    return options, LETTERS[options.index(correct)]
