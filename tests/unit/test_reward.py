"""Tests for mmzppo.grading.grader: extraction, equivalent and wrong answers, choices, yes/no,
text, and a grader that never raises (real benchmark answers: tests/real_data/test_reward_real_answers.py)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mmzppo.grading.boxed import count_distinct_boxed, extract_boxed_all, extract_last_boxed
from mmzppo.grading.grader import ANSWER_TYPES, Grade, grade, grade_answer


def boxed(answer: str) -> str:
    return f"Let me think step by step. ... So the final answer is \\boxed{{{answer}}}."


# --------------------------------------------------------------------------- extraction


def test_extract_nested_spaced_fbox_and_unbalanced():
    text = r"first \boxed {1} then \fbox{\frac{1}{\sqrt{2}}} and \boxed{\text{B}}"
    assert extract_boxed_all(text) == ["1", r"\frac{1}{\sqrt{2}}", r"\text{B}"]
    assert extract_last_boxed(text) == r"\text{B}"
    assert extract_last_boxed(r"\boxed{\{1, 2\}}") == r"\{1, 2\}"
    assert extract_last_boxed(r"\boxed{\left\{ 1, 2 \right.} done") == r"\left\{ 1, 2 \right."  # escaped brace
    assert extract_last_boxed(r"so \boxed{12") is None
    assert extract_last_boxed(r"\boxed{3} but then \boxed{12") is None  # truncated final answer
    assert extract_boxed_all(r"\boxed{3} but then \boxed{12") == ["3"]
    assert extract_last_boxed("no box here") is None
    assert extract_last_boxed("") is None


def test_several_boxed_answers_grade_the_last_and_are_counted():
    two = r"maybe \boxed{3} or rather \boxed{4}"
    assert grade(two, "4") == Grade(1.0, "4", "correct")
    assert grade(two, "3") == Grade(0.0, "4", "wrong")
    assert count_distinct_boxed(two) == 2
    assert count_distinct_boxed(r"\boxed{4} ... again \boxed{ 4 }") == 1
    assert count_distinct_boxed(r"\boxed{\frac{1}{2}} and \boxed{\dfrac{1}{2}}") == 1
    assert count_distinct_boxed("nothing") == 0


def test_no_boxed_and_unbalanced_give_zero_reward():
    assert grade("The answer is 4.", "4") == Grade(0.0, None, "no_boxed")
    assert grade(r"The answer is \boxed{12", "12") == Grade(0.0, None, "no_boxed")


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize(
    "pred, gold",
    [
        (r"\frac{1}{\sqrt{2}}", r"\frac{\sqrt{2}}{2}"),
        (r"\dfrac{3}{4}", "0.75"),
        ("0.75", r"\frac34"),
        (r"45^\circ", "45"),
        ("45", r"45^{\circ}"),
        ("45°", "45"),
        (r"45\degree", "45"),
        (r"50\%", "50"),
        ("50", "50%"),
        (r"5 \text{ cm}", "5"),
        ("5", r"5\mbox{ cm}"),
        ("1,000", "1000"),
        ("1000", "1{,}000"),
        (r"\$18.90", "18.90"),
        (r"\frac{10}{2}", "5"),  # mathruler refuses (integer gold), the numeric fallback accepts
        ("0.33333", r"\frac{1}{3}"),  # within rel_tol
        (r"\{1\pm\sqrt{5},-2\}", r"\{-2, 1\pm\sqrt{5}\}"),  # sets: mathruler refuses, math_verify accepts
        ("3, 5, 7", "7, 5, 3"),
        (r"\begin{pmatrix} -1/3 \\ 2/3 \end{pmatrix}", r"\begin{pmatrix} -\frac{1}{3} \\ \frac{2}{3} \end{pmatrix}"),
        (r"\text{Evelyn}", "evelyn"),
    ],
)
def test_equivalent_math_answers(pred, gold):
    assert grade(boxed(pred), gold).reward == 1.0


@pytest.mark.parametrize(
    "pred, gold",
    [
        (r"\frac{1}{\sqrt{3}}", r"\frac{\sqrt{2}}{2}"),
        ("0.76", r"\dfrac{3}{4}"),
        (r"46^\circ", "45"),
        ("0.5", r"50\%"),
        ("13536", "13535"),  # integers compare exactly, whatever rel_tol says
        ("5.0001", "5"),
        ("0.333", r"\frac{1}{3}"),  # outside rel_tol
        ("5x", "5"),  # a variable is not a unit
        (r"\{1\pm\sqrt{5}\}", r"\{1\pm\sqrt{5},-2\}"),
        ("", "0"),
        (r"10^{10^{10}}", "5"),  # would hang math_verify without its timeout; refused up front
    ],
)
def test_wrong_math_answers(pred, gold):
    assert grade_answer(pred, gold) is False


def test_rel_tol_is_used():
    assert not grade_answer("3.1416", r"3.14159265", rel_tol=1e-6)
    assert grade_answer("3.1416", r"3.14159265", rel_tol=1e-4)


def test_grading_works_off_the_main_thread():
    # math_verify's default SIGALRM timeouts raise off the main thread; ours are disabled.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(grade_answer, r"\{-2, 1\pm\sqrt{5}\}", r"\{1\pm\sqrt{5},-2\}").result()


def test_grader_logs_no_warnings(caplog):
    """pylatexenc's "WARNING: Error in configuration: macro '\\frac' failed its substitution!"
    and math_verify's timeout notice stay out of training and eval logs."""
    import logging

    with caplog.at_level(logging.DEBUG):
        assert grade(boxed(r"\frac{1}"), "0.5").reward == 0.0
        assert grade(boxed(r"\{1, \frac{}\}"), r"\{1, 2\}").reward == 0.0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_adversarial_answer_is_quick():
    start = time.perf_counter()
    assert grade(boxed("9!!!!"), "5").reward == 0.0
    assert grade(boxed("1" * 5000), "5").reward == 0.0
    assert time.perf_counter() - start < 5


# --------------------------------------------------------------------------- choices, yes/no, text


@pytest.mark.parametrize(
    "pred",
    [r"\text{(B)}", "(B)", "B.", "B", "B)", r"\text{B}", "Option B", "B. blue", "(B) blue", "b", "blue", "Blue."],
)
def test_choice_forms_of_b(pred):
    assert grade(boxed(pred), "B", "choice", ["red", "blue", "green"]).reward == 1.0


@pytest.mark.parametrize("pred", ["A", "(C)", "red", "Option D", "a blue one", "bb", "A. blue"])
def test_choice_other_answers_are_wrong(pred):
    assert grade(boxed(pred), "B", "choice", ["red", "blue", "green"]).reward == 0.0


def test_choice_gold_forms():
    opts = [
        "A. A person drops down the pineapple",
        "B. A person pushes forward the pineapple",
        "C. A person rotates the pineapple",
        "D. A person picks up the pineapple",
    ]
    full = "D. A person picks up the pineapple"  # TempCompass stores the full option line
    for pred in ["D", "(D)", full, "A person picks up the pineapple", "a person picks up the pineapple."]:
        assert grade_answer(pred, full, "choice", opts), pred
        assert grade_answer(pred, full, "choice"), pred  # letter prefix read from the gold itself
    assert not grade_answer("A person drops down the pineapple", full, "choice", opts)
    assert not grade_answer("A", full, "choice")
    # the gold given as option text, and as an index (MMLU stores ints)
    assert grade_answer("C", "green", "choice", ["red", "blue", "green"])
    assert grade_answer("C", "2", "choice", ["red", "blue", "green"])
    assert not grade_answer("B", "2", "choice", ["red", "blue", "green"])
    # numeric option texts: "2" as gold is an index, "2" as prediction is an option text
    assert grade_answer("C", "2", "choice", ["1", "2", "3"])
    assert grade_answer("3", "2", "choice", ["1", "2", "3"])
    assert not grade_answer("2", "2", "choice", ["1", "2", "3"])
    # labelled options ("Option 1: ...") are named by their own label too
    caps = ["Option 1: The pineapple is rotated.", "Option 2: A person picks up the pineapple."]
    for pred in ["Option 2", "2", "B", "A person picks up the pineapple"]:
        assert grade_answer(pred, caps[1], "choice", caps), pred
    assert not grade_answer("Option 1", caps[1], "choice", caps)


def test_choice_math_option_matches_its_value():
    opts = [r"$90^{\circ}$", r"$100^{\circ}$", r"$110^{\circ}$", r"$120^{\circ}$"]
    assert grade_answer("120", "D", "choice", opts)
    assert grade_answer(r"120^\circ", "D", "choice", opts)
    assert not grade_answer("110", "D", "choice", opts)


@pytest.mark.parametrize(
    "pred, gold, ok",
    [
        ("Yes", "yes", True),
        ("yes.", "yes", True),
        (r"\text{No}", "no", True),
        ("True", "yes", True),
        ("false", "no", True),
        ("no", "yes", False),
        ("yes", "no", False),
        ("maybe", "yes", False),
        ("", "no", False),
    ],
)
def test_yesno(pred, gold, ok):
    assert grade(boxed(pred), gold, "yesno").reward == float(ok)


@pytest.mark.parametrize(
    "pred, gold, ok",
    [
        ("Put head down.", "put head down", True),
        (r"\text{put  head down}", "put head down", True),
        ("puff cigar", "put head down", False),
        ("7", "7", True),
        ("7.0", "7", True),
        ("1,000", "1000", True),
        ("8", "7", False),
        ("", "7", False),
    ],
)
def test_text(pred, gold, ok):
    assert grade(boxed(pred), gold, "text").reward == float(ok)


def test_unknown_answer_type_raises_naming_it():
    with pytest.raises(ValueError, match="essay") as info:
        grade(boxed("1"), "1", "essay")
    assert all(t in str(info.value) for t in ANSWER_TYPES)
    with pytest.raises(ValueError, match="essay"):
        grade_answer("1", "1", "essay")


def test_grader_exception_is_wrong_not_raised(monkeypatch):
    import mmzppo.grading.grader as reward

    def broken(*args, **kwargs):
        raise RuntimeError("sympy blew up")

    monkeypatch.setattr(reward, "_mathruler_grade", broken)
    assert grade(boxed("x+1"), "1+x") == Grade(0.0, "x+1", "grader_error")
    assert grade_answer("x+1", "1+x") is False
    assert grade(boxed("x+1"), "x+1").reward == 1.0  # the string shortcut needs no grader


def test_weird_input_never_raises():
    assert grade(None, "1").reason == "no_boxed"  # type: ignore[arg-type]
    assert grade(boxed("1"), 1).reward == 1.0  # type: ignore[arg-type]  (int gold, e.g. MMLU)
    assert grade(boxed("}{"), "1").reward == 0.0
    assert grade_answer(None, "1") is False  # type: ignore[arg-type]
    assert grade(boxed(r"\frac{}{}"), r"\frac{1}{2}").reward == 0.0
