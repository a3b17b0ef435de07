"""The grader fuzzed with hostile responses: it never raises and never takes a second per call.

A seeded generator (no extra dependency, the same cases on every run) builds responses a policy
can write: huge numbers, factorials and power towers, unbalanced braces, nested boxes,
100,000-character strings and arbitrary unicode (lone surrogates included), each graded against
benign gold answers of every answer type, plus short bracketed expressions that reach the
symbolic graders. Every call is timed on its own (CPU time; see `_timed`).
"""

from __future__ import annotations

import random
import time

import pytest

from mmzppo.grading.boxed import count_distinct_boxed
from mmzppo.grading.grader import ANSWER_TYPES, Grade, grade, grade_answer

PER_CALL_LIMIT_S = 1.0  # CPU seconds per grade() call
HANG_S = 10.0  # wall seconds per call, whatever the machine's load

# Benign gold answers per answer type (with the choices the item would carry).
GOLDS: dict[str, list[tuple[str, list[str] | None]]] = {
    "number": [("5", None), ("3.5", None), ("-2", None), ("1,000", None), (r"\frac{1}{3}", None)],
    "latex": [(r"\frac{1}{2}", None), ("x^2+1", None), (r"\{1,2\}", None), (r"\sqrt{2}", None), (r"45^\circ", None)],
    "choice": [
        ("B", ["red", "blue", "green"]),
        ("2", ["1", "2", "3"]),
        ("D", [r"$90^{\circ}$", r"$100^{\circ}$", r"$110^{\circ}$", r"$120^{\circ}$"]),
        ("D. A person picks up the pineapple", None),
    ],
    "yesno": [("yes", None), ("no", None)],
    "text": [("put head down", None), ("7", None), ("3.25", None)],
}

# The answers that stalled the grader for seconds to minutes before it had limits (issue 14).
KNOWN_HOSTILE = [
    "4659123677!",
    "1e999999",
    "9**9**9",
    "10**10000",
    "1" * 10_000,
    "7" * 50_000,
    "1e999999+1",
    "10^{10^{10}}",
    "9^{9^{9}}",
    "2^{2^{2^{2^{2}}}}",
    "((10^{99})^{99})^{99}",
    "9!!!!",
    "(5!)!",
    r"\frac{1}{1e999999}",
    r"\binom{1000000}{500000}",
    "(10**10000)!",
    "10**10**10-1",
    "9**9**9**9",
    "(9**99)**99",
    "factorial(4659123677)",
    "0." + "3" * 20_000,
    "1" * 5_000 + "/" + "3" * 5_000,
    "x^{99999999}",
    r"\Gamma(4659123677)",
    "1e-999999",
    "-1e999999",
    "1E+999999",
    "2**-99999999",
    " " * 100_000 + "5",
    r"\text{" * 20_000 + "5" + "}" * 20_000,
    "(" * 30_000 + "1" + ")" * 30_000,
    "9" * 4_300,
    "9" * 4_301,
    "1," * 20_000 + "000",
]

LATEX_TOKENS = [
    r"\frac",
    r"\dfrac",
    r"\sqrt",
    "^",
    "_",
    "!",
    "**",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    r"\{",
    r"\}",
    r"\left(",
    r"\right)",
    r"\sum",
    r"\prod",
    r"\int",
    r"\lim",
    r"\infty",
    r"\pi",
    r"\binom",
    r"\text{",
    r"\begin{pmatrix}",
    r"\end{pmatrix}",
    "&",
    r"\\",
    r"\cdot",
    r"\times",
    "+",
    "-",
    "/",
    "=",
    ",",
    ".",
    "x",
    "y",
    "n",
    "e",
    "E",
    "i",
    "%",
    r"\%",
    "$",
    r"^\circ",
    r"\boxed{",
    r"\fbox{",
    " ",
    "\n",
]


def _number(rng: random.Random) -> str:
    kind = rng.randrange(6)
    digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([1, 3, 30, 400, 5000])))
    if kind == 0:
        return digits
    if kind == 1:
        return f"{rng.randint(1, 9)}e{rng.choice(['', '-', '+'])}{rng.randint(100, 10**7)}"
    if kind == 2:
        return f"{rng.randint(2, 99)}{rng.choice(['^', '**'])}{rng.randint(100, 10**8)}"
    if kind == 3:
        return f"{rng.randint(10, 10**10)}" + "!" * rng.randint(1, 4)
    if kind == 4:
        op = rng.choice(["^", "**"])
        return op.join(str(rng.randint(2, 99)) for _ in range(rng.randint(2, 5)))
    return f"{digits}.{digits}"


def _tower(rng: random.Random) -> str:
    """Nested powers and factorials in LaTeX bracing: 9^{9^{9}}, ((10^{99})^{99})^{99}, (n!)!."""
    s = str(rng.randint(2, 99))
    for _ in range(rng.randint(2, 6)):
        s = rng.choice(
            [
                f"{rng.randint(2, 99)}^{{{s}}}",
                f"({s})^{{{rng.randint(2, 999)}}}",
                f"({s})!",
                f"{{{s}}}^{rng.randint(2, 9)}",
            ]
        )
    return s


def _soup(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(LATEX_TOKENS + [str(rng.randint(0, 10**6))]) for _ in range(n))


def _unicode(rng: random.Random, n: int) -> str:
    """Arbitrary code points: control characters, combining marks, RTL, CJK, emoji, lone surrogates."""
    ranges = [
        (0, 0x1F),
        (0x20, 0x7E),
        (0x300, 0x36F),
        (0x590, 0x6FF),
        (0x2000, 0x2BFF),
        (0x4E00, 0x9FFF),
        (0xD800, 0xDFFF),
        (0xFE00, 0xFFFF),
        (0x1F300, 0x1FAFF),
        (0xE0000, 0x10FFFF),
    ]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def _braces(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(["{", "}", r"\{", r"\}", r"\boxed{", "\\", "x", "1"]) for _ in range(n))


def _leaf(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.randint(0, 12))
    if kind == 1:
        return str(rng.randint(10, 10 ** rng.choice([2, 3, 4, 10, 40])))
    if kind == 2:
        return f"{rng.randint(1, 9)}.{rng.randint(0, 99)}e{rng.choice(['', '-', '+'])}{rng.randint(1, 10 ** rng.randint(1, 7))}"
    if kind == 3:
        return rng.choice(["x", "n", "e", r"\pi", "k", "y"])
    if kind == 4:
        return f"{rng.randint(1, 99)}.{rng.randint(0, 999)}"
    return f"{rng.randint(1, 9)}{rng.choice(['x', 'n'])}"


def expression(rng: random.Random, depth: int = 0) -> str:
    """A short, well-bracketed math expression that reaches the symbolic graders: the place where
    a missing limit would let sympy build an enormous number (powers, towers, factorials)."""
    if depth >= 4 or rng.random() < 0.25:
        return _leaf(rng)
    a, b = expression(rng, depth + 1), expression(rng, depth + 1)
    return rng.choice(
        [
            f"{a}+{b}",
            f"{a}-{b}",
            f"{a}*{b}",
            f"{a} {b}",
            f"{a}\\cdot {b}",
            rf"\frac{{{a}}}{{{b}}}",
            rf"\sqrt{{{a}}}",
            f"{a}^{{{b}}}",
            f"{a}^{b}",
            f"{a}**{b}",
            f"({a})**({b})",
            f"({a})!",
            f"{a}!",
            f"({a})^{{{b}}}",
            f"{{{a}}}^{{{b}}}",
            rf"\binom{{{a}}}{{{b}}}",
            rf"\Gamma({a})",
            rf"\sqrt[{b}]{{{a}}}",
            rf"\left({a}\right)",
            f"{a}!!",
            rf"{a}\times 10^{{{b}}}",
            f"-{a}",
            f"{a}/{b}",
            rf"\exp({a})",
            rf"\log({a})",
            rf"\sin({a})",
        ]
    )


def hostile_answer(rng: random.Random) -> str:
    """One hostile final answer (what would stand inside the box)."""
    kind = rng.randrange(10)
    if kind >= 8:
        return expression(rng)
    if kind == 0:
        return _number(rng)
    if kind == 1:
        return _tower(rng)
    if kind == 2:
        return _soup(rng, rng.choice([3, 20, 200, 3000]))
    if kind == 3:
        return _unicode(rng, rng.choice([1, 10, 300, 5000]))
    if kind == 4:
        return _braces(rng, rng.choice([5, 100, 5000]))
    if kind == 5:  # a huge string of one character
        return rng.choice("a19 {}(!^x\\,.") * rng.choice([1000, 10_000, 100_000])
    if kind == 6:  # an expression with an oversized literal
        return f"{_number(rng)}{rng.choice(['+', '-', '*', '/', '^'])}{_number(rng)}"
    return rng.choice(KNOWN_HOSTILE)


def hostile_response(rng: random.Random) -> str:
    """A whole response: usually boxes a hostile answer; sometimes nests or breaks the box itself."""
    answer = hostile_answer(rng)
    kind = rng.randrange(6)
    if kind == 0:  # nested boxes, possibly unclosed
        depth = rng.choice([2, 10, 1000])
        return r"\boxed{" * depth + answer + "}" * rng.randint(0, depth)
    if kind == 1:  # many boxes
        return " ".join(rf"\boxed{{{hostile_answer(rng)[:500]}}}" for _ in range(rng.randint(2, 30)))
    if kind == 2:  # a 100k-character response around the box
        return _unicode(rng, 2000) * 50 + rf"\boxed{{{answer}}}"
    if kind == 3:  # not boxed at all
        return answer
    return rf"Let me think. ... So the answer is \boxed{{{answer}}}."


def _timed(fn, *args):
    """(result, CPU seconds of the call). CPU time, because the test machines are shared: a
    neighbour's load stretches wall time, not the work sympy does; a call that hangs in C code
    burns CPU all the same. Wall time gets a loose bound as well (HANG_S)."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args)
    assert time.perf_counter() - wall < HANG_S, (fn.__name__, [str(a)[:120] for a in args])
    return out, time.process_time() - cpu


def _check(response: str, gold: str, answer_type: str, choices, slow: list) -> None:
    g, took = _timed(grade, response, gold, answer_type, choices)
    assert (
        isinstance(g, Grade) and g.reward in (0.0, 1.0) and g.reason in ("correct", "wrong", "no_boxed", "grader_error")
    )
    if took > PER_CALL_LIMIT_S:
        slow.append((round(took, 2), answer_type, gold, response[:120]))


@pytest.mark.timeout(300)
def test_known_hostile_answers_are_quick_and_wrong():
    slow: list = []
    for answer in KNOWN_HOSTILE:
        for answer_type, golds in GOLDS.items():
            for gold, choices in golds:
                response = rf"So the answer is \boxed{{{answer}}}."
                _check(response, gold, answer_type, choices, slow)
                if answer.strip() != gold:  # the box content is stripped: " " * 100_000 + "5" is 5
                    assert grade(response, gold, answer_type, choices).reward == 0.0, (answer[:80], gold)
    assert not slow, slow


@pytest.mark.timeout(300)
def test_fuzzed_responses_never_raise_and_are_quick():
    rng = random.Random(14)
    slow: list = []
    start = time.perf_counter()
    n = 0
    while n < 1200:
        response = hostile_response(rng)
        answer_type = ANSWER_TYPES[n % len(ANSWER_TYPES)]
        gold, choices = rng.choice(GOLDS[answer_type])
        _check(response, gold, answer_type, choices, slow)
        n += 1
    assert not slow, slow
    assert time.perf_counter() - start < 60  # the whole fuzz run stays short


@pytest.mark.timeout(300)
def test_fuzzed_expressions_reach_the_symbolic_graders_and_are_quick():
    """Short bracketed expressions (numbers, towers, factorials, e-notation) against numeric,
    LaTeX and text golds: most of them pass the length limits, so this is the test of rule 2."""
    rng = random.Random(1400)
    slow: list = []
    start = time.perf_counter()
    for i in range(800):
        answer_type = ("number", "latex", "text", "choice")[i % 4]
        gold, choices = rng.choice(GOLDS[answer_type])
        _check(rf"So \boxed{{{expression(rng)}}}", gold, answer_type, choices, slow)
    assert not slow, slow
    assert time.perf_counter() - start < 60


@pytest.mark.timeout(300)
def test_hostile_golds_and_extracted_answers_are_quick():
    """The limits hold on both sides: a hostile gold (a bad dataset row) and grade_answer directly."""
    rng = random.Random(140)
    slow: list = []
    for i in range(300):
        answer_type = ANSWER_TYPES[i % len(ANSWER_TYPES)]
        pred, gold = hostile_answer(rng), hostile_answer(rng)
        ok, took = _timed(grade_answer, pred, gold, answer_type, None)
        assert ok in (True, False)
        if took > PER_CALL_LIMIT_S:
            slow.append((round(took, 2), answer_type, gold[:80], pred[:80]))
        _, took = _timed(count_distinct_boxed, rf"\boxed{{{pred}}} \boxed{{{gold}}}")
        if took > PER_CALL_LIMIT_S:
            slow.append((round(took, 2), "count_distinct_boxed", gold[:80], pred[:80]))
        _check(rf"\boxed{{{pred}}}", gold, answer_type, None, slow)
    assert not slow, slow


def test_oversized_answers_equal_only_when_identical():
    """The documented rule: past the size limits only the normalised strings are compared."""
    big = "1" * 5_000
    assert grade(rf"\boxed{{{big}}}", big, "number").reward == 1.0
    assert grade(rf"\boxed{{{big}}}", big + "1", "number").reward == 0.0
    assert grade(rf"\boxed{{ {big} }}", big, "text").reward == 1.0
    assert grade(r"\boxed{10**10000}", "10**10000").reward == 1.0  # string-identical: equal
    assert grade(r"\boxed{10**10000}", "10**10001").reward == 0.0
    assert grade(r"\boxed{4659123677!}", "4659123677!").reward == 1.0
    assert grade(r"\boxed{(4659123677)!}", "4659123677!").reward == 0.0  # equal, but too costly to prove
