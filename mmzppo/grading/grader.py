"""Answer extraction and binary grading, the way the paper's training reward does it.

The paper grades the *last* ``\\boxed{}`` of a response with the ``mathruler`` grader
(LaTeX / numeric equivalence) and retries with degree and percent signs stripped.
We keep that as the core and add a few conservative fallbacks so that a correct answer
written in an equivalent everyday form is not punished:

* a plain numeric comparison (thousands commas, ``$``, trailing unit words, ``\\frac``,
  decimals) with a relative tolerance, exact for integer gold answers;
* ``math_verify`` for structured LaTeX (matrices, sets, intervals), only on inputs that are
  cheap to evaluate, because it is called without its signal-based timeout (which
  only works on the main thread) and would otherwise hang on e.g. ``10^{10^{10}}``;
* letter / option-text matching for multiple choice, yes/no and short text answers;
* a sample's own numeric ``tolerance`` (Vero-600k gives one for some numeric answers), as Vero's
  reward reads it: correct when ``|answer - gold| <= tolerance * |gold|`` (``<= tolerance`` for a
  gold of 0), integer golds included; checked with the cheap exact number reader only.

The reward is binary: 1.0 when the graded answer matches the gold answer, else 0.0.
No input makes the grader raise; a failure inside it is graded wrong ("grader_error").

**Time limit by construction** (the rules are in `mmzppo/answer_limits.py`): the grader runs
in-process (rollout grading, eval), so one answer a policy writes must not stall a step;
cheap checks on the answer and the gold decide, before anything expensive runs, what may
reach sympy and math_verify.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from fractions import Fraction

from math_verify import parse as _mv_parse
from math_verify import verify as _mv_verify
from mathruler.grader import _normalize as _mathruler_normalize
from mathruler.grader import grade_answer as _mathruler_grade
from mathruler.math_normalize import normalize_answer as _mathruler_normalize_answer

from mmzppo.data.sample import ANSWER_TYPES  # one list, shared with Sample
from mmzppo.grading.boxed import _norm_math, _unwrap_text, extract_last_boxed
from mmzppo.grading.limits import (
    COSTLY_FOR_MATH_VERIFY,
    DEGREE_PERCENT,
    MAX_ANSWER_CHARS,
    MAX_SYMBOLIC_CHARS,
    oversized_equal,
    text_like,
    too_costly,
)

# pylatexenc (under mathruler) logs "WARNING: Error in configuration: macro '\frac' failed its
# substitution!" for every malformed \frac a policy writes, and math_verify warns that we run it
# without its signal timeouts (the limits below replace them): noise in training and eval logs.
logging.getLogger("pylatexenc").setLevel(logging.ERROR)
logging.getLogger("math_verify").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Grade:
    """Outcome of grading one response against its gold answer."""

    reward: float  # 1.0 or 0.0
    parsed: str | None  # the extracted final answer (None if no \boxed{} found / unparseable)
    reason: str  # "correct", "wrong", "no_boxed" or "grader_error"


# --------------------------------------------------------------------------- extraction


# --------------------------------------------------------------------------- normalisation


def _norm_text(s: str) -> str:
    """Case/spacing/punctuation-insensitive form of a short text answer."""
    s = _unwrap_text(s).replace("$", "").replace("~", " ").replace("\\ ", " ")
    return " ".join(s.split()).casefold().strip(" .,;:!?'\"")


def _strip_degree_percent(s: str) -> str:
    """Drop degree and percent signs: the paper's retry, so ``45^\\circ`` matches ``45``."""
    return DEGREE_PERCENT.sub("", s).strip()


# --------------------------------------------------------------------------- numbers

_UNIT_TAIL = re.compile(r"(?:\s*\\(?:text|mbox|mathrm)\s*\{[^{}]*\}|\s+[A-Za-z]{2,}\.?)(?:\s*\^\s*\{?\d\}?)?\s*$")
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")
_FRAC = re.compile(r"([-+]?)\\frac\s*(?:\{([^{}]+)\}|(\d))\s*(?:\{([^{}]+)\}|(\d))")


def _to_number(s: str) -> Fraction | None:
    """Exact value of a plainly written number, or None if it is not one.

    Accepts thousands commas (``1,234`` / ``1{,}234`` / ``1\\!,\\!234``), ``$``, trailing unit
    words written after a space or in ``\\text{}`` (``5 \\text{ cm}``, ``12 apples``),
    ``\\frac{a}{b}`` / ``\\dfrac`` / ``\\frac43``, ``a/b`` and decimals. Anything else (symbols,
    expressions) is left to the symbolic graders.
    """
    s = s.strip().replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("{,}", ",")
    s = re.sub(r"\\?\$|\\!|\\,", "", s)
    while (t := _UNIT_TAIL.sub("", s)) != s and t.strip():
        s = t
    s = s.replace(" ", "")
    if re.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        s = s.replace(",", "")
    if _PLAIN_NUMBER.fullmatch(s):
        return Fraction(s.rstrip(".") or "0")
    if m := _FRAC.fullmatch(s):
        sign, num, den = m[1], m[2] or m[3], m[4] or m[5]
    elif m := re.fullmatch(r"([-+]?)([\d.]+)/([\d.]+)", s):
        sign, num, den = m.groups()
    else:
        return None
    if not (_PLAIN_NUMBER.fullmatch(num) and _PLAIN_NUMBER.fullmatch(den)) or Fraction(den) == 0:
        return None
    value = Fraction(num) / Fraction(den)
    return -value if sign == "-" else value


def _numbers_match(pred: str, gold: str, rel_tol: float) -> bool:
    """Numeric comparison: exact when the gold is an integer, else within ``rel_tol``.

    Integers are compared exactly so that a close-but-wrong answer to a large integer
    question (a 5-digit GSM8K total plus one) is not accepted by the relative tolerance.
    """
    p, g = _to_number(pred), _to_number(gold)
    if p is None or g is None:
        return False
    if g.denominator == 1:
        return p == g
    return abs(p - g) <= rel_tol * max(abs(p), abs(g))


# --------------------------------------------------------------------------- symbolic


def _math_verify_match(pred: str, gold: str) -> bool:
    """``math_verify`` equivalence, for structured answers ``mathruler`` cannot compare.

    Called with its timeouts disabled (they rely on SIGALRM, which fails off the main thread,
    and cannot interrupt sympy's C code anyway); ``_math_equal`` has refused what could run
    long, and sums, products, integrals, binomials and powers of large or several exponents
    are refused here as well, as they were before the general limits existed.
    """
    if any(COSTLY_FOR_MATH_VERIFY.search(x) for x in (pred, gold)):
        return False
    gold_parsed = _mv_parse(f"${gold}$", parsing_timeout=None)
    pred_parsed = _mv_parse(f"${pred}$", parsing_timeout=None)
    return bool(gold_parsed and pred_parsed) and _mv_verify(gold_parsed, pred_parsed, timeout_seconds=None)


def _math_equal(pred: str, gold: str, rel_tol: float) -> bool:
    """LaTeX/numeric equivalence: shortcut, the paper's grader, its retry, then fallbacks.

    An answer over ``MAX_SYMBOLIC_CHARS`` gets the string shortcut only; the symbolic graders
    see only answers and golds that pass ``too_costly`` (the module docstring's rule 2).
    """
    if _norm_math(pred) == _norm_math(gold):
        return True
    if not pred.strip() or len(pred) > MAX_SYMBOLIC_CHARS:
        return False
    symbolic = not (too_costly(pred) or too_costly(gold))
    if _mathruler_equal(pred, gold, symbolic):
        return True
    pred, gold = _strip_degree_percent(pred), _strip_degree_percent(gold)
    if _mathruler_equal(pred, gold, symbolic) or _numbers_match(pred, gold, rel_tol):
        return True
    return symbolic and not (text_like(pred) or text_like(gold)) and _math_verify_match(pred, gold)


def _mathruler_equal(pred: str, gold: str, symbolic: bool) -> bool:
    """The paper's grader; without its sympy step when ``symbolic`` is False.

    ``mathruler`` first compares two normalised strings (units, ``\\text{}``, LaTeX to text),
    which is cheap and never evaluates anything, and only then asks sympy. A too-costly answer
    keeps the string comparison, so refusing sympy changes nothing for it that strings decide.
    """
    if symbolic:
        return _mathruler_grade(pred, gold)
    if _mathruler_normalize_answer(pred) == _mathruler_normalize_answer(gold):
        return True
    normalized = _mathruler_normalize(gold)
    return normalized is not None and normalized == _mathruler_normalize(pred)


# --------------------------------------------------------------------------- choices

_ANSWER_WORD = r"(?:(?i:option|choice|answer)\s*:?\s*)?"
# The whole answer is a label: "B", "(B)", "B.", "Option B", "b".
_BARE_LABEL = re.compile(_ANSWER_WORD + r"\(?([A-Za-z]|\d{1,2})\)?[.:]?")
# A label followed by option text: "B. text", "(B) text", "B) text", "Sentence A: text",
# "Option 1: text". A bare digit ("3: 2", "2. 5") is a number, not a label.
_LABELLED = tuple(
    re.compile(p + r"(?:\s+(.*))?", re.S)
    for p in (
        r"(?i:option|choice|answer|sentence|caption|information)\s*:?\s*\(?([A-Z]|\d{1,2})\)?\s*[.:)]",
        r"\(([A-Z]|\d{1,2})\)",
        r"([A-Z])\s*[.:)]",
    )
)


def _match_labelled(s: str) -> tuple[str, str | None] | None:
    """(label, text after it) if ``s`` starts with an option label, else None."""
    return next((m.groups() for p in _LABELLED if (m := p.fullmatch(s))), None)


def _clean(s: str) -> str:
    return _unwrap_text(s).replace("$", "").strip()


def _split_option(option: str, i: int) -> tuple[str, str]:
    """An option's label and text: its own prefix ("A. ...", "Option 1: ...") or its position."""
    labelled = _match_labelled(_clean(option))
    if labelled and labelled[1]:
        return labelled
    return chr(ord("A") + i), option


def _label_index(token: str, labels: list[str], n: int | None) -> int | None:
    """Index that a label token names: an explicit option label first, else A=0, B=1, ..."""
    token = token.upper()
    if token in labels:
        return labels.index(token)
    if token.isalpha() and (n is None or ord(token) - ord("A") < n):
        return ord(token) - ord("A")
    return None


def _read_label(s: str, labels: list[str], n: int | None) -> tuple[int, str | None] | None:
    """(option index, text after the label) if the answer names an option by its label."""
    s = _clean(s)
    if (m := _BARE_LABEL.fullmatch(s)) and (i := _label_index(m.group(1), labels, n)) is not None:
        return i, None
    if (labelled := _match_labelled(s)) and (i := _label_index(labelled[0], labels, n)) is not None:
        return i, labelled[1]
    return None


def _choice_equal(pred: str, gold: str, choices: list[str] | None, rel_tol: float) -> bool:
    """Multiple choice: the same option, named by label or by its text.

    ``gold`` may be a letter ("B"), the option text, a full option line ("D. A person picks up
    the pineapple") or, when ``choices`` is given, a 0-based index written as a string ("2"),
    which is how MMLU stores its answers. A digit gold is therefore always an index when
    choices are given, even if the options themselves are numbers.
    """
    choices = [str(c) for c in choices or []]
    n = len(choices) or None
    labels, texts = map(list, zip(*(_split_option(c, i) for i, c in enumerate(choices)))) if choices else ([], [])
    norm_options = [{_norm_text(c), _norm_text(t)} for c, t in zip(choices, texts)]

    def option_of_text(s: str) -> int | None:
        return next((i for i, o in enumerate(norm_options) if _norm_text(s) in o), None)

    gold = gold.strip()
    if choices and gold.isdigit() and int(gold) < len(choices):
        g_idx, g_text = int(gold), texts[int(gold)]
    elif (m := _BARE_LABEL.fullmatch(_clean(gold))) and (i := _label_index(m.group(1), labels, n)) is not None:
        g_idx, g_text = i, texts[i] if choices else None
    elif (i := option_of_text(gold)) is not None:
        g_idx, g_text = i, texts[i]
    elif (read := _read_label(gold, labels, n)) is not None:
        g_idx, g_text = read[0], texts[read[0]] if choices else read[1]
    else:
        g_idx, g_text = None, gold

    if (read := _read_label(pred, labels, n)) is not None:
        return read[0] == g_idx
    if g_text is not None and _norm_text(pred) == _norm_text(g_text):
        return True
    if (i := option_of_text(pred)) is not None:
        return i == g_idx
    return g_text is not None and _math_equal(_clean(pred), _clean(g_text), rel_tol)


# --------------------------------------------------------------------------- other types

_YES_NO = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}


def _yesno_equal(pred: str, gold: str) -> bool:
    """Yes/no answers, accepting true/false, any case, a trailing period, ``\\text{}``."""
    p, g = _norm_text(pred), _norm_text(gold)
    return _YES_NO.get(p, p) == _YES_NO.get(g, g) != ""


def _text_equal(pred: str, gold: str, rel_tol: float) -> bool:
    """Short free text: normalised exact match, or numeric/LaTeX equality if both are numbers."""
    if _norm_text(pred) == _norm_text(gold) != "":
        return True
    return _to_number(pred) is not None and _to_number(gold) is not None and _math_equal(pred, gold, rel_tol)


def _check_type(answer_type: str, tolerance: float | None = None) -> None:
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"unknown answer_type {answer_type!r}; expected one of {ANSWER_TYPES}")
    if tolerance is not None and not (isinstance(tolerance, (int, float)) and 0 <= tolerance < float("inf")):
        raise ValueError(f"tolerance must be a finite number >= 0 or None, got {tolerance!r}")


def _within_tolerance(pred: str, gold: str, tolerance: float) -> bool:
    """Both plain numbers (``_to_number``: no sympy) and ``|pred - gold| <= tolerance * |gold|``,
    or ``<= tolerance`` when the gold is 0 (Vero-600k's rule for its numeric answers)."""
    p, g = _to_number(pred), _to_number(gold)
    if p is None or g is None:
        return False
    return abs(p - g) <= Fraction(tolerance) * (abs(g) if g else 1)


def _equal(
    pred: str, gold: str, answer_type: str, choices: list[str] | None, rel_tol: float, tolerance: float | None = None
) -> bool:
    gold = str(gold)
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return oversized_equal(pred, gold, answer_type)
    if tolerance is not None and answer_type not in ("choice", "yesno") and _within_tolerance(pred, gold, tolerance):
        return True
    if answer_type == "choice":
        return _choice_equal(pred, gold, choices, rel_tol)
    if answer_type == "yesno":
        return _yesno_equal(pred, gold)
    if answer_type == "text":
        return _text_equal(pred, gold, rel_tol)
    return _math_equal(pred, gold, rel_tol)


# --------------------------------------------------------------------------- public grading


def grade_answer(
    pred: str,
    gold: str,
    answer_type: str = "latex",
    choices: list[str] | None = None,
    rel_tol: float = 1e-4,
    tolerance: float | None = None,
) -> bool:
    """Whether an already-extracted answer matches the gold; never raises on odd input.

    ``answer_type`` is one of ``ANSWER_TYPES`` ("number" and "latex" share the math path);
    an unknown type is a caller bug and raises ValueError. ``tolerance``: the sample's own
    relative tolerance for numeric golds (`Sample.tolerance`; not for choice or yes/no).
    """
    _check_type(answer_type, tolerance)
    try:
        return _equal(pred, gold, answer_type, choices, rel_tol, tolerance)
    except Exception:
        return False


def grade(
    response: str,
    gold: str,
    answer_type: str = "latex",
    choices: list[str] | None = None,
    *,
    rel_tol: float = 1e-4,
    tolerance: float | None = None,
) -> Grade:
    """Binary reward for a full response: its last ``\\boxed{}`` against the gold answer
    (``tolerance``: the sample's own numeric tolerance, see `grade_answer`)."""
    _check_type(answer_type, tolerance)
    if not isinstance(response, str):
        response = "" if response is None else str(response)
    parsed = extract_last_boxed(response)
    if parsed is None:
        return Grade(0.0, None, "no_boxed")
    try:
        ok = _equal(parsed, gold, answer_type, choices, rel_tol, tolerance)
    except Exception:
        return Grade(0.0, parsed, "grader_error")
    return Grade(1.0, parsed, "correct") if ok else Grade(0.0, parsed, "wrong")
