"""The recipe's checks on one row group: bad rows and filters, each drop counted by reason.

A row goes through, in this order (the first check it fails is the reason it is counted
under): its sub-dataset (rows of a sub-dataset that Vero also holds are taken from Vero, so
MMFineReason's copies stop here), the row's fields (`sources.vero_row` /
`sources.mmfinereason_row`: missing column, empty or non-string answer, `<image>` markers,
reward type, pass_rate, answer length), its image (missing, a list of several, undecodable,
smaller than `min_image_side`) and the length of its base prompt under the processor.

The base prompt is what `mmzppo.prompting.builders.plain` makes of the question, through the
processor's chat template: the image's tokens (the image sized by the recipe's
VisionSettings, as `mmzppo.data.media.load_media` sizes it), the question, the closer, the
generation prompt. It is counted without decoding pixels for the processor: the image tokens
follow from the sized image's height and width (tested against the real encoding).

A row that passes leaves its sub-dataset, position and a duplicate key (a hash of the image's
bytes and the question) for the selection, which runs after every group is scanned.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter, defaultdict
from pathlib import Path

from PIL import Image

import mmzppo  # noqa: F401  (torchvision compat before transformers loads vision code)
from mmzppo.data.zppo77k.recipe import EXCLUDED, UNMAPPED, Recipe
from mmzppo.data.zppo77k.sources import (
    TEXT_COLUMNS,
    Drop,
    SourceFile,
    image_bytes,
    mmfinereason_row,
    read_group,
    vero_row,
)

TAKEN_FROM_VERO = "taken from Vero"
MAX_EXAMPLES = 3  # rows named per drop reason and row group


class ProcessorError(ValueError):
    """--processor names no usable vision-language processor."""


class PromptCounter:
    """Tokens of a question's base prompt under a processor (a local model folder)."""

    def __init__(self, processor: str | Path, recipe: Recipe):
        from qwen_vl_utils.vision_process import smart_resize
        from transformers import AutoProcessor

        self.smart_resize = smart_resize  # qwen-vl-utils' sizing rule, the one load_media applies
        if not Path(processor).is_dir():
            raise ProcessorError(f"{processor}: no such folder (--processor takes a local model folder)")
        try:
            self.processor = AutoProcessor.from_pretrained(str(processor))
        except (OSError, ValueError) as e:
            raise ProcessorError(f"{processor}: cannot load a processor ({type(e).__name__}: {e})") from None
        image_processor = getattr(self.processor, "image_processor", None)
        if image_processor is None or not hasattr(self.processor, "image_token"):
            raise ProcessorError(f"{processor}: not a vision-language processor (no image processor or image token)")
        self.token_pixels = (image_processor.patch_size * image_processor.merge_size) ** 2
        self.image_pad = self.processor.tokenizer.convert_tokens_to_ids(self.processor.image_token)
        self.vision, self.closer = recipe.vision, recipe.closer

    def image_tokens(self, width: int, height: int) -> int:
        """LLM tokens of one image: sized under the VisionSettings (qwen-vl-utils' rule), then
        one token per merged patch."""
        v = self.vision
        h, w = self.smart_resize(height, width, factor=v.factor, min_pixels=v.min_pixels, max_pixels=v.max_pixels)
        return h * w // self.token_pixels

    def __call__(self, question: str, width: int, height: int) -> int:
        text = f"{question.strip()}\n\n{self.closer}"  # the plain template: question, blank line, closer
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
        chat = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = self.processor.tokenizer(chat, add_special_tokens=False, verbose=False)["input_ids"]
        return len(ids) - ids.count(self.image_pad) + self.image_tokens(width, height)


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of fully decoded image bytes (a truncated file fails here), or Drop."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return im.size
    except Exception:  # PIL raises several types for bad data
        raise Drop("undecodable image") from None


def duplicate_key(data: bytes, question: str) -> str:
    """Same image bytes and same question text: the same row."""
    h = hashlib.blake2b(data, digest_size=16)
    h.update(b"\0" + question.encode())
    return h.hexdigest()


def scan_group(
    file: SourceFile, index: int, recipe: Recipe, counter: PromptCounter | None, from_vero: frozenset[str]
) -> dict:
    """Every row of one row group through the checks; the result is plain JSON:
    rows, counts (sub-dataset -> reason -> rows, "seen" included), unused (MMFineReason
    sources the recipe does not use -> rows), passed ([sub-dataset, position, key]) and
    examples (reason -> a few "file#rowN")."""
    first = sum(file.group_rows[:index])
    table = read_group(file, index, TEXT_COLUMNS[file.side])
    counts: dict[str, Counter] = defaultdict(Counter)
    unused: Counter = Counter()
    examples: dict[str, list[str]] = defaultdict(list)

    def drop(name: str, reason: str, position: int) -> None:
        counts[name][reason] += 1
        if len(examples[reason]) < MAX_EXAMPLES:
            examples[reason].append(f"{file.path}#row{position}")

    todo = []  # (position, sub-dataset, Row) of rows that need their image checked
    for i, record in enumerate(table.to_pylist() if table.num_columns else [{}] * file.group_rows[index]):
        position = first + i
        if file.side == "vero":
            name = recipe.classify("vero", file.group)
        else:
            source = record.get("source")
            if not isinstance(source, str) or not source:
                unused["(missing column source)"] += 1
                continue
            name = recipe.classify("mmfinereason", source)
            if name in (EXCLUDED, UNMAPPED):
                unused[source] += 1
                continue
        counts[name]["seen"] += 1
        if file.side == "mmfinereason" and name in from_vero:
            counts[name][TAKEN_FROM_VERO] += 1
            continue
        try:
            row = vero_row(record, file.group, recipe) if file.side == "vero" else mmfinereason_row(record, recipe)
        except Drop as d:
            drop(name, d.reason, position)
            continue
        todo.append((position, name, row))

    passed = []
    images = read_group(file, index, ["image"]) if todo and "image" in file.columns else None
    for position, name, row in todo:
        try:
            if images is None:
                raise Drop("missing column image")
            data = image_bytes(images.column("image")[position - first].as_py())
            width, height = image_size(data)
            if min(width, height) < recipe.min_image_side:
                raise Drop(f"image under {recipe.min_image_side} px")
            if counter is not None and counter(row.question, width, height) > recipe.max_prompt_tokens:
                raise Drop(f"prompt over {recipe.max_prompt_tokens} tokens")
        except Drop as d:
            drop(name, d.reason, position)
            continue
        passed.append([name, position, duplicate_key(data, row.question)])
    return {
        "rows": file.group_rows[index],
        "counts": {name: dict(c) for name, c in counts.items()},
        "unused": dict(unused),
        "passed": passed,
        "examples": dict(examples),
    }
