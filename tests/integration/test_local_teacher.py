"""A local tiny Qwen3.5 teacher compresses candidates, by truncation and with the model: at most
five lines, the final answer kept."""

from __future__ import annotations

import pytest

from mmzppo.grading.boxed import extract_last_boxed

LONG_RESPONSE = "\n".join(
    ["<think>", *(f"Step {i}: add {i} apples to the basket and count again." for i in range(9)), "</think>"]
    + ["So the total is \\boxed{36}."]
)
WRONG_RESPONSE = "The basket has 12 apples, so \\boxed{12}.\nI am sure."


def assert_compressed(out, responses):
    assert len(out) == len(responses)
    for summary, original in zip(out, responses):
        assert len(summary.splitlines()) <= 5
        assert extract_last_boxed(summary) == extract_last_boxed(original)


@pytest.mark.parametrize("with_model", [False, True], ids=["truncate", "model"])
def test_compress_keeps_count_lines_and_answer(local_teacher, with_model):
    local_teacher.compress_with_model = with_model
    try:
        responses = [LONG_RESPONSE, WRONG_RESPONSE, "no boxed answer at all"]
        assert_compressed(local_teacher.compress(responses), responses)
    finally:
        local_teacher.compress_with_model = False
