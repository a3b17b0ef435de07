"""TODO docstring"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

import torch

from mmzppo.core.guidance import answer_free_lines
from mmzppo.data.sample import Sample
from mmzppo.policy.generation.base import Completion
from mmzppo.prompting.builders import Prompt
from mmzppo.prompting.compress import Compressor, truncate_candidates
from mmzppo.teachers.base import TokenScores


class TextAnswers:
    """What the teachers without a model share (reference solutions, precomputed answers):
    candidates compressed by a deterministic compressor, hints written by leaving out the
    answer lines (`answer_free_lines`; a deviation: no model writes them)."""

    def __init__(self, compress: Compressor = truncate_candidates):
        self.compressor = compress
        self.counts: Counter = Counter()

    def compress(self, responses: list[str]) -> list[str]:
        return self.compressor(responses)

    def write_hints(self, samples: list[Sample], answers: list[str]) -> list[str]:
        self.counts["hints"] += len(samples)
        return [answer_free_lines(a) for a in answers]


class ReferenceTeacher(TextAnswers):
    """The gold worked solution as the teacher's response (a `Teacher`; a DEVIATION).

    solutions: uid -> solution, as a mapping or a callable (None / missing = no solution).
    compress: the candidate compressor (default: the deterministic `truncate_candidates`,
        itself a documented deviation; pass a `LocalTeacher(...).compress` to use a model).

    `sample` returns `n` copies of the solution for each prompt's `uid` (as completions
    with no token ids: nothing was sampled), or [] when the question has none: the caller
    then treats the question as one the teacher could not answer (no BCQ), rather than the
    whole step failing on one unsolved item.
    """

    def __init__(
        self,
        solutions: Mapping[str, str | None] | Callable[[str], str | None],
        compress: Compressor = truncate_candidates,
    ):
        super().__init__(compress)
        self.lookup = solutions.get if isinstance(solutions, Mapping) else solutions

    @classmethod
    def from_samples(cls, samples: Iterable[Sample], compress: Compressor = truncate_candidates) -> ReferenceTeacher:
        """A teacher over the `solution` field of `samples` (keyed by uid)."""
        return cls({s.uid: s.solution for s in samples if s.solution and s.solution.strip()}, compress)

    def sample(self, prompts: list[Prompt], n: int) -> list[list[Completion]]:
        out = []
        for p in prompts:
            solution = self.lookup(p.uid)
            answer = Completion(token_ids=[], logprobs=[], text=solution or "", finished=True)
            out.append([answer] * n if solution and solution.strip() else [])
        return out

    def score(self, prompts: list[Prompt], completions: list[list[int]], top_k: int = 0) -> TokenScores:
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
        return TokenScores(token_logprobs=zeros, logprobs=zeros.unsqueeze(-1), indices=ids.unsqueeze(-1), mask=mask)


class PrecomputedTeacher(TextAnswers):
    """Teacher answers written into the shards beforehand (`teacher_kind: precomputed`; a DEVIATION).

    `python -m mmzppo.teachers.local annotate` stores G_T graded answers per question in the shards'
    `teacher.json` member (the reader puts them in `sample.meta["teacher"]`); this teacher
    hands them out. The deviation from the paper: the answers are drawn once and re-used on
    every visit of a question, where the paper samples the teacher afresh (Algorithm 1,
    step 4). What it buys: no teacher model or server during training.

    samples: uid -> the step's `Sample` (the trainer's current questions), mapping or callable.
    compress: the candidate compressor (default the deterministic `truncate_candidates`, a
        documented deviation: there is no model to rewrite with).

    `sample` returns the first `n` stored answers of each question (all of them when fewer;
    [] when it has none); the caller grades them again with the run's reward.
    """

    def __init__(
        self, samples: Mapping[str, Sample] | Callable[[str], Sample | None], compress: Compressor = truncate_candidates
    ):
        super().__init__(compress)
        self.lookup = samples.get if isinstance(samples, Mapping) else samples

    def sample(self, prompts: list[Prompt], n: int) -> list[list[Completion]]:
        out = []
        for p in prompts:
            sample = self.lookup(p.uid)
            stored = (sample.meta or {}).get("teacher") or [] if sample is not None else []
            answers = [Completion([], [], t["response"], True) for t in stored[:n]]
            self.counts["sampled"] += len(answers)
            out.append(answers)
        return out
