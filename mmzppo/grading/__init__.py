"""The reward: a binary grade of a response's last \\boxed{} answer against the gold answer.

`grader` (mathruler first, then conservative fallbacks), `boxed` (finding boxed answers),
`limits` (the cheap checks that keep every call fast). Imports only `mmzppo.data`.
"""

from mmzppo.grading.boxed import count_distinct_boxed, extract_boxed_all, extract_last_boxed, remove_boxed
from mmzppo.grading.grader import Grade, grade, grade_answer

__all__ = [
    "Grade",
    "count_distinct_boxed",
    "extract_boxed_all",
    "extract_last_boxed",
    "grade",
    "grade_answer",
    "remove_boxed",
]
