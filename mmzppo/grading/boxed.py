"""Finding the boxed answers of a response: `\\boxed{...}` / `\\fbox{...}` with nested braces.

The grader reads the LAST boxed answer (`extract_last_boxed`); candidate compression keeps it
and removes the others (`remove_boxed`); the metrics count responses that box more than one
distinct answer (`count_distinct_boxed`: candidate pasting). An unclosed box is not an answer.
"""

from __future__ import annotations

import re

from mmzppo.grading.limits import (
    MAX_ANSWER_CHARS,
    collapse,
)

_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")


def _box_spans(text: str) -> tuple[list[tuple[int, int, int]], bool]:
    """(start, content start, end) of each top-level box in order, and whether the last
    opener was closed.

    Braces are matched by depth; an escaped ``\\{``/``\\}`` does not count. A box inside a box is
    part of the outer content (it is not listed separately).
    """
    spans: list[tuple[int, int, int]] = []
    pos = 0
    while (m := _BOX_OPEN.search(text, pos)) is not None:
        depth, i = 1, m.end()
        while i < len(text) and depth:
            ch = text[i]
            if ch == "\\":
                i += 1  # skip the escaped character
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            i += 1
        if depth:  # ran off the end: the box was never closed
            return spans, False
        spans.append((m.start(), m.end(), i))
        pos = i
    return spans, True


def _scan_boxes(text: str) -> tuple[list[str], bool]:
    """Contents of the top-level boxes in order, and whether the last opener was closed."""
    spans, closed = _box_spans(text)
    return [text[c : e - 1].strip() for _, c, e in spans], closed


def remove_boxed(text: str) -> str:
    """`text` without its complete ``\\boxed{...}`` / ``\\fbox{...}`` expressions."""
    spans, _ = _box_spans(text or "")
    kept, pos = [], 0
    for start, _, end in spans:
        kept.append(text[pos:start])
        pos = end
    kept.append((text or "")[pos:])
    return "".join(kept)


def extract_boxed_all(text: str) -> list[str]:
    """Contents of every complete ``\\boxed{...}`` / ``\\fbox{...}`` in order (nested braces kept)."""
    return _scan_boxes(text or "")[0]


def extract_last_boxed(text: str) -> str | None:
    """The final answer: the content of the last box, as the paper's grader reads it.

    A response with several boxed answers is graded on the last one. If the last box is never
    closed (a truncated response), there is no final answer and None is returned, like
    ``mathruler``'s own extractor, which only looks at the last opener.
    """
    found, closed = _scan_boxes(text or "")
    return found[-1] if found and closed else None


def count_distinct_boxed(text: str) -> int:
    """How many different answers a response boxed (after light normalisation).

    More than one hints that the policy pastes several candidates hoping one is graded; the
    trainer logs it.
    """
    return len({_norm_math(b) if len(b) <= MAX_ANSWER_CHARS else collapse(b) for b in extract_boxed_all(text)})


_TEXT_WRAP = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")


def _unwrap_text(s: str) -> str:
    """``\\text{B}`` -> ``B`` (repeatedly, for nested wrappers)."""
    while (t := _TEXT_WRAP.sub(r"\1", s)) != s:
        s = t
    return s


def _norm_math(s: str) -> str:
    """Spacing/markup-insensitive form of a LaTeX answer, for the string-equality shortcut."""
    s = _unwrap_text(s).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\\(?:left|right)(?![A-Za-z])|\\[!,;: ]|[$~\s]", "", s)
    return s.rstrip(".")
