"""Teachers on real benchmark items (MathVision item 4 and GSM8K questions from ../shared/benchdata):
a local tiny Qwen3.5 teacher answers, scores tokens and writes hints; the reference teacher's
hints, from real worked solutions, leave the answer out."""

from __future__ import annotations

import pytest
import torch

from mmzppo.data.formats import gsm8k_sample, mathvision_sample, read_jsonl
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.prompting.builders import plain
from mmzppo.teachers.base import Teacher
from mmzppo.teachers.text import ReferenceTeacher


@pytest.fixture(scope="module")
def samples(benchdata):
    mv = benchdata / "vlm/mathvision"
    gsm = [gsm8k_sample(r, i) for i, r in zip(range(3), read_jsonl(benchdata / "llm/gsm8k/test.jsonl"))]
    return {"image": mathvision_sample(next(read_jsonl(mv / "testmini.jsonl")), mv), "gsm8k": gsm}


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
    assert full.logprobs is None and full.indices is None  # the whole vocabulary: by chunk, from `head`
    assert full.mask.tolist() == [[True, True, True], [True, True, False]]
    rows = full.head.logprobs(slice(None))  # the 5 real positions' distributions, (5, vocab)
    assert rows.shape == (5, vocab)
    picked = rows[:3].gather(-1, torch.tensor(tokens[0]).view(3, 1)).view(3)
    torch.testing.assert_close(full.token_logprobs[0], picked)
    top = local_teacher.distributions(prompts, tokens, top_k=5)
    assert top.logprobs.shape == top.indices.shape == (2, 3, 5)
    torch.testing.assert_close(top.logprobs[full.mask], rows.topk(5, dim=-1).values)


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
