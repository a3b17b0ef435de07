"""What the student reads: plain, BCQ and NCQ prompts (ZPPO), hint and prefix prompts (baselines).

`builders` (the `Prompt` and one builder per kind, templates in `templates/prompts.yaml`),
`compress` (how candidates are shortened before they enter a prompt). A prompt is a
description of a conversation; reading its media and calling a processor is `mmzppo.policy`'s
job. Imports `mmzppo.data` and `mmzppo.grading` only.
"""

from mmzppo.prompting.builders import KINDS, Candidate, Prompt, bcq, hint, ncq, plain, prefix, question_text
from mmzppo.prompting.compress import Compressor, truncate_candidates

__all__ = [
    "KINDS",
    "Candidate",
    "Compressor",
    "Prompt",
    "bcq",
    "hint",
    "ncq",
    "plain",
    "prefix",
    "question_text",
    "truncate_candidates",
]
