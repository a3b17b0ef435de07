"""ZPPO's reformulated prompts (paper, Algorithm 1 step 6): a plan of hard questions -> BCQ / NCQ prompts.

`mmzppo.core.selection.plan` decides which hard question gets a BCQ and which an NCQ; this
module writes them: a BCQ shows one correct teacher answer and one wrong student answer,
each drawn at random, unlabeled, in random order; an NCQ lists every wrong student answer as
wrong. Candidates of one prompt are compressed by one procedure (`compress`: the teacher's
rewrite, or the fallback that caps each candidate on its own at the shared cap), so their form
says nothing of their label. The BCQ's wrong answer is drawn among the wrong rollouts that
give a boxed answer when there are any: one without a final answer is wrong on its face.
"""

from __future__ import annotations

import random

from mmzppo.core.selection import PlainOutcome
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.prompting.builders import Prompt, bcq, ncq
from mmzppo.prompting.compress import Compressor, truncate_candidates


def build_prompts(
    planned: list[tuple[str, PlainOutcome]],
    rng: random.Random,
    compress: Compressor = truncate_candidates,
    ncq_max_candidates: int = 0,
) -> list[Prompt]:
    """The BCQ/NCQ prompts of a plan. A BCQ takes one correct teacher answer and one wrong
    student answer (one with a boxed answer when any has one), each drawn with `rng`; an NCQ
    takes every wrong student answer (with `ncq_max_candidates` > 0, a deviation for small
    machines: at most that many of them, drawn with `rng`, as candidates, while the answers of
    all of them are still listed as wrong)."""
    prompts = []
    for kind, o in planned:
        if kind == "bcq":
            boxed = [w for w in o.wrong if extract_last_boxed(w) is not None]
            correct, wrong = rng.choice(o.teacher_correct), rng.choice(boxed or o.wrong)
            prompts.append(bcq(o.sample, correct, wrong, rng, compress=compress))
        else:
            shown = o.wrong
            if 0 < ncq_max_candidates < len(o.wrong):
                shown = rng.sample(o.wrong, ncq_max_candidates)
            prompts.append(ncq(o.sample, shown, compress=compress, listed=o.wrong))
    return prompts
