"""The training reward's routing by reward type (mmzppo.grading.rewards) and the judge's strict
verdict parsing (mmzppo.teachers.judge): no model, no server."""

from __future__ import annotations

import pytest

from mmzppo.data.sample import Sample
from mmzppo.grading.rewards import route, rule_grade
from mmzppo.teachers.judge import parse_verdict


def sample(answer, reward_type=None, **kw) -> Sample:
    return Sample(uid=f"u-{reward_type}", question="q?", answer=answer, reward_type=reward_type, **kw)


@pytest.mark.parametrize(
    ("reward_type", "answer", "expected"),
    [
        (None, "12", "rule"),
        ("exact_match", "Paris", "rule"),
        ("multiple_choice", "B", "rule"),
        ("numeric", "3.5", "rule"),
        ("numeric", "about three", "judge"),  # a numeric gold the rule cannot read
        ("list_match", "a, b, c", "rule"),
        ("list_match", "[]", "judge"),  # no items to match
        ("ordering", "3; 1; 2", "rule"),
        ("llm_judge", "the derivation shows x = 2", "judge"),
        ("grounding", "[1, 2, 3, 4]", "judge"),
        ("some_new_type", "x", "judge"),
    ],
)
def test_route(reward_type, answer, expected):
    assert route(sample(answer, reward_type)) == expected


def reward(response: str, s: Sample):
    g = rule_grade(response, s)
    return None if g is None else g.reward


def test_rule_types_grade_by_their_rules():
    numeric = sample("100", "numeric", tolerance=0.05)
    assert reward("\\boxed{104}", numeric) == 1.0  # within 5%
    assert reward("\\boxed{106}", numeric) == 0.0
    assert reward("\\boxed{104}", sample("100", "numeric")) == 0.0  # no tolerance: the grader's own
    assert reward("\\boxed{0.01}", sample("0", "numeric", tolerance=0.02)) == 1.0  # gold 0: absolute

    choice = sample("B", "multiple_choice", choices=["red", "blue", "green"])
    assert reward("\\boxed{B}", choice) == 1.0
    assert reward("\\boxed{blue}", choice) == 1.0
    assert reward("\\boxed{C}", choice) == 0.0

    listed = sample("apple, pear, 3", "list_match")
    assert reward("\\boxed{3; apple; pear}", listed) == 1.0  # any order, any separator
    assert reward("\\boxed{apple, pear}", listed) == 0.0  # one missing
    assert reward("\\boxed{apple, apple, 3}", listed) == 0.0  # a multiset, not a set

    ordered = sample("2, 1, 3", "ordering")
    assert reward("\\boxed{2,1,3}", ordered) == 1.0
    assert reward("\\boxed{1, 2, 3}", ordered) == 0.0

    exact = sample("\\frac{1}{2}", "exact_match")
    assert reward("\\boxed{0.5}", exact) == 1.0


def test_judged_rows_wait_for_the_judge_unless_nothing_is_boxed():
    s = sample("the area doubles", "llm_judge")
    assert rule_grade("so the area is \\boxed{twice as large}", s) is None  # pending: the judge decides
    g = rule_grade("no final answer here", s)
    assert (g.reward, g.reason) == (0.0, "no_boxed")


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ('{"correct": true}', True),
        (' {"correct": false}\n', False),
        ('<think>the gold says 2</think>\n{"correct": true}', True),
        ('```json\n{"correct": true}\n```', None),  # fenced: not strict
        ('{"correct": "true"}', None),  # a string, not a boolean
        ('{"correct": true, "why": "same"}', None),  # an extra key
        ("Yes, it is correct.", None),
        ("", None),
        ('{"correct": true} {"correct": false}', None),
    ],
)
def test_verdicts_are_strict(reply, verdict):
    assert parse_verdict(reply) is verdict
