"""Which grader a sample's answer goes to: a rule by the sample's reward type, or the judge.

The paper's training reward is binary: a rule-based grader on the last ``\\boxed{}`` first, and
for free-form questions a verdict from the teacher acting as judge (spec sections 7-8). The
sample says which (`Sample.reward_type`, carried from Vero-600k's ``extra_info.reward_type``):

    route(sample)                  -> "rule" or "judge"
    rule_grade(response, sample)   -> a Grade, or None when the rule cannot decide (-> judge)

Rule types (Vero-600k's names) and how each is graded here:

* no type (the synthetic suite, MMFineReason, benchmark items) and ``exact_match``: the
  grader as always (`grade`: LaTeX / numeric equivalence, options, yes/no, short text);
* ``numeric``: the grader with the row's own relative ``tolerance``;
* ``multiple_choice``: as a choice answer (letter or option text);
* ``list_match``: the boxed answer and the gold split into items (commas, semicolons or
  newlines), equal as multisets, each pair by the grader (order does not matter);
* ``ordering``: the same items, equal in order.

``llm_judge`` goes to the judge; so do the types no rule here can grade (``web_action``,
``grounding``, ``clicking``, ``instruction_following``: a stated choice, counted by the caller
as judged), and a rule-typed row whose gold the rule cannot read (a ``numeric`` gold that is
not a number, an empty list). A response without a ``\\boxed{}`` answer is wrong whatever the
route (the judge is asked about the final answer, and there is none).
"""

from __future__ import annotations

import re

from mmzppo.data.sample import Sample
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.grading.grader import Grade, _to_number, grade, grade_answer

JUDGE = "llm_judge"
RULE_TYPES = ("exact_match", "numeric", "multiple_choice", "list_match", "ordering")
# Vero-600k types with no rule here: judged (their answers are actions, boxes and clicks)
JUDGED_TYPES = (JUDGE, "web_action", "grounding", "clicking", "instruction_following")

_ITEM_SPLIT = re.compile(r"\s*[,;\n]\s*")


def items(text: str) -> list[str]:
    """A list answer's items: split on commas, semicolons and newlines, outer brackets off."""
    text = text.strip().strip("[](){}").strip()
    return [t for t in _ITEM_SPLIT.split(text) if t]


def route(sample: Sample) -> str:
    """ "judge" for judged types and rule-typed rows whose gold the rule cannot read, else "rule"."""
    kind = sample.reward_type
    if kind is None or kind == "exact_match" or kind == "multiple_choice":
        return "rule"
    if kind == "numeric":
        return "rule" if _to_number(str(sample.answer).strip()) is not None else "judge"
    if kind in ("list_match", "ordering"):
        return "rule" if items(str(sample.answer)) else "judge"
    return "judge"  # llm_judge, the action / grounding types, and any type not known here


def _items_equal(pred: str, gold: str, ordered: bool) -> bool:
    p, g = items(pred), items(gold)
    if len(p) != len(g):
        return False
    if ordered:
        return all(grade_answer(a, b) for a, b in zip(p, g))
    left = list(g)  # multiset match: each predicted item takes one equal gold item
    for a in p:
        hit = next((i for i, b in enumerate(left) if grade_answer(a, b)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True


def rule_grade(response: str, sample: Sample) -> Grade | None:
    """The rule's binary grade of a full response, or None when the sample goes to the judge
    (a response without a boxed answer is graded wrong here even then: nothing to judge)."""
    if route(sample) == "judge":
        parsed = extract_last_boxed(response if isinstance(response, str) else str(response or ""))
        return Grade(0.0, None, "no_boxed") if parsed is None else None
    kind = sample.reward_type
    if kind in ("list_match", "ordering"):
        parsed = extract_last_boxed(response if isinstance(response, str) else str(response or ""))
        if parsed is None:
            return Grade(0.0, None, "no_boxed")
        ok = _items_equal(parsed, str(sample.answer), ordered=kind == "ordering")
        return Grade(1.0 if ok else 0.0, parsed, "correct" if ok else "wrong")
    answer_type = "choice" if kind == "multiple_choice" else sample.answer_type
    tolerance = sample.tolerance if kind == "numeric" else None
    return grade(response, sample.answer, answer_type, sample.choices, tolerance=tolerance)
