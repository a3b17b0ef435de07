"""Prompt builders on synthetic questions: structure, shuffling, media once, compression (the
prompts of real benchmark items encoded by a tiny model: tests/real_data/test_prompts_real_items.py;
hint and prefix through its tokenizer: tests/integration/test_prompt_encoding.py)."""

from __future__ import annotations

import random
import re

import pytest

from mmzppo.data.sample import Sample
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.prompting.builders import bcq, load_templates, ncq, plain, render
from mmzppo.prompting.compress import cut_to_shortest, truncate_candidates, was_cut

CLOSER = render("plain", question="Q").split("\n\n")[-1]
TEACHER = "<think>\nThe picture shows the digits 1, 2, 3, 4, 5 and 6.\nEach is different.\n</think>\nSo there are six distinct digits.\n\\boxed{6}"
WRONG = "<think>\nI count the numbers I see: 1, 2, 3, 4 and 5.\n</think>\n\\boxed{5}"


OPTIONS = [
    "A. A person drops down the pineapple",
    "B. A person pushes forward the pineapple",
    "C. A person rotates the pineapple",
    "D. A person picks up the pineapple",
]


# Questions shaped like real ones (a free-form image question, a video question that lists its
# options itself, a four-option text question); the media are paths, never read here.
@pytest.fixture
def image_sample(tmp_path):
    return Sample(
        uid="digits-4",
        question="How many different digits can you find in this picture?",
        answer="6",
        images=[str(tmp_path / "digits.png")],
        source="synthetic",
    )


@pytest.fixture
def video_sample(tmp_path):
    return Sample(
        uid="pineapple-0",
        question="What is happening in the video? \n" + "\n".join(OPTIONS),
        answer=OPTIONS[3],
        answer_type="choice",
        video=str(tmp_path / "pineapple.mp4"),
        choices=OPTIONS,
        source="synthetic",
    )


@pytest.fixture
def choice_sample():
    return Sample(
        uid="biology-0",
        question="Which of these lowers the number of mosquitoes an environment can support?",
        answer="C",
        answer_type="choice",
        choices=[
            "keep the population at the midpoint of its logistic curve",
            "stop all control once the curve levels off",
            "reduce the carrying capacity of the environment",
            "increase the birth rate",
        ],
        source="synthetic",
    )


def text_of(prompt) -> str:
    return prompt.messages[-1]["content"][-1]["text"]


def media_of(prompt) -> list[dict]:
    return [p for m in prompt.messages for p in m["content"] if p["type"] in ("image", "video")]


def candidates_in(text: str) -> list[str]:
    return re.findall(r"<candidate>\n(.*?)\n</candidate>", text, flags=re.S)


def test_plain_prompt(image_sample, choice_sample):
    p = plain(image_sample)
    assert p.kind == "plain" and p.uid == "digits-4"
    assert media_of(p) == [{"type": "image", "image": image_sample.images[0]}]
    assert text_of(p).startswith("How many different digits") and text_of(p).endswith(CLOSER)
    q = text_of(plain(choice_sample))
    for i, choice in enumerate(choice_sample.choices):
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


def test_bcq_keeps_a_fitting_gold_whole_beside_a_short_wrong_answer(image_sample):
    """Spec section 3: each candidate capped on its own; nothing is cut to the other's length,
    and both end with their final-answer line (no cue of form)."""
    gold = "Step 1: 3 + 4 = 7\nStep 2: 7 x 2 = 14\nStep 3: 14 - 5 = 9\n\\boxed{9}"
    cands = candidates_in(text_of(bcq(image_sample, gold, "It is \\boxed{2}", random.Random(0))))
    assert sorted(cands) == sorted(
        [
            "Step 1: 3 + 4 = 7\nStep 2: 7 x 2 = 14\nStep 3: 14 - 5 = 9\nFinal answer: \\boxed{9}",
            "It is\nFinal answer: \\boxed{2}",
        ]
    )
    assert all(c.splitlines()[-1].startswith("Final answer: ") for c in cands)


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


def test_truncate_candidates_caps_each_candidate_on_its_own():
    long = "a b c\nd e f g h\ni j\nk\nl\nm n\n\\boxed{1}"
    out = truncate_candidates([long, "x y\n\\boxed{\\frac{1}{2}}", "no answer"])
    assert [extract_last_boxed(o) for o in out] == ["1", "\\frac{1}{2}", None]
    assert all(len(o.splitlines()) <= 5 for o in out)
    assert out[0] == "a b c\nd e f g h\ni j\nk l m n\nFinal answer: \\boxed{1}"  # folded, not cut
    assert out[2] == "no answer\nFinal answer: (no boxed answer)"  # every candidate ends with that line
    assert not any(was_cut(r, o) for r, o in zip([long, "x y", "no answer"], out))
    # over the word cap: whole lines are dropped from the end, the final-answer line stays
    capped = truncate_candidates([long], max_words=10)[0]
    assert capped == "a b c\nd e f g h\ni j\nFinal answer: \\boxed{1}" and was_cut(long, capped)
    # the former procedure, kept for measurement: everything cut to the shortest, mid-line
    before = cut_to_shortest([long, "x y\n\\boxed{2}"])
    assert before[0] == "a b\nFinal answer: \\boxed{1}" and was_cut(long, before[0])


def test_templates_file_is_complete():
    assert {"closer", "plain", "bcq", "ncq", "hint", "option_line"} <= set(load_templates())
