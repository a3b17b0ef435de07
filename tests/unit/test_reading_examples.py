"""Reading examples shaped like RL prompts: wrong solutions that carry a slip through, NCQs that
list several wrong answers (the warm-up's `reading_prompt`)."""

from __future__ import annotations

import random
import re

from mmzppo.data.synthetic import generate_suite
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.grading.grader import grade
from mmzppo.tools.warmup import NCQ_WRONG, corrupted_solution, reading_prompt, wrong_solution

EQUATION = re.compile(r"(\d+) ([-+×÷]) (\d+) = (\d+)")
OPS = {"+": int.__add__, "-": int.__sub__, "×": int.__mul__, "÷": int.__floordiv__}


def test_a_slip_is_carried_through_to_the_final_answer(tmp_path):
    rng = random.Random(0)
    items = list(generate_suite(["arith_chain", "word_problem", "digit_arith"], 12, 0, "train", tmp_path, [2, 3, 4]))
    for s in items:
        wrong = corrupted_solution(s, rng)
        assert wrong is not None, s.solution
        equations = [m.groups() for ln in wrong.splitlines() for m in EQUATION.finditer(ln)]
        false = [e for e in equations if OPS[e[1]](int(e[0]), int(e[2])) != int(e[3])]
        assert len(false) == 1, (s.solution, wrong)  # one slip; every later step is right from it
        last = [list(EQUATION.finditer(ln))[-1] for ln in wrong.splitlines() if EQUATION.search(ln)][-1]
        assert extract_last_boxed(wrong) == last.group(4) != str(s.answer)
        assert wrong.splitlines()[0].split()[0] == s.solution.splitlines()[0].split()[0]  # same start


def test_reading_prompts_look_like_rl_prompts(tmp_path):
    rng = random.Random(1)
    items = list(generate_suite(None, 6, 0, "train", tmp_path, [1, 2, 3]))
    kinds = []
    for s in items:
        assert grade(wrong_solution(s, items, rng), s.answer, s.answer_type, s.choices).reward == 0.0
        p = reading_prompt(s, items, rng)
        kinds.append(p.kind)
        if p.kind == "ncq":
            assert NCQ_WRONG[0] <= len(p.candidates) <= NCQ_WRONG[1]
            assert p.wrong_answers and not any(
                grade(f"\\boxed{{{a}}}", s.answer, s.answer_type, s.choices).reward for a in p.wrong_answers
            )
        lines = [c.text.splitlines()[-1] for c in p.candidates]
        assert all(ln.startswith("Final answer: \\boxed{") for ln in lines)  # intact, the same form
    assert 0.3 < kinds.count("bcq") / len(kinds) < 0.7


def test_the_bcq_share_sets_the_mix(tmp_path):
    items = list(generate_suite(["arith_chain", "choose_option"], 10, 0, "train", tmp_path, [2, 3]))
    for share, expected in ((1.0, {"bcq"}), (0.0, {"ncq"})):
        rng = random.Random(2)
        assert {reading_prompt(s, items, rng, share).kind for s in items} == expected
    rng = random.Random(3)
    kinds = [reading_prompt(s, items, rng, 0.75).kind for s in items * 10]
    assert 0.65 < kinds.count("bcq") / len(kinds) < 0.85
