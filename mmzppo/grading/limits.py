"""What the grader may hand to sympy and math_verify: limits checked before anything expensive runs.

The grader runs in-process (rollout grading, eval), so one
answer a policy writes must not stall a step; sympy's worst cases (``4659123677!``,
``9**9**9``, ``10^{10^{10}}``, ``1e999999``) build integers with billions of digits inside C
code that neither ``signal.alarm`` nor a thread can interrupt. So the limits are checked
cheaply *before* anything expensive runs, on the answer and on the gold alike:

1. An answer or gold longer than ``MAX_ANSWER_CHARS`` (1,000 characters; the longest real
   option text in ``benchdata`` is 312) is equal only when the two are identical after
   collapsing whitespace (case-folded for choice / yes-no / text answers). Nothing else runs
   on it, so the regular expressions below never see a huge string.
2. An answer longer than ``MAX_SYMBOLIC_CHARS`` (300 characters) gets the normalised string
   comparison only (as before these limits). Shorter ones reach sympy (``mathruler``'s sympy
   step, ``math_verify``) only when the answer and the gold pass ``too_costly``, which
   refuses what sympy would have to compute exactly and could not finish (``exp`` counts as
   a power, its argument as the exponent; ``1.7e+2`` counts as a 3-digit number):

   * a scientific exponent of 3+ digits (``1e999999``);
   * an exponent holding a number of 3+ digits, a power or a factorial (``2^{9!}``,
     ``10^{10^{10}}``), a power right after an exponent (``9**9**9``), more than one
     exponent of 10 or more, or a bracketed power raised twice (``((a^b)^c)^d``);
   * a factorial of anything but a letter, a number below 1000 or a bracketed sum of those,
     or two in a row (``4659123677!``, ``(99*99)!``, ``9!!``); ``\\Gamma`` / binomials of
     anything else (``\\Gamma(\\Gamma(11))``);
   * more than 3 elementary functions (sin, log, exp ...), or any of them beside a number of
     7+ digits or in scientific notation (``\\sin(10^{40})`` needs 40 digits of pi).

   A too-costly answer keeps ``mathruler``'s string normalisation and the exact numeric
   comparison; it is never handed to sympy. ``math_verify`` in addition never sees text
   (more than 3 distinct letters outside LaTeX commands: an option sentence parsed as a
   product of a dozen symbols costs seconds to simplify), nor the sums, integrals and
   multi-power expressions it was refused before.

On real benchmark answers these limits change no verdict: 36,034 answer pairs built from
MATH-500, MathVision, AIME25, GSM8K, IMO-AnswerBench, MMLU and TempCompass grade the same
before and after (``python benchmarks/grader_verdicts.py``). ``tests/faults/test_grader_fuzz.py``
checks that hostile answers of every type take well under a CPU second per call.
"""

from __future__ import annotations

import re

DEGREE_PERCENT = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree|\\%|%")


MAX_ANSWER_CHARS = 1_000  # longer answers or golds: equal only when identical (module docstring, rule 1)
MAX_SYMBOLIC_CHARS = 300  # longer ones never reach sympy / math_verify (rule 2)
_MAX_EXPONENT_DIGITS = 2  # an exponent holding a number of 3+ digits (>= 100) is refused
_MAX_FACTORIAL_DIGITS = 3  # n! up to 999! (2,565 digits) is cheap; 4659123677! is not

# Powers, and the functions that grow like them (their argument is an exponent too).
_POWER = re.compile(r"\^|\*\*|\\(?:exp|sinh|cosh)(?![A-Za-z])|(?<![A-Za-z\\])exp(?=\s*[({])")
_POWER_NEXT = re.compile(r"\s*(?:\^|\*\*)")
_SCI_EXPONENT = re.compile(r"\d\.?\s*[eE]\s*[-+]?\s*\d{3,}")  # 1e999999, 2.5E+100
_FACTORIAL = re.compile(r"(?<!\\)!")  # "\!" is LaTeX's negative thin space (10,\!080), not a factorial
_TERM = r"\s*[-+]?\s*\d{0,3}[A-Za-z]?\s*"
# What may stand right before "!": a letter, a number below 1000, or a bracketed sum of those.
_SMALL_FACTORIAL_OPERAND = re.compile(
    rf"(?:(?<![A-Za-z])[A-Za-z]|(?<![\d.])\d{{1,{_MAX_FACTORIAL_DIGITS}}}"
    rf"|\((?:{_TERM}[-+])*{_TERM}\)|\{{(?:{_TERM}[-+])*{_TERM}\}})\s*$"
)
# Functions that grow like factorials: their arguments must be as small as a factorial's operand.
_GROWING_FUNCTION = re.compile(
    r"\\(?:Gamma|binom|dbinom|tbinom)(?![A-Za-z])|(?<![A-Za-z\\])(?:factorial|binomial|gamma)"
)
_SMALL_ARGUMENT = re.compile(rf"(?:{_TERM}[-+])*{_TERM}")
_DIGIT_RUN = re.compile(r"\d+")
# sympy's simplify (trigsimp, factoring) and evalf of these take seconds when they nest or
# get huge arguments (sin(sin(sin(sin(5)))), sin(10^40)): at most 3 of them, on numbers of
# at most 6 digits.
_FUNCTION = re.compile(
    r"\\(?:arcsin|arccos|arctan|sinh|cosh|tanh|sin|cos|tan|cot|sec|csc|log|ln|lg|exp)(?![A-Za-z])"
    r"|(?<![A-Za-z\\])(?:sin|cos|tan|log|ln|exp)(?=\s*[({])"
)
_MAX_FUNCTIONS = 3
_MAX_FUNCTION_DIGITS = 6
_SCI_NUMBER = re.compile(r"\d\.?\s*[eE]\s*([-+]?)\s*(\d+)")  # 1.74e+2: a number of 3 digits
# command names, environment names and \text{...} words (math_verify reads those as one string)
_LATEX_COMMAND = re.compile(r"\\(?:text\w*|mathrm|mbox|operatorname|begin|end)\s*\{[^{}]*\}|\\[A-Za-z]+")
_MAX_LETTERS = 3  # math_verify's simplify over many symbols (a sentence parsed as a product) takes seconds
COSTLY_FOR_MATH_VERIFY = re.compile(r"\\binom|\\prod|\\sum|\\int|\^\s*\{?\s*[\d.]{3,}|\^[^^]*\^")


def _group_end(s: str, i: int) -> int:
    """Index after the bracket group that opens at ``s[i]`` (the end of ``s`` if never closed)."""
    opener, closer = s[i], {"{": "}", "(": ")", "[": "]"}[s[i]]
    depth = 0
    for j in range(i, len(s)):
        if s[j] == opener:
            depth += 1
        elif s[j] == closer:
            depth -= 1
            if not depth:
                return j + 1
    return len(s)


def _group_start(s: str, j: int) -> int:
    """Index of the bracket that opens the group closing at ``s[j]`` (0 if never opened)."""
    closer, opener = s[j], {"}": "{", ")": "(", "]": "["}[s[j]]
    depth = 0
    for i in range(j, -1, -1):
        if s[i] == closer:
            depth += 1
        elif s[i] == opener:
            depth -= 1
            if not depth:
                return i
    return 0


def _exponent_end(s: str, i: int) -> int:
    """Index after the exponent that starts at ``s[i]`` (just after ``^`` or ``**``).

    A bracket group, a LaTeX command with its brace arguments (``^\frac{1}{2}``), or a word
    (``**99``: Python reads the whole number, so the check does too).
    """
    while i < len(s) and s[i] in " -+":
        i += 1
    if i < len(s) and s[i] in "{([":
        return _group_end(s, i)
    if i < len(s) and s[i] == "\\":
        j = i + 1
        while j < len(s) and s[j].isalpha():
            j += 1
        while j < len(s) and s[j] == "{":
            j = _group_end(s, j)
        return j
    j = i
    while j < len(s) and (s[j].isalnum() or s[j] in "._"):
        j += 1
    return j


def _digits(s: str) -> int:
    """Digits of the largest number written in ``s`` (``1.74e+2`` counts as 3)."""
    plain = max(map(len, _DIGIT_RUN.findall(s)), default=0)
    scientific = max((int(e[-6:]) + 1 for sign, e in _SCI_NUMBER.findall(s) if sign != "-"), default=0)
    return max(plain, scientific)


def _arguments(s: str, i: int) -> list[str]:
    """The bracketed arguments that follow ``s[i]`` (``\\binom{a}{b}``, ``\\Gamma(a)``), else a word."""
    out = []
    while True:
        while i < len(s) and s[i] == " ":
            i += 1
        if i >= len(s) or s[i] not in "{([":
            break
        end = _group_end(s, i)
        out.append(s[i + 1 : end - 1])
        i = end
    if not out:
        end = _exponent_end(s, i)
        out.append(s[i:end])
    return out


def too_costly(s: str) -> bool:
    """Whether sympy could spend unbounded time on ``s``, so that no symbolic grader may see it.

    The rule is the module docstring's rule 2. Everything it refuses is a number whose exact
    value sympy would compute eagerly (it has no lazy big integers), so the check looks at the
    size of what would be computed, not at whether the answer is plausible.
    """
    if len(s) > MAX_SYMBOLIC_CHARS or _SCI_EXPONENT.search(s):
        return True
    s = DEGREE_PERCENT.sub("", s)  # "5r^5^\circ" is a degree sign, not a power tower
    large_exponents = nested_powers = 0
    for m in _POWER.finditer(s):
        end = _exponent_end(s, m.end())
        exponent = s[m.end() : end]
        if _POWER.search(exponent) or _FACTORIAL.search(exponent) or _POWER_NEXT.match(s, end):
            return True  # a tower: a**b**c, 10^{10^{10}}, 2^{9!}
        digits = _digits(exponent)
        if digits > _MAX_EXPONENT_DIGITS:
            return True
        large_exponents += digits == _MAX_EXPONENT_DIGITS
        base_end = len(s[: m.start()].rstrip()) - 1
        if (
            m.group() in ("^", "**")
            and base_end >= 0
            and s[base_end] in ")}]"
            and _POWER.search(s, _group_start(s, base_end), base_end)
        ):
            nested_powers += 1  # (a^b)^c
    if large_exponents > 1 or nested_powers > 1:
        return True
    functions = len(_FUNCTION.findall(s))
    if functions > _MAX_FUNCTIONS or functions and (_digits(s) > _MAX_FUNCTION_DIGITS or _SCI_NUMBER.search(s)):
        return True
    for m in _FACTORIAL.finditer(s):
        if s[m.end() : m.end() + 1] == "!" or not _SMALL_FACTORIAL_OPERAND.search(s, 0, m.start()):
            return True
    for m in _GROWING_FUNCTION.finditer(s):
        if not all(_SMALL_ARGUMENT.fullmatch(a) for a in _arguments(s, m.end())):
            return True  # Gamma(Gamma(11)) is 3628799!
    return "\\choose" in s and _digits(s) > _MAX_FACTORIAL_DIGITS


def text_like(s: str) -> bool:
    """More than ``_MAX_LETTERS`` distinct letters outside LaTeX commands: words, not math.

    Only ``math_verify`` is refused such strings (``mathruler`` has its own rule of at most two
    unknown letters before it calls sympy): an option text such as "A person picks up the
    pineapple" parses as a product of a dozen symbols, and simplifying it against an answer
    costs seconds to prove nothing.
    """
    return len({c for c in _LATEX_COMMAND.sub("", s) if c.isalpha()}) > _MAX_LETTERS


def collapse(s: str) -> str:
    """Whitespace-collapsed form: the only normalisation an oversized answer gets (rule 1)."""
    return " ".join(s.split())


def oversized_equal(pred: str, gold: str, answer_type: str) -> bool:
    """Rule 1: past ``MAX_ANSWER_CHARS``, equal only when identical after collapsing whitespace."""
    p, g = collapse(pred), collapse(gold)
    if answer_type in ("choice", "yesno", "text"):
        p, g = p.casefold(), g.casefold()
    return p == g != ""
