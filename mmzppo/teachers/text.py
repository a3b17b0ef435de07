"""Teachers without a model: the dataset's worked solutions, and answers stored in the shards.

Both are DEVIATIONS from the paper, for machines without a teacher model: their answers are
text (completions with no token ids: nothing was sampled), their candidates are compressed by
a deterministic compressor (`mmzppo.prompting.compress.truncate_candidates` by default), and
their hints are the answer without the lines that state the final answer
(`mmzppo.core.guidance.answer_free_lines`; no model writes them).

* `ReferenceTeacher`: the question's gold worked solution (`Sample.solution`), n copies of
  it; deterministic (the same candidate on every visit) and always correct. As a
  distillation teacher its distribution is a point mass on each of the solution's tokens.
* `PrecomputedTeacher`: the answers `python -m mmzppo.teachers annotate` stored in the
  shards' `teacher.json` (the reader puts them in `Sample.meta["teacher"]`), re-used on every
  visit where the paper samples the teacher afresh (Algorithm 1, step 4). What it buys: no
  teacher model or server during training.

A question without a solution (or stored answers) gets no answers: the caller then treats it
as one the teacher could not answer (no BCQ), rather than the whole step failing on it.
"""

from __future__ import annotations

from collections import Counter

import torch

from mmzppo.core.guidance import answer_free_lines
from mmzppo.data.sample import Sample
from mmzppo.policy.generation.base import Completion
from mmzppo.prompting.builders import Prompt
from mmzppo.prompting.compress import Compressor, truncate_candidates
from mmzppo.teachers.base import TokenDistributions


class TextAnswers:
    """What the teachers without a model share: the compressor and the hints.

    compress: the candidate compressor (pass a `LocalTeacher(...).compress` to use a model).
    """

    def __init__(self, compress: Compressor = truncate_candidates):
        self.compressor = compress
        self.counts: Counter = Counter()

    def compress(self, responses: list[str]) -> list[str]:
        return self.compressor(responses)

    def write_hints(self, samples: list[Sample], answers: list[str]) -> list[str]:
        self.counts["hints"] += len(samples)
        return [answer_free_lines(a) for a in answers]


class ReferenceTeacher(TextAnswers):
    """The gold worked solution as the teacher's answer (a `Teacher`; see the module docstring)."""

    def answer(self, samples: list[Sample], n: int) -> list[list[Completion]]:
        out = []
        for s in samples:
            solution = s.solution
            answer = Completion(token_ids=[], logprobs=[], text=solution or "", finished=True)
            out.append([answer] * n if solution and solution.strip() else [])
        return out

    def distributions(self, prompts: list[Prompt], completions: list[list[int]], top_k: int = 0) -> TokenDistributions:
        """The reference as a distribution: a point mass on each of the sequence's own tokens
        (off-policy distillation from the dataset; a DEVIATION: no model's distribution is
        matched, and JSD_beta against a point mass is a bounded cousin of the cross-entropy of
        supervised fine-tuning). Returned in the top-k form, k = 1, so the objective compares
        the student's probability of each token and of the rest."""
        self.counts["scored"] += len(completions)
        width = max((len(c) for c in completions), default=0)
        ids = torch.zeros(len(completions), width, dtype=torch.long)
        mask = torch.zeros(len(completions), width, dtype=torch.bool)
        for i, c in enumerate(completions):
            ids[i, : len(c)] = torch.tensor(c, dtype=torch.long)
            mask[i, : len(c)] = True
        zeros = torch.zeros(len(completions), width)
        return TokenDistributions(zeros, zeros.unsqueeze(-1), ids.unsqueeze(-1), mask)


class PrecomputedTeacher(TextAnswers):
    """Answers stored in the shards (`teacher_kind: precomputed`; see the module docstring):
    the first `n` of each question (all of them when fewer; none when it has none); the caller
    grades them again with the run's reward."""

    def answer(self, samples: list[Sample], n: int) -> list[list[Completion]]:
        out = []
        for s in samples:
            stored = (s.meta or {}).get("teacher") or []
            answers = [Completion([], [], t["response"], True) for t in stored[:n]]
            self.counts["sampled"] += len(answers)
            out.append(answers)
        return out
