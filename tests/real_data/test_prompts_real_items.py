"""Prompts of a real benchmark item (MathVision item 4, from ../shared/benchdata) encoded by a
tiny Qwen3.5: the converted question and its image, once, in every prompt kind."""

from __future__ import annotations

import random

import pytest
from helpers import batch

from mmzppo.data.formats import mathvision_sample, read_jsonl
from mmzppo.prompting.builders import bcq, ncq, plain

TEACHER = "<think>\nThe picture shows the digits 1, 2, 3, 4, 5 and 6.\nEach is different.\n</think>\nSo there are six distinct digits.\n\\boxed{6}"
WRONG = "<think>\nI count the numbers I see: 1, 2, 3, 4 and 5.\n</think>\n\\boxed{5}"


@pytest.fixture(scope="module")
def image_sample(benchdata):
    root = benchdata / "vlm/mathvision"
    return mathvision_sample(next(read_jsonl(root / "testmini.jsonl")), root)  # id 4, answer 6


def text_of(prompt) -> str:
    return prompt.messages[-1]["content"][-1]["text"]


def media_of(prompt) -> list[dict]:
    return [p for m in prompt.messages for p in m["content"] if p["type"] in ("image", "video")]


def test_media_tokens_once_after_encoding(tiny_xs, image_sample):
    """The real MathVision item: its `<image1>` placeholder gone from the text (the image is a
    content part), and its image tokens the same in plain, BCQ and NCQ prompts."""
    p = plain(image_sample)
    assert p.uid == "mathvision-4" and text_of(p).startswith("How many different digits")
    assert "<image1>" not in text_of(p) and len(media_of(p)) == 1
    image_id = tiny_xs.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    counts = []
    for p in (plain(image_sample), bcq(image_sample, TEACHER, WRONG, random.Random(0)), ncq(image_sample, [WRONG])):
        ids = batch(tiny_xs.processor, [p], tiny_xs.vision)["input_ids"]
        counts.append(int((ids == image_id).sum()))
    assert counts[0] > 0 and len(set(counts)) == 1
