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
(`mmzppo.grading.grader.grade` against the gold answer); only correct ones are used, and a
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

from collections import Counter

from mmzppo.data.sample import Sample
from mmzppo.policy.generation.base import Completion, RolloutBackend, SamplingParams
from mmzppo.policy.generation.hf import HFRollout
from mmzppo.policy.loading import Policy
from mmzppo.prompting.builders import Prompt
from mmzppo.prompting.compress import MAX_TOKENS, Compressor, truncate_candidates
from mmzppo.teachers.base import (
    HINT_MAX_TOKENS,
    THINK_BLOCK,
    TokenScores,
    enforce_summary,
    hint_request,
    rewrite_prompt,
)


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
        from mmzppo.core.divergences import top_k as largest
        from mmzppo.policy.logprobs import score

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
