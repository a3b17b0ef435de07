"""Text tasks of the synthetic suite: arith_chain, word_problem, choose_option (levels in the package docstring)."""

from __future__ import annotations

import random
from pathlib import Path

from mmzppo.data.formats import LETTERS
from mmzppo.data.sample import Sample
from mmzppo.data.synthetic.draw import _lettered, _sample

_ARITH = {1: ("+-", 9, 0), 2: ("+-", 20, 0), 3: ("+-*", 30, 5), 4: ("+-*/", 50, 6), 5: ("+-*/", 99, 9)}
_OP_WORDS = {"+": "add {k}", "-": "subtract {k}", "*": "multiply by {k}", "/": "divide by {k}"}
_OP_SIGNS = {"+": "+", "-": "-", "*": "×", "/": "÷"}
MAX_VALUE = 999


def _apply(op: str, a: int, k: int) -> int:
    return {"+": a + k, "-": a - k, "*": a * k, "/": a // k}[op]


def _operation(rng: random.Random, ops: str, a: int, top: int, top_mul: int) -> tuple[str, int]:
    """One operation on `a` that keeps every value a whole number in 0..MAX_VALUE."""
    while True:
        op = rng.choice(ops)
        if op == "+" and a + 1 <= MAX_VALUE:
            return op, rng.randint(1, min(top, MAX_VALUE - a))
        if op == "-" and a >= 2:  # never down to 0, which would make 0 a common answer
            return op, rng.randint(1, min(top, a - 1))
        if op == "*" and a >= 1 and 2 * a <= MAX_VALUE:
            return op, rng.randint(2, min(top_mul, MAX_VALUE // a))
        if op == "/" and (divisors := [d for d in range(2, 10) if a % d == 0 and a // d >= 1 and a > 0]):
            return op, rng.choice(divisors)


def arith_chain(rng: random.Random, level: int, media_dir: Path | None, uid: str) -> Sample:
    """Start with a number and apply `level` operations."""
    ops, top, top_mul = _ARITH[level]
    value = start = rng.randint(max(2, top // 4), max(9, top))
    steps, lines = [], []
    for _ in range(level):
        op, k = _operation(rng, ops, value, top, top_mul)
        new = _apply(op, value, k)
        steps.append([op, k])
        lines.append(f"{value} {_OP_SIGNS[op]} {k} = {new}")
        value = new
    words = [_OP_WORDS[op].format(k=k) for op, k in steps]
    then = "".join(f", then {w}" for w in words[1:])
    question = f"Start with {start}. {words[0].capitalize()}{then}. What is the result?"
    return _sample(
        uid,
        "arith_chain",
        level,
        "text",
        question=question,
        answer=value,
        answer_type="number",
        solution="\n".join(lines) + f"\n\\boxed{{{value}}}",
        scene={"start": start, "steps": steps},
    )


# level: (events, event kinds, largest number)
_WORD = {
    1: (1, ("add", "remove"), 9),
    2: (2, ("add", "remove", "packs"), 12),
    3: (3, ("add", "remove", "packs", "times"), 15),
    4: (4, ("add", "remove", "packs", "times", "split"), 20),
    5: (5, ("add", "remove", "packs", "times", "split"), 25),
}
_NAMES = ("Ana", "Ben", "Chen", "Dina", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jia", "Kofi", "Lena")
_ITEMS = ("apples", "marbles", "stickers", "pencils", "coins", "shells", "cards", "stamps")
_ADD = ("{n} buys {k} more {item}.", "{n} finds {k} {item}.", "{f} gives {n} {k} {item}.")
_REMOVE = ("{n} gives {k} {item} to {f}.", "{n} loses {k} {item}.", "{n} sells {k} {item}.")


def word_problem(rng: random.Random, level: int, media_dir: Path | None, uid: str) -> Sample:
    """A short story of `level` events changing how many things someone has."""
    events_n, kinds, top = _WORD[level]
    n, f = rng.sample(_NAMES, 2)
    item = rng.choice(_ITEMS)
    value = start = rng.randint(2, top)
    sentences, lines, events = [f"{n} has {start} {item}."], [f"{n} starts with {start}."], []
    for _ in range(events_n):
        while True:
            kind = rng.choice(kinds)
            if kind == "add":
                k = rng.randint(2, top)
                text, line, new = rng.choice(_ADD), f"Gets {k}: {value} + {k} = {value + k}.", value + k
            elif kind == "remove" and value >= 3:
                k = rng.randint(2, min(top, value - 1))
                text, line, new = rng.choice(_REMOVE), f"Gives away {k}: {value} - {k} = {value - k}.", value - k
            elif kind == "packs":
                m, k = rng.randint(2, 4), rng.randint(2, 6)
                text = f"{{n}} buys {m} packs of {{item}} with {k} in each pack."
                line, new = f"Buys {m} × {k} = {m * k}: {value} + {m * k} = {value + m * k}.", value + m * k
            elif kind == "times" and value <= 60:
                m = rng.choice((2, 3))
                text = "The number of {item} {n} has " + ("doubles." if m == 2 else "triples.")
                line, new = f"{'Doubles' if m == 2 else 'Triples'}: {value} × {m} = {value * m}.", value * m
            elif kind == "split" and (parts := [m for m in (2, 3, 4, 5) if value % m == 0 and value > m]):
                m = rng.choice(parts)
                text = f"{{n}} splits the {{item}} into {m} equal groups and keeps one group."
                line, new = f"Keeps one of {m} groups: {value} ÷ {m} = {value // m}.", value // m
            else:
                continue
            break
        sentences.append(text.format(n=n, f=f, k=k if kind in ("add", "remove") else "", item=item))
        lines.append(line)
        events.append({"kind": kind, "before": value, "after": new})
        value = new
    question = " ".join(sentences) + f" How many {item} does {n} have now?"
    return _sample(
        uid,
        "word_problem",
        level,
        "text",
        question=question,
        answer=value,
        answer_type="number",
        solution="\n".join(lines) + f"\n\\boxed{{{value}}}",
        scene={"events": events},
    )


def _fact(rng: random.Random, level: int) -> tuple[str, int]:
    """An arithmetic expression of the level's kind, and its value."""
    if level == 1:
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        return f"{a} + {b}", a + b
    if level == 2:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        return (f"{a} + {b}", a + b) if rng.randint(0, 1) else (f"{max(a, b)} - {min(a, b)}", abs(a - b))
    if level == 3:
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        return f"{a} × {b}", a * b
    if level == 4:
        a, b = rng.randint(11, 25), rng.randint(2, 9)
        return f"{a} × {b}", a * b
    a, b, c = rng.randint(2, 12), rng.randint(2, 12), rng.randint(2, 9)
    return (f"{a} × {b} + {c}", a * b + c) if rng.randint(0, 1) else (f"({a} + {b}) × {c}", (a + b) * c)


_NEAR_MISSES = {1: (1, 2, 3), 2: (1, 2, 10), 3: (1, 2, 3), 4: (1, 2, 10), 5: (1, 2, 10)}


def choose_option(rng: random.Random, level: int, media_dir: Path | None, uid: str) -> Sample:
    """Four arithmetic statements, one true and three off by a near miss: which is true?"""
    facts: dict[str, int] = {}
    while len(facts) < 4:
        expr, value = _fact(rng, level)
        facts.setdefault(expr, value)
    options, truth = [], {}
    for i, (expr, value) in enumerate(facts.items()):
        shown = value
        if i:  # the first fact is the true one; the others show a near miss
            while shown == value or shown < 0:
                shown = value + rng.choice((-1, 1)) * rng.choice(_NEAR_MISSES[level])
        options.append(f"{expr} = {shown}")
        truth[options[-1]] = (expr, value)
    correct = options[0]
    choices, answer = _lettered(rng, options, correct)
    lines = [
        f"{LETTERS[i]}: {truth[o][0]} is {truth[o][1]}, so it is " + ("true." if o == correct else "false.")
        for i, o in enumerate(choices)
    ]
    return _sample(
        uid,
        "choose_option",
        level,
        "text",
        question="Which of these statements is true?",
        answer=answer,
        answer_type="choice",
        choices=choices,
        solution="\n".join(lines) + f"\nOnly {answer} is true.\n\\boxed{{{answer}}}",
        scene={"options": choices},
    )
