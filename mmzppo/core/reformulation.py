"""ZPPO's reformulated prompts (paper, Algorithm 1 step 6): a plan of hard questions -> BCQ / NCQ prompts.

`mmzppo.core.selection.plan` decides which hard question gets a BCQ and which an NCQ; this
module writes them: a BCQ shows one correct teacher answer and one wrong student answer,
each drawn at random, unlabeled, in random order; an NCQ lists every wrong student answer as
wrong. Candidates of one prompt are compressed together (`compress`: the teacher's rewrite,
or the deterministic truncation fallback), so their length says nothing of their label.
"""

from __future__ import annotations

import random

from mmzppo.core.selection import PlainOutcome
from mmzppo.prompting.builders import Prompt, bcq, ncq
from mmzppo.prompting.compress import Compressor, truncate_candidates


def build_prompts(
    planned: list[tuple[str, PlainOutcome]], rng: random.Random, compress: Compressor = truncate_candidates
) -> list[Prompt]:
    """The BCQ/NCQ prompts of a plan. A BCQ takes one correct teacher answer and one wrong
    student answer, each drawn with `rng`; an NCQ takes every wrong student answer."""
    prompts = []
    for kind, o in planned:
        if kind == "bcq":
            correct, wrong = rng.choice(o.teacher_correct), rng.choice(o.wrong)
            prompts.append(bcq(o.sample, correct, wrong, rng, compress=compress))
        else:
            prompts.append(ncq(o.sample, o.wrong, compress=compress))
    return prompts
