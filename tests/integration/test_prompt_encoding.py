"""Hint and prefix prompts through a tiny Qwen3.5 (a synthetic image question): the hint's tags,
the prefix cut at 40% of the teacher's tokens, the user turn closed once."""

from __future__ import annotations

import pytest
from helpers import batch

from mmzppo.data.synthetic import generate
from mmzppo.prompting.builders import hint, prefix, render

CLOSER = render("plain", question="Q").split("\n\n")[-1]
TEACHER = "<think>\nThe picture shows the digits 1, 2, 3, 4, 5 and 6.\nEach is different.\n</think>\nSo there are six distinct digits.\n\\boxed{6}"


@pytest.fixture(scope="module")
def image_sample(tmp_path_factory):
    return next(generate("count_color", 1, 0, "train", tmp_path_factory.mktemp("prompt_media")))


def text_of(prompt) -> str:
    return prompt.messages[-1]["content"][-1]["text"]


def test_hint_and_prefix(tiny_xs, image_sample):
    h = text_of(hint(image_sample, "Count each different digit only once."))
    assert "<hint>\nCount each different digit only once.\n</hint>" in h and h.endswith(CLOSER)
    with pytest.raises(ValueError):
        hint(image_sample, "  ")
    p = prefix(image_sample, TEACHER, tiny_xs.tokenizer, 0.4)
    assert p.continue_final and p.messages[-1]["role"] == "assistant"
    head = p.messages[-1]["content"][0]["text"]
    assert TEACHER.startswith(head) and p.assistant_prefix == head
    teacher_ids = tiny_xs.tokenizer(TEACHER, add_special_tokens=False)["input_ids"]
    head_ids = tiny_xs.tokenizer(head, add_special_tokens=False)["input_ids"]
    assert head_ids == teacher_ids[: int(0.4 * len(teacher_ids))]  # 40% of the TOKENS, not of the words
    ids = batch(tiny_xs.processor, [p], tiny_xs.vision)["input_ids"][0]
    decoded = tiny_xs.tokenizer.decode(ids)
    assert decoded.endswith(head) and decoded.count("<|im_end|>") == 1  # the user turn only
    with pytest.raises(ValueError):
        prefix(image_sample, TEACHER, tiny_xs.tokenizer, 1.0)
