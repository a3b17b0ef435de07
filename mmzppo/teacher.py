"""Teachers: where the correct candidate of a BCQ comes from, and who compresses candidates.

ZPPO (paper, Algorithm 1, step 4) asks the teacher for G_T = 4 fresh responses to every
hard question on every visit, and (section 3) has it rewrite every candidate, teacher's
and student's alike, into a short summary (at most 5 lines / 512 tokens) that keeps the
essential steps and the final \\boxed{} answer. A `Teacher` does those two things:

    sample(prompts, n)   -> n responses per prompt
    compress(responses)  -> one summary per response, compressed together (a `Compressor`)

The caller grades the teacher's responses with the same reward as the student's
(`mmzppo.reward.grade` against the gold answer); only correct ones become BCQ candidates,
and a question whose teacher has no correct response gets no BCQ (an NCQ at most).

* `LocalTeacher`: any local model (a bigger tiny Qwen3.5 here, Qwen3.5-27B on a real
  machine) sampled through a rollout backend (`HFRollout` by default).
* `ReferenceTeacher`: the dataset's gold worked solution (`Sample.solution`) instead of
  sampled responses. A DEVIATION from the paper, for machines without a teacher model:
  it is deterministic (the same candidate on every visit) and always correct.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping, Protocol, runtime_checkable

from mmzppo.data.sample import Sample
from mmzppo.models import Policy
from mmzppo.prompts import Compressor, Prompt, truncate_candidates
from mmzppo.reward import extract_last_boxed
from mmzppo.rollout.base import RolloutBackend, SamplingParams
from mmzppo.rollout.hf import HFRollout

# The paper's rewrite budget for a compressed candidate.
MAX_LINES = 5
MAX_TOKENS = 512
THINK_BLOCK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)

REWRITE_INSTRUCTION = (
    "Rewrite the response below into at most 5 lines. Keep only the essential reasoning steps "
    "and end with its final answer in \\boxed{{}}, unchanged. Do not solve the problem again "
    "and do not say whether the response is correct.\n\n<response>\n{response}\n</response>"
)


@runtime_checkable
class Teacher(Protocol):
    def sample(self, prompts: list[Prompt], n: int) -> list[list[str]]:
        """`n` responses for each prompt (fewer, possibly none, if the teacher has none)."""
        ...

    def compress(self, responses: list[str]) -> list[str]:
        """One summary per response, compressed together (same procedure for all)."""
        ...


def enforce_summary(summary: str, original: str, max_lines: int = MAX_LINES) -> str:
    """Make a model-written summary obey the rules whatever the model wrote: at most
    `max_lines` non-empty lines, ending with the ORIGINAL response's final \\boxed{} answer.

    A rewrite must never change which answer a candidate gives (its correct/wrong label
    depends on it), so a summary whose last boxed answer differs, or that has none, keeps
    its first lines and gets the original answer as its last line.
    """
    answer = extract_last_boxed(original)
    summary = THINK_BLOCK.sub("", summary)  # a thinking teacher's reasoning about the rewrite
    lines = [ln.rstrip() for ln in summary.strip().splitlines() if ln.strip()]
    if answer is None:
        return "\n".join(lines[:max_lines]) or "(empty response)"
    if extract_last_boxed("\n".join(lines[:max_lines])) == answer and len(lines) <= max_lines:
        return "\n".join(lines)
    body = [ln for ln in lines if "\\boxed" not in ln][: max_lines - 1]
    return "\n".join(body + [f"Final answer: \\boxed{{{answer}}}"])


class LocalTeacher:
    """A local model as the teacher (a `Teacher`).

    policy: the teacher model (any `load_policy` result: VLM or text-only).
    rollout_backend: how it samples (default: `HFRollout(policy)`).
    sampling: sampling for `sample` (default `SamplingParams()`: the paper's temperature 1,
        top-p 1, 12,288 new tokens).
    compress_with_model: True = the model rewrites each candidate (the paper's method,
        greedy, then `enforce_summary`); False = the deterministic `truncate_candidates`
        fallback, a DEVIATION from the paper (no model call).
    compress_max_tokens: new-token budget of one rewrite (the paper's 512).
    fallback: the compressor used when `compress_with_model` is False (as `ReferenceTeacher`'s
        `compress`).
    batch_size: sequences per generate call of the default backend (bounds memory).
    """

    def __init__(
        self,
        policy: Policy,
        rollout_backend: RolloutBackend | None = None,
        sampling: SamplingParams = SamplingParams(),
        compress_with_model: bool = False,
        compress_max_tokens: int = MAX_TOKENS,
        batch_size: int | None = None,
        fallback: Compressor = truncate_candidates,
    ):
        self.policy = policy
        self.backend = rollout_backend if rollout_backend is not None else HFRollout(policy, batch_size=batch_size)
        self.sampling = sampling
        self.compress_with_model = compress_with_model
        self.compress_max_tokens = compress_max_tokens
        self.fallback = fallback

    def sample(self, prompts: list[Prompt], n: int) -> list[list[str]]:
        """`n` fresh responses per prompt (drawn on every call: no cache, as in the paper)."""
        return [[c.text for c in group] for group in self.backend.generate(prompts, n, self.sampling)]

    def compress(self, responses: list[str]) -> list[str]:
        if not self.compress_with_model:
            return self.fallback(responses)
        prompts = [rewrite_prompt(r, i) for i, r in enumerate(responses)]
        greedy = SamplingParams(temperature=0.0, max_new_tokens=self.compress_max_tokens)
        groups = self.backend.generate(prompts, 1, greedy)
        return [enforce_summary(g[0].text, r) for g, r in zip(groups, responses)]


def rewrite_prompt(response: str, index: int = 0) -> Prompt:
    """The text-only prompt asking the teacher to compress one response."""
    text = REWRITE_INSTRUCTION.format(response=response.strip())
    message = {"role": "user", "content": [{"type": "text", "text": text}]}
    return Prompt(uid=f"compress-{index}", kind="plain", messages=[message])


class ReferenceTeacher:
    """The gold worked solution as the teacher's response (a `Teacher`; a DEVIATION).

    solutions: uid -> solution, as a mapping or a callable (None / missing = no solution).
    compress: the candidate compressor (default: the deterministic `truncate_candidates`,
        itself a documented deviation; pass a `LocalTeacher(...).compress` to use a model).

    `sample` returns `n` copies of the solution for each prompt's `uid`, or [] when the
    question has none: the caller then treats the question as one the teacher could not
    answer (no BCQ), rather than the whole step failing on one unsolved item.
    """

    def __init__(
        self,
        solutions: Mapping[str, str | None] | Callable[[str], str | None],
        compress: Compressor = truncate_candidates,
    ):
        self.lookup = solutions.get if isinstance(solutions, Mapping) else solutions
        self.compressor = compress

    @classmethod
    def from_samples(cls, samples: Iterable[Sample], compress: Compressor = truncate_candidates) -> "ReferenceTeacher":
        """A teacher over the `solution` field of `samples` (keyed by uid)."""
        return cls({s.uid: s.solution for s in samples if s.solution and s.solution.strip()}, compress)

    def sample(self, prompts: list[Prompt], n: int) -> list[list[str]]:
        out = []
        for p in prompts:
            solution = self.lookup(p.uid)
            out.append([solution] * n if solution and solution.strip() else [])
        return out

    def compress(self, responses: list[str]) -> list[str]:
        return self.compressor(responses)
