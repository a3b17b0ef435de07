"""A local model as the teacher: sampled answers, model-written rewrites and hints, distributions.

The paper's teacher is Qwen3.5-27B; here any `load_policy` result serves (a bigger tiny
Qwen3.5 in the tests). It samples through the transformers backend and scores tokens with
its OWN processor under the run's shared `VisionSettings`, so the same pixels and frames
reach both models. It is the only teacher whose distributions cover the whole vocabulary,
so the only one on-policy distillation can use.
"""

from __future__ import annotations

from collections import Counter

import torch

from mmzppo.data.sample import Sample
from mmzppo.policy.encoding import encode_prompts
from mmzppo.policy.generation.base import Completion, SamplingParams
from mmzppo.policy.generation.hf import HFRollout
from mmzppo.policy.loading import Policy
from mmzppo.policy.logprobs import CHUNK_TOKENS, completion_logprobs
from mmzppo.prompting.builders import Prompt, plain
from mmzppo.prompting.compress import MAX_TOKENS, Compressor, truncate_candidates
from mmzppo.teachers.base import (
    HINT_MAX_TOKENS,
    THINK_BLOCK,
    TokenDistributions,
    enforce_summary,
    hint_request,
    rewrite_prompt,
)


class LocalTeacher:
    """A local model as the teacher (a `Teacher`).

    policy: the teacher model (any `load_policy` result: VLM or text-only).
    sampling: sampling for `answer` (default `SamplingParams()`: the paper's temperature 1,
        top-p 1, 12,288 new tokens).
    compress_with_model: True = the model rewrites each candidate (the paper's method,
        greedy, then `enforce_summary`); False = the deterministic `truncate_candidates`
        fallback, a DEVIATION from the paper (no model call).
    compress_max_tokens: new-token budget of one rewrite (the paper's 512).
    fallback: the compressor used when `compress_with_model` is False (as `ReferenceTeacher`'s
        `compress`).
    batch_size: sequences per generate call (bounds memory).
    chunk_tokens: completion positions per LM-head chunk of `distributions` (no (tokens x
        vocabulary) tensor for a whole answer; the run's `logprob_chunk_tokens`).
    """

    def __init__(
        self,
        policy: Policy,
        sampling: SamplingParams = SamplingParams(),
        compress_with_model: bool = False,
        compress_max_tokens: int = MAX_TOKENS,
        batch_size: int | None = None,
        fallback: Compressor = truncate_candidates,
        chunk_tokens: int = CHUNK_TOKENS,
    ):
        self.policy = policy
        self.chunk_tokens = chunk_tokens
        self.backend = HFRollout(policy, batch_size=batch_size)
        self.sampling = sampling
        self.compress_with_model = compress_with_model
        self.compress_max_tokens = compress_max_tokens
        self.fallback = fallback
        self.counts: Counter = Counter()

    def answer(self, samples: list[Sample], n: int) -> list[list[Completion]]:
        """`n` fresh answers to each question's plain prompt (drawn on every call: no cache,
        as in the paper)."""
        self.counts["sampled"] += len(samples) * n
        return self.backend.generate([plain(s) for s in samples], n, self.sampling)

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

    def distributions(self, prompts: list[Prompt], completions: list[list[int]], top_k: int = 0) -> TokenDistributions:
        """The teacher's next-token log-probs along given token sequences (temperature 1): every
        token's (top_k 0) or the k largest with their ids (what a served teacher would return).
        Each prompt is encoded with the teacher's own processor."""
        self.counts["scored"] += len(prompts)
        encoded = encode_prompts(self.policy.processor, self.policy.vision, prompts)
        scored = completion_logprobs(
            self.policy.model,
            self.policy.tokenizer,
            encoded,
            completions,
            with_grad=False,
            full=True,
            chunk_tokens=self.chunk_tokens,
        )
        if top_k <= 0:  # the whole vocabulary, computed a chunk of positions at a time by the loss
            return TokenDistributions(scored.logprobs, None, None, scored.mask, head=scored.head)
        values, indices = scored.head.top_k(top_k)  # (N, k) at the real positions, by chunk
        shape = (*scored.mask.shape, values.shape[-1])
        where = scored.mask.unsqueeze(-1).expand(shape)
        return TokenDistributions(
            scored.logprobs,
            torch.zeros(shape).masked_scatter(where, values),
            torch.zeros(shape, dtype=torch.long).masked_scatter(where, indices),
            scored.mask,
        )

    def greedy(self, max_new_tokens: int) -> SamplingParams:
        return SamplingParams(temperature=0.0, max_new_tokens=min(max_new_tokens, self.sampling.max_new_tokens))
