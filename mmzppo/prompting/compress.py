"""How a candidate is shortened before it enters a BCQ or NCQ prompt.

The paper has the teacher rewrite every candidate, teacher's and student's alike, into at most
`MAX_LINES` = 5 lines and `MAX_TOKENS` = 512 tokens that keep the essential steps and the
final \\boxed{} answer (`mmzppo.teachers.base.REWRITE_INSTRUCTION`). A `Compressor` takes the
responses of one prompt together, so lengths can be matched.

`truncate_candidates` is the documented fallback used where no teacher model rewrites (a
DEVIATION from the paper): it keeps the final \\boxed{} answer and cuts every candidate's
reasoning to the same number of words, so length cannot tell the correct candidate from the
wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mmzppo.grading.boxed import extract_last_boxed, remove_boxed

MAX_LINES = 5  # the paper's rewrite budget for a compressed candidate: lines
MAX_TOKENS = 512  # and tokens

Compressor = Callable[[list[str]], list[str]]

_THINK_TAGS = re.compile(r"</?think>")


def truncate_candidates(responses: list[str], max_lines: int = 5, max_words: int = 300) -> list[str]:
    """Deterministic stand-in for the teacher's candidate compression (a DEVIATION).

    Each response becomes at most `max_lines` lines: up to `max_lines - 1` lines of its
    reasoning, then `Final answer: \\boxed{...}` with its last boxed answer (omitted when it
    has none). All responses compressed in one call keep the same number of reasoning words
    (the shortest one's, at most `max_words`), so the correct and the wrong BCQ candidate
    have matched lengths.
    """
    if max_lines < 2:
        raise ValueError(f"max_lines must be >= 2, got {max_lines}")
    bodies, answers = [], []
    for r in responses:
        answers.append(extract_last_boxed(r))
        body = _THINK_TAGS.sub(" ", remove_boxed(r))
        lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
        bodies.append(lines)
    budget = min([max_words] + [sum(len(ln.split()) for ln in lines) for lines in bodies])
    out = []
    for lines, answer in zip(bodies, answers):
        kept, left = [], budget
        for ln in lines:
            if left <= 0:
                break
            words = ln.split()[:left]
            kept.append(" ".join(words))
            left -= len(words)
        if len(kept) > max_lines - 1:  # fold the tail into the last allowed line
            kept = kept[: max_lines - 2] + [" ".join(kept[max_lines - 2 :])]
        if answer is not None:
            kept.append(f"Final answer: \\boxed{{{answer}}}")
        out.append("\n".join(kept) if kept else "(empty response)")
    return out
