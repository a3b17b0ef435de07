"""Tests for mmzppo.grading.grader on real benchmark answers (../shared/benchdata): every gold
answer grades itself correct, near misses and neighbours' answers wrong."""

from __future__ import annotations

import json

import pytest

from mmzppo.grading.grader import Grade, grade, grade_answer


def load_jsonl(benchdata, rel: str) -> list[dict]:
    path = benchdata / rel
    if not path.exists():
        pytest.skip(f"benchmark file {path} not present")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def boxed(answer: str) -> str:
    return f"Let me think step by step. ... So the final answer is \\boxed{{{answer}}}."


def letter(i: int) -> str:
    return chr(ord("A") + i)


def test_mathvision_every_answer_grades_itself_and_others_are_wrong(benchdata):
    rows = load_jsonl(benchdata, "vlm/mathvision/testmini.jsonl")
    free = [r for r in rows if not r["options"]]
    assert len(rows) == 304 and len(free) == 114  # as SOURCE.md states
    for r in rows:
        kind, choices = ("choice", r["options"]) if r["options"] else ("latex", None)
        g = grade(boxed(r["answer"]), r["answer"], kind, choices)
        assert g == Grade(1.0, r["answer"], "correct"), r
    for r in rows:  # multiple choice: another letter, the gold option's text, another option's text
        if not r["options"]:
            continue
        opts, gold = r["options"], r["answer"]
        gi = ord(gold) - ord("A")
        other = (gi + 1) % len(opts)
        assert grade(boxed(letter(other)), gold, "choice", opts).reason == "wrong", r
        if all(len(o) > 1 for o in opts):  # option texts that are letters ("A", "E") read as letters
            assert grade_answer(opts[gi], gold, "choice", opts), r
            assert not grade_answer(opts[other], gold, "choice", opts), r
    for r, nxt in zip(free, free[1:] + free[:1]):  # free form: a neighbour's (different) answer
        if nxt["answer"] != r["answer"]:
            assert not grade_answer(nxt["answer"], r["answer"]), (nxt["answer"], r["answer"])


def test_aime25_answers_self_grade_and_off_by_one_is_wrong(benchdata):
    rows = load_jsonl(benchdata, "llm/aime25/test.jsonl")
    assert len(rows) == 30
    for r in rows:
        assert grade(boxed(r["answer"]), r["answer"], "number").reward == 1.0
        assert grade(boxed(str(int(r["answer"]) + 1)), r["answer"], "number").reward == 0.0


def test_mmlu_letter_and_option_text_are_correct_other_letter_wrong(benchdata):
    rows = load_jsonl(benchdata, "llm/mmlu/test.jsonl")[:200]
    for r in rows:
        gold, choices = str(r["answer"]), r["choices"]  # gold: 0-based index into choices
        other = (r["answer"] + 1) % 4
        assert grade(boxed(letter(r["answer"])), gold, "choice", choices).reward == 1.0, r
        assert grade(boxed(f"({letter(r['answer'])})"), gold, "choice", choices).reward == 1.0, r
        assert grade(boxed(choices[r["answer"]]), gold, "choice", choices).reward == 1.0, r
        assert grade(boxed(letter(other)), gold, "choice", choices).reward == 0.0, r
        assert not grade_answer(choices[other], gold, "choice", choices), r


def test_gsm8k_answers_self_grade_with_and_without_commas(benchdata):
    rows = load_jsonl(benchdata, "llm/gsm8k/test.jsonl")
    assert len(rows) == 1319
    for r in rows:
        gold = r["answer"].split("####")[-1].strip()
        value = int(gold.replace(",", ""))
        for written in {gold, str(value), f"{value:,}"}:
            assert grade(boxed(written), gold, "number").reward == 1.0, (written, gold)
        assert grade(boxed(str(value + 1)), gold, "number").reward == 0.0, gold
        assert grade(boxed(f"{value + 1:,}"), gold, "number").reward == 0.0, gold


# Neighbouring MATH-500 answers that really are the same value.
EQUIVALENT_MATH500 = {("x=5", "5")}


def test_math500_gold_answers_self_grade_and_neighbours_do_not(benchdata):
    rows = load_jsonl(benchdata, "llm/math500/test.jsonl")
    assert len(rows) == 500
    for r in rows:  # extraction must give back the whole answer (pmatrix, nested \frac, \text{} ...)
        assert grade(boxed(r["answer"]), r["answer"]) == Grade(1.0, r["answer"], "correct"), r["answer"]
    answers = [r["answer"] for r in rows]
    for gold, pred in zip(answers, answers[1:] + answers[:1]):
        if pred != gold and (pred, gold) not in EQUIVALENT_MATH500:
            assert not grade_answer(pred, gold), (pred, gold)
