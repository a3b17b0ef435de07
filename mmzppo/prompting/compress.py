"""How a candidate is shortened before it enters a BCQ or NCQ prompt.

The paper has the teacher rewrite every candidate, teacher's and student's alike, into at most
`MAX_LINES` = 5 lines and `MAX_TOKENS` = 512 tokens that keep the essential steps and the
final \\boxed{} answer (`mmzppo.teachers.base.REWRITE_INSTRUCTION`). A `Compressor` takes the
responses of one prompt together and returns one text per response.

`truncate_candidates` is the documented fallback used where no teacher model rewrites (a
DEVIATION from the paper, spec section 3): each candidate is capped ON ITS OWN at the shared
cap (`MAX_LINES` lines, `max_words` reasoning words; words stand in for tokens because the
prompting layer has no tokenizer), and always ends with its final-answer line. So a reference
solution that fits the cap enters whole, whatever the other candidate's length, and no cue of
form tells the candidates apart: every one ends with `Final answer: ...`, and one that is cut
loses whole lines at its end, never the final-answer line.

`cut_to_shortest` is the procedure this project used before (every candidate of a prompt cut
to the SHORTEST one's word count). It removed the end of the correct solution whenever the
wrong one was shorter, and only the cut one ended mid-sentence (a cue). It is kept only so the
diagnostic can measure what it did (`mmzppo.tools.diagnose`); nothing trains with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mmzppo.grading.boxed import extract_last_boxed, remove_boxed

MAX_LINES = 5  # the paper's rewrite budget for a compressed candidate: lines
MAX_TOKENS = 512  # and tokens
MAX_WORDS = 300  # the fallback's stand-in for MAX_TOKENS: reasoning words per candidate

Compressor = Callable[[list[str]], list[str]]

_THINK_TAGS = re.compile(r"</?think>")
_LEFTOVER = re.compile(r"^(final answer|answer)?\s*[:.]?\s*$", re.IGNORECASE)  # what a removed box leaves
NO_ANSWER = "(no boxed answer)"


def reasoning_lines(response: str) -> list[str]:
    """A response's reasoning: its non-empty lines without think tags and without its boxed
    answers (a line that held only the box, or "Final answer:", goes too)."""
    body = _THINK_TAGS.sub(" ", remove_boxed(response))
    return [ln.strip() for ln in body.splitlines() if ln.strip() and not _LEFTOVER.match(ln.strip())]


def final_line(response: str) -> str:
    """Every candidate's last line: its last boxed answer, or a line saying it has none."""
    answer = extract_last_boxed(response)
    return f"Final answer: \\boxed{{{answer}}}" if answer is not None else f"Final answer: {NO_ANSWER}"


def cap_candidate(response: str, max_lines: int = MAX_LINES, max_words: int = MAX_WORDS) -> str:
    """One candidate at the shared cap, on its own: its reasoning lines while they fit in
    `max_words` words (whole lines, so a cut never ends mid-line; a first line longer than the
    cap keeps its first `max_words` words), folded into at most `max_lines - 1` lines (the
    tail joined onto the last one: nothing is lost by folding), then its final-answer line."""
    if max_lines < 2:
        raise ValueError(f"max_lines must be >= 2, got {max_lines}")
    kept, left = [], max_words
    for ln in reasoning_lines(response):
        words = ln.split()
        if len(words) > left:
            if not kept:
                kept.append(" ".join(words[:left]))
            break
        kept.append(ln)
        left -= len(words)
    if len(kept) > max_lines - 1:
        kept = kept[: max_lines - 2] + [" ".join(kept[max_lines - 2 :])]
    return "\n".join([*kept, final_line(response)])


def truncate_candidates(responses: list[str], max_lines: int = MAX_LINES, max_words: int = MAX_WORDS) -> list[str]:
    """The fallback compressor (a DEVIATION, module docstring): each response capped on its own."""
    return [cap_candidate(r, max_lines, max_words) for r in responses]


def cut_to_shortest(responses: list[str], max_lines: int = MAX_LINES, max_words: int = MAX_WORDS) -> list[str]:
    """The former fallback, for measurement only: every response cut to the shortest one's
    number of reasoning words (at most `max_words`), mid-line where it falls, then folded into
    `max_lines - 1` lines; the final answer appended as before (no line when there is none)."""
    bodies = [reasoning_lines(r) for r in responses]
    budget = min([max_words] + [sum(len(ln.split()) for ln in lines) for lines in bodies])
    out = []
    for lines, response in zip(bodies, responses):
        kept, left = [], budget
        for ln in lines:
            if left <= 0:
                break
            words = ln.split()[:left]
            kept.append(" ".join(words))
            left -= len(words)
        if len(kept) > max_lines - 1:
            kept = kept[: max_lines - 2] + [" ".join(kept[max_lines - 2 :])]
        answer = extract_last_boxed(response)
        if answer is not None:
            kept.append(f"Final answer: \\boxed{{{answer}}}")
        out.append("\n".join(kept) if kept else "(empty response)")
    return out


def was_cut(response: str, compressed: str) -> bool:
    """True when `compressed` lost reasoning words of `response` (folding lines loses none)."""
    words = lambda lines: sum(len(ln.split()) for ln in lines)  # noqa: E731
    kept = [ln for ln in compressed.splitlines() if not ln.startswith("Final answer:") and ln != "(empty response)"]
    return words(kept) < words(reasoning_lines(response))
