"""A local tiny Qwen3.5 teacher compresses candidates, by truncation and with the model: at most
five lines, the final answer kept."""

from __future__ import annotations

import pytest
from helpers import LONG_RESPONSE, WRONG_RESPONSE, assert_compressed


@pytest.mark.parametrize("with_model", [False, True], ids=["truncate", "model"])
def test_compress_keeps_count_lines_and_answer(local_teacher, with_model):
    local_teacher.compress_with_model = with_model
    try:
        responses = [LONG_RESPONSE, WRONG_RESPONSE, "no boxed answer at all"]
        assert_compressed(local_teacher.compress(responses), responses)
    finally:
        local_teacher.compress_with_model = False
