"""Prompt builders on real benchmark items: structure, shuffling, media once, compression."""

from __future__ import annotations

import random
import re

import pytest
from helpers import batch

from mmzppo.data.formats import mathvision_sample, mmlu_sample, read_jsonl, tempcompass_sample
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.prompting.builders import bcq, hint, load_templates, ncq, plain, prefix, render
from mmzppo.prompting.compress import truncate_candidates

CLOSER = render("plain", question="Q").split("\n\n")[-1]
TEACHER = "<think>\nThe picture shows the digits 1, 2, 3, 4, 5 and 6.\nEach is different.\n</think>\nSo there are six distinct digits.\n\\boxed{6}"
WRONG = "<think>\nI count the numbers I see: 1, 2, 3, 4 and 5.\n</think>\n\\boxed{5}"


@pytest.fixture(scope="module")
def image_sample(benchdata):
    root = benchdata / "vlm/mathvision"
    return mathvision_sample(next(read_jsonl(root / "testmini.jsonl")), root)  # id 4, answer 6


@pytest.fixture(scope="module")
def video_sample(benchdata):
    root = benchdata / "video/tempcompass"
    return tempcompass_sample(next(read_jsonl(root / "test.jsonl")), root, 0)


@pytest.fixture(scope="module")
def mmlu(benchdata):
    return mmlu_sample(next(read_jsonl(benchdata / "llm/mmlu/test.jsonl")), 0)


def text_of(prompt) -> str:
    return prompt.messages[-1]["content"][-1]["text"]


def media_of(prompt) -> list[dict]:
    return [p for m in prompt.messages for p in m["content"] if p["type"] in ("image", "video")]


def candidates_in(text: str) -> list[str]:
    return re.findall(r"<candidate>\n(.*?)\n</candidate>", text, flags=re.S)


def test_plain_prompt(image_sample, mmlu):
    p = plain(image_sample)
    assert p.kind == "plain" and p.uid == "mathvision-4"
    assert media_of(p) == [{"type": "image", "image": image_sample.images[0]}]
    assert text_of(p).startswith("How many different digits") and text_of(p).endswith(CLOSER)
    assert "<image1>" not in text_of(p)
    q = text_of(plain(mmlu))
    for i, choice in enumerate(mmlu.choices):
        assert f"{'ABCD'[i]}. {choice}" in q  # options lettered in order


def test_options_inside_question_are_not_repeated(video_sample):
    text = text_of(plain(video_sample))
    for option in video_sample.choices:
        assert text.count(option) == 1


def test_bcq_structure(image_sample):
    p = bcq(image_sample, TEACHER, WRONG, random.Random(0))
    text = text_of(p)
    cands = candidates_in(text)
    assert len(cands) == 2 and text.count("<candidate>\n") == 2
    assert [c.text for c in p.candidates] == cands
    assert sorted(c.label for c in p.candidates) == ["student_wrong", "teacher_correct"]
    assert sorted(extract_last_boxed(c) for c in cands) == ["5", "6"]  # both final answers kept
    for label in ("teacher_correct", "student_wrong"):
        assert label not in text  # labels never reach the model
    assert text.startswith("How many different digits") and text.endswith(CLOSER)
    assert "exactly one" in text.lower()
    assert len(media_of(p)) == 1


def test_bcq_order_is_shuffled_and_seeded(image_sample):
    orders = {tuple(c.label for c in bcq(image_sample, TEACHER, WRONG, random.Random(s)).candidates) for s in range(20)}
    assert len(orders) == 2
    first = [c.label for c in bcq(image_sample, TEACHER, WRONG, random.Random(7)).candidates]
    assert first == [c.label for c in bcq(image_sample, TEACHER, WRONG, random.Random(7)).candidates]


def test_bcq_candidates_have_matched_lengths(image_sample):
    long_teacher = TEACHER.replace("Each is different.", "Each is different. " + "I check every one carefully. " * 30)
    cands = candidates_in(text_of(bcq(image_sample, long_teacher, WRONG, random.Random(0))))
    reasoning_words = [len(c.rsplit("\n", 1)[0].split()) for c in cands]
    assert reasoning_words[0] == reasoning_words[1]


def test_ncq_structure(image_sample):
    wrongs = [WRONG, WRONG.replace("{5}", "{7}"), WRONG, "I am not sure about this one."]
    p = ncq(image_sample, wrongs)
    text = text_of(p)
    assert p.wrong_answers == ["5", "7"]  # distinct, first-seen order, unanswered one not listed
    assert "all known to be wrong: 5, 7." in text
    assert len(candidates_in(text)) == 4 and all(c.label == "student_wrong" for c in p.candidates)
    assert "six distinct digits" not in text  # no teacher text
    assert text.endswith(CLOSER) and len(media_of(p)) == 1
    with pytest.raises(ValueError, match="at least one wrong"):
        ncq(image_sample, [])


def test_video_prompts_keep_the_video_once(video_sample):
    for p in (plain(video_sample), bcq(video_sample, TEACHER, WRONG, random.Random(1)), ncq(video_sample, [WRONG])):
        assert [m["type"] for m in media_of(p)] == ["video"]


def test_media_tokens_once_after_encoding(tiny_xs, image_sample):
    image_id = tiny_xs.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    counts = []
    for p in (plain(image_sample), bcq(image_sample, TEACHER, WRONG, random.Random(0)), ncq(image_sample, [WRONG])):
        ids = batch(tiny_xs.processor, [p], tiny_xs.vision)["input_ids"]
        counts.append(int((ids == image_id).sum()))
    assert counts[0] > 0 and len(set(counts)) == 1


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


def test_truncate_candidates_fallback():
    out = truncate_candidates(
        ["a b c\nd e f g h\ni j\nk\nl\nm n\n\\boxed{1}", "x y\n\\boxed{\\frac{1}{2}}", "no answer"]
    )
    assert [extract_last_boxed(o) for o in out] == ["1", "\\frac{1}{2}", None]
    assert all(len(o.splitlines()) <= 5 for o in out)
    bodies = [o.split("\nFinal answer")[0] for o in out[:2]]
    assert bodies == ["a b", "x y"]  # all cut to the shortest reasoning: 2 words ("x y", "no answer")
    assert (
        truncate_candidates(["one two three\n\\boxed{3}"] * 2, max_lines=2)
        == ["one two three\nFinal answer: \\boxed{3}"] * 2
    )


def test_templates_file_is_complete():
    assert {"closer", "plain", "bcq", "ncq", "hint", "option_line"} <= set(load_templates())
