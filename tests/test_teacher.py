"""Teachers: a local tiny Qwen3.5 teacher, the reference-solution teacher, and compression."""

from __future__ import annotations

import pytest
import torch

from mmzppo.data.formats import gsm8k_sample, mathvision_sample, read_jsonl
from mmzppo.data.vision import TINY_VISION
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.grading.grader import grade
from mmzppo.policy.generation.base import SamplingParams
from mmzppo.policy.loading import load_policy
from mmzppo.prompting.builders import plain
from mmzppo.teachers.base import Teacher, enforce_summary
from mmzppo.teachers.local import LocalTeacher
from mmzppo.teachers.text import ReferenceTeacher

LONG_RESPONSE = "\n".join(
    ["<think>", *(f"Step {i}: add {i} apples to the basket and count again." for i in range(9)), "</think>"]
    + ["So the total is \\boxed{36}."]
)
WRONG_RESPONSE = "The basket has 12 apples, so \\boxed{12}.\nI am sure."


@pytest.fixture(scope="module")
def samples(benchdata):
    mv = benchdata / "vlm/mathvision"
    gsm = [gsm8k_sample(r, i) for i, r in zip(range(3), read_jsonl(benchdata / "llm/gsm8k/test.jsonl"))]
    return {"image": mathvision_sample(next(read_jsonl(mv / "testmini.jsonl")), mv), "gsm8k": gsm}


@pytest.fixture(scope="module")
def local_teacher(tiny_s_dir):
    policy = load_policy(tiny_s_dir, vision=TINY_VISION)
    return LocalTeacher(policy, sampling=SamplingParams(max_new_tokens=8), compress_max_tokens=12, batch_size=4)


def assert_compressed(out, responses):
    assert len(out) == len(responses)
    for summary, original in zip(out, responses):
        assert len(summary.splitlines()) <= 5
        assert extract_last_boxed(summary) == extract_last_boxed(original)


def test_local_teacher_answers_n_per_question(local_teacher, samples):
    assert isinstance(local_teacher, Teacher)
    out = local_teacher.answer([samples["image"], samples["gsm8k"][0]], 3)
    assert [len(x) for x in out] == [3, 3]
    assert all(isinstance(r.text, str) and r.token_ids for x in out for r in x)
    assert local_teacher.counts["sampled"] >= 6


def test_local_teacher_scores_tokens_full_and_top_k(local_teacher, samples):
    """The teacher's distributions along given tokens, with its own processor (the image
    prompt carries pixels): full vocabulary, and top-k whose values are the largest of the full."""
    prompts = [plain(samples["image"]), plain(samples["gsm8k"][0])]
    tokens = [[10, 11, 12], [13, 14]]
    full = local_teacher.distributions(prompts, tokens)
    vocab = len(local_teacher.policy.tokenizer.get_vocab())
    assert full.logprobs.shape == (2, 3, vocab) and full.indices is None
    assert full.mask.tolist() == [[True, True, True], [True, True, False]]
    picked = full.logprobs.gather(-1, torch.tensor(tokens[0]).view(1, 3, 1)).view(3)
    torch.testing.assert_close(full.token_logprobs[0], picked)
    top = local_teacher.distributions(prompts, tokens, top_k=5)
    assert top.logprobs.shape == top.indices.shape == (2, 3, 5)
    torch.testing.assert_close(top.logprobs, full.logprobs.topk(5, dim=-1).values)


def test_hints_from_the_reference_teacher_leave_the_answer_out(samples):
    from mmzppo.core.guidance import leaks_answer

    gsm = samples["gsm8k"]
    teacher = ReferenceTeacher()
    hints = teacher.write_hints(gsm, [s.solution for s in gsm])
    for s, h in zip(gsm, hints):
        assert h and not leaks_answer(h, s.answer, extract_last_boxed(s.solution)), h
    assert leaks_answer("so the answer is \\boxed{18}", "18", None)
    assert leaks_answer("She makes 18 dollars.", "18", None) and not leaks_answer(
        "She sells 16 - 3 - 4 = 9 eggs.", "18", None
    )
    assert not leaks_answer("18.5 is not it", "18", None) and leaks_answer("it is 18.", "18", None)


@pytest.mark.parametrize("with_model", [False, True], ids=["truncate", "model"])
def test_compress_keeps_count_lines_and_answer(local_teacher, with_model):
    local_teacher.compress_with_model = with_model
    try:
        responses = [LONG_RESPONSE, WRONG_RESPONSE, "no boxed answer at all"]
        assert_compressed(local_teacher.compress(responses), responses)
    finally:
        local_teacher.compress_with_model = False


def test_enforce_summary_restores_the_original_answer():
    rewrite = "\n".join(f"line {i}" for i in range(8)) + "\nso \\boxed{99}"
    out = enforce_summary(rewrite, LONG_RESPONSE)
    assert len(out.splitlines()) == 5 and extract_last_boxed(out) == "36"
    good = "Count the apples.\nTotal \\boxed{36}"
    assert enforce_summary(good, LONG_RESPONSE) == good
    assert enforce_summary("a\n\nb", "no answer") == "a\nb"
    assert enforce_summary("<think>\nlet me\nsee\n</think>\nTotal \\boxed{36}", LONG_RESPONSE) == "Total \\boxed{36}"


def test_reference_teacher_returns_gold_solutions(samples):
    gsm = samples["gsm8k"]
    image = samples["image"]  # MathVision item 4 has no worked solution
    assert image.solution is None
    teacher = ReferenceTeacher()
    assert isinstance(teacher, Teacher)
    out = teacher.answer([*gsm, image], 2)
    assert [len(x) for x in out] == [2, 2, 2, 0]  # no solution: no teacher answer, not an error
    for s, responses in zip(gsm, out):
        assert [r.text for r in responses] == [s.solution, s.solution]
        assert grade(responses[0].text, s.answer, s.answer_type).reward == 1.0
    summaries = teacher.compress([gsm[0].solution, WRONG_RESPONSE])
    assert_compressed(summaries, [gsm[0].solution, WRONG_RESPONSE])


def test_local_teacher_writes_one_hint_per_question(local_teacher, samples):
    """The model teacher's hint request carries the question's image; one hint text per question."""
    from mmzppo.teachers.base import hint_request

    questions = [samples["image"], samples["gsm8k"][0]]
    request = hint_request(questions[0], "It is \\boxed{3}.")
    assert [p["type"] for p in request.messages[0]["content"]][:1] == ["image"]
    before = local_teacher.counts["hints"]
    hints = local_teacher.write_hints(questions, ["It is \\boxed{3}.", questions[1].solution])
    assert len(hints) == 2 and all(isinstance(h, str) for h in hints)
    assert local_teacher.counts["hints"] == before + 2
