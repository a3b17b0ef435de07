"""Teachers without a model: the reference-solution teacher on synthetic questions, and the
summary rule for rewritten candidates (a tiny Qwen3.5 as teacher: tests/integration/test_local_teacher.py,
tests/real_data/test_teacher_real_items.py)."""

from __future__ import annotations

from helpers import LONG_RESPONSE, WRONG_RESPONSE, assert_compressed

from mmzppo.data.sample import Sample
from mmzppo.data.synthetic import generate
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.grading.grader import grade
from mmzppo.teachers.base import Teacher, enforce_summary
from mmzppo.teachers.text import ReferenceTeacher


def test_enforce_summary_restores_the_original_answer():
    rewrite = "\n".join(f"line {i}" for i in range(8)) + "\nso \\boxed{99}"
    out = enforce_summary(rewrite, LONG_RESPONSE)
    assert len(out.splitlines()) == 5 and extract_last_boxed(out) == "36"
    good = "Count the apples.\nTotal \\boxed{36}"
    assert enforce_summary(good, LONG_RESPONSE) == good
    assert enforce_summary("a\n\nb", "no answer") == "a\nb"
    assert enforce_summary("<think>\nlet me\nsee\n</think>\nTotal \\boxed{36}", LONG_RESPONSE) == "Total \\boxed{36}"


def test_reference_teacher_returns_gold_solutions(tmp_path):
    problems = list(generate("word_problem", 3, 0, "train", None))  # worked solutions ending in \boxed{}
    image = Sample(uid="digits-4", question="How many digits?", answer="6", images=[str(tmp_path / "4.png")])
    assert image.solution is None  # no worked solution
    teacher = ReferenceTeacher()
    assert isinstance(teacher, Teacher)
    out = teacher.answer([*problems, image], 2)
    assert [len(x) for x in out] == [2, 2, 2, 0]  # no solution: no teacher answer, not an error
    for s, responses in zip(problems, out):
        assert [r.text for r in responses] == [s.solution, s.solution]
        assert grade(responses[0].text, s.answer, s.answer_type).reward == 1.0
    summaries = teacher.compress([problems[0].solution, WRONG_RESPONSE])
    assert_compressed(summaries, [problems[0].solution, WRONG_RESPONSE])
