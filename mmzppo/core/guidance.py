"""Hint and prefix guidance (the paper's Alg. 5 and 6 baselines): what may go into a hint.

Both baselines help on the same hard questions as ZPPO (plain accuracy < tau, the rho_aug
* |X_new| hardest) with one correct teacher answer:

* hint: the teacher turns the correct answer into an answer-free hint, shown in <hint>
  tags; a hint that gives the answer away would turn the hint group into answer copying,
  so `leaks_answer` drops it (and the caller counts the drop);
* prefix: the first alpha = 0.4 of the answer's tokens start the assistant turn
  (`mmzppo.prompting.builders.prefix`); the rest of the answer is the student's.

`answer_free_lines` is the reference teacher's deterministic hint (a DEVIATION: no model
writes it): the worked solution without its final-answer line and without any line that
states the final answer.
"""

from __future__ import annotations

import re

from mmzppo.grading.boxed import extract_last_boxed


def mentions(text: str, answer: str) -> bool:
    """`answer` occurs in `text` as a whole token (not inside a longer number or word)."""
    answer = answer.strip()
    if not answer:
        return False
    return re.search(rf"(?<![\w.]){re.escape(answer)}(?![\w]|\.\d)", text) is not None


def leaks_answer(hint: str, gold: str, teacher_answer: str | None) -> bool:
    """True when a hint gives the answer away: it has a \\boxed{}, or it states the gold
    answer or the correct response's final answer."""
    if "\\boxed" in hint:
        return True
    return any(mentions(hint, a) for a in (gold, teacher_answer or "") if a)


def answer_free_lines(solution: str) -> str:
    """The reference teacher's hint: the solution's lines that neither box nor state its final answer."""
    answer = extract_last_boxed(solution) or ""
    lines = [ln.strip() for ln in solution.splitlines() if ln.strip()]
    return "\n".join(ln for ln in lines if "\\boxed" not in ln and not mentions(ln, answer))
