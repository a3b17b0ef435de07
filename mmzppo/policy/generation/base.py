"""The generation interface: prompts in, sampled completions out.

The trainer never knows which backend produced a rollout: transformers `generate` (`hf.py`,
the reference, and what runs on CPU) or a colocated vLLM engine (`vllm.py`). A backend
returns, for every prompt, `n` `Completion`s with the sampled token ids, their log-probs
under the sampling distribution (temperature applied, as the sampler drew them) and the
decoded text. Prompts come as `Prompt`s (encoded by the backend) or as the trainer's
`EncodedPrompt`s, encoded once per step and shared with the loss.

A backend also owns what surrounds generation: gathering sharded parameters for the
transformers backend, loading the trainer's new weights into an engine for vLLM
(`sync_weights`, called by the loop after every rollout step's updates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mmzppo.policy.encoding import EncodedPrompt
from mmzppo.prompting.builders import Prompt

BACKENDS = ("hf", "vllm")


@dataclass(frozen=True)
class SamplingParams:
    """How completions are drawn (the paper's training defaults)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    max_new_tokens: int = 12_288
    presence_penalty: float = 0.0  # evaluation uses 1.5 (vLLM semantics)


@dataclass
class Completion:
    """One sampled completion of one prompt."""

    token_ids: list[int]  # sampled tokens, up to and including EOS if it was produced
    logprobs: list[float]  # log-prob of each sampled token under the sampling distribution
    text: str  # decoded completion without special tokens
    finished: bool  # True if EOS was produced (False: cut at max_new_tokens)


class RolloutBackend(Protocol):
    def generate(
        self, prompts: Sequence[Prompt | EncodedPrompt], n: int, sampling: SamplingParams
    ) -> list[list[Completion]]:
        """`n` completions for each prompt, in prompt order."""
        ...

    def sync_weights(self) -> None:
        """Make the next `generate` sample from the trainer's current weights."""
        ...
