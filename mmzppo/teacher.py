"""Teachers: correct answers, candidate rewrites, hints and token scores for the student.

ZPPO (paper, Algorithm 1, step 4) asks the teacher for G_T = 4 fresh responses to every
hard question on every visit, and (section 3) has it rewrite every candidate, teacher's
and student's alike, into a short summary (at most 5 lines / 512 tokens) that keeps the
essential steps and the final \\boxed{} answer. The baselines ask more of it: an
answer-free hint (Alg. 5), a correct answer to start from (Alg. 6), and its next-token
distributions along a sequence (distillation, Alg. 2-3). A `Teacher` does those things:

    sample(prompts, n)          -> n `Completion`s per prompt (text; token ids if sampled)
    compress(responses)         -> one summary per response, compressed together (a `Compressor`)
    write_hints(samples, answers) -> one answer-free hint per (question, correct answer)
    score(prompts, completions, top_k) -> `TokenScores` (model teachers only)

The caller grades the teacher's responses with the same reward as the student's
(`mmzppo.reward.grade` against the gold answer); only correct ones are used, and a
question whose teacher has no correct response gets no BCQ, hint or prefix.

* `LocalTeacher`: any local model (a bigger tiny Qwen3.5 here, Qwen3.5-27B on a real
  machine) sampled through a rollout backend (`HFRollout` by default). It scores tokens
  with its OWN processor under the run's shared `VisionSettings`, so the same pixels and
  frames reach both models.
* `ReferenceTeacher`: the dataset's gold worked solution (`Sample.solution`) instead of
  sampled responses. A DEVIATION from the paper, for machines without a teacher model:
  it is deterministic (the same candidate on every visit) and always correct; its hints are
  the solution without the lines that state the answer; it has no distributions, so it
  cannot be a distillation teacher.

ZPPO, hint and prefix pass the teacher's answers to the student as TEXT, so the teacher may
use any tokenizer; the distillation methods compare distributions token by token and need
the student's tokenizer (checked at start-up by the trainer).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from mmzppo.algos.guidance import answer_free_lines
from mmzppo.data.sample import Sample
from mmzppo.models import Policy
from mmzppo.prompts import Compressor, Prompt, question_text, truncate_candidates, user_message
from mmzppo.reward import extract_last_boxed
from mmzppo.rollout.base import Completion, RolloutBackend, SamplingParams
from mmzppo.rollout.hf import HFRollout

# The paper's rewrite budget for a compressed candidate.
MAX_LINES = 5
MAX_TOKENS = 512
HINT_MAX_TOKENS = 256
THINK_BLOCK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)

REWRITE_INSTRUCTION = (
    "Rewrite the response below into at most 5 lines. Keep only the essential reasoning steps "
    "and end with its final answer in \\boxed{{}}, unchanged. Do not solve the problem again "
    "and do not say whether the response is correct.\n\n<response>\n{response}\n</response>"
)
# Our wording of the hint request (the paper's Alg. 5 says only "an answer-free hint").
HINT_INSTRUCTION = (
    "{question}\n\nA correct solution of this problem:\n<solution>\n{solution}\n</solution>\n\n"
    "Write a short hint, at most three sentences, that points a student to the key idea of this "
    "solution. Do not state the final answer or any number that gives it away, and do not use \\boxed{{}}."
)


@dataclass
class TokenScores:
    """A teacher's view of B completions, right padded to T tokens (as `mmzppo.scoring`)."""

    token_logprobs: torch.Tensor  # (B, T) log T(y_t) of each completion token
    logprobs: torch.Tensor  # (B, T, V) every token's log-prob, or (B, T, k) the top-k ones
    indices: torch.Tensor | None  # (B, T, k) token ids of the top-k log-probs; None = full vocabulary
    mask: torch.Tensor  # (B, T) True on real completion tokens


@runtime_checkable
class Teacher(Protocol):
    counts: Counter  # calls made, by kind ("sampled", "rewrites", "hints", "scored")

    def sample(self, prompts: list[Prompt], n: int) -> list[list[Completion]]:
        """`n` responses for each prompt (fewer, possibly none, if the teacher has none)."""
        ...

    def compress(self, responses: list[str]) -> list[str]:
        """One summary per response, compressed together (same procedure for all)."""
        ...

    def write_hints(self, samples: list[Sample], answers: list[str]) -> list[str]:
        """One answer-free hint per question, written from its correct answer."""
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
        self.counts: Counter = Counter()

    def sample(self, prompts: list[Prompt], n: int) -> list[list[Completion]]:
        """`n` fresh responses per prompt (drawn on every call: no cache, as in the paper)."""
        self.counts["sampled"] += len(prompts) * n
        return self.backend.generate(prompts, n, self.sampling)

    def compress(self, responses: list[str]) -> list[str]:
        if not self.compress_with_model:
            return self.fallback(responses)
        self.counts["rewrites"] += len(responses)
        prompts = [rewrite_prompt(r, i) for i, r in enumerate(responses)]
        groups = self.backend.generate(prompts, 1, self.greedy(self.compress_max_tokens))
        return [enforce_summary(g[0].text, r) for g, r in zip(groups, responses)]

    def write_hints(self, samples: list[Sample], answers: list[str]) -> list[str]:
        """The model writes each hint greedily from the question (media included) and a correct answer."""
        self.counts["hints"] += len(samples)
        prompts = [hint_request(s, a) for s, a in zip(samples, answers)]
        groups = self.backend.generate(prompts, 1, self.greedy(HINT_MAX_TOKENS))
        return [THINK_BLOCK.sub("", g[0].text).strip() for g in groups]

    def score(self, prompts: list[Prompt], completions: list[list[int]], top_k: int = 0) -> TokenScores:
        """Log-probs of the teacher along given token sequences (temperature 1): every
        token's (top_k 0) or the k largest with their ids (what a served teacher returns)."""
        from mmzppo.algos.distill import top_k as largest
        from mmzppo.scoring import score

        self.counts["scored"] += len(prompts)
        scored = score(
            self.policy.model,
            self.policy.processor,
            self.policy.vision,
            prompts,
            completions,
            with_grad=False,
            full=True,
        )
        values, indices = (scored.distributions, None) if top_k <= 0 else largest(scored.distributions, top_k)
        return TokenScores(scored.logprobs, values, indices, scored.mask)

    def greedy(self, max_new_tokens: int) -> SamplingParams:
        return SamplingParams(temperature=0.0, max_new_tokens=min(max_new_tokens, self.sampling.max_new_tokens))


def hint_request(sample: Sample, answer: str) -> Prompt:
    """The prompt asking the teacher for a hint: the question with its media, and the answer."""
    text = HINT_INSTRUCTION.format(question=question_text(sample), solution=answer.strip())
    return Prompt(uid=sample.uid, kind="plain", messages=[user_message(sample, text)])


def rewrite_prompt(response: str, index: int = 0) -> Prompt:
    """The text-only prompt asking the teacher to compress one response."""
    text = REWRITE_INSTRUCTION.format(response=response.strip())
    message = {"role": "user", "content": [{"type": "text", "text": text}]}
    return Prompt(uid=f"compress-{index}", kind="plain", messages=[message])


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

    `python -m mmzppo.teacher annotate` stores G_T graded answers per question in the shards'
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


if __name__ == "__main__":  # python -m mmzppo.teacher annotate ... (the CLI lives in mmzppo.annotate)
    from mmzppo.annotate import main

    main()
