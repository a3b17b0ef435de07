"""The presence penalty of the transformers rollout, on hand-made scores (no model)."""

from __future__ import annotations

import torch

from mmzppo.policy.generation.hf import PresencePenalty


def test_presence_penalty_processor():
    """vLLM semantics: completion tokens (not prompt tokens) lose `penalty` once each."""
    scores = torch.zeros(2, 6)
    ids = torch.tensor([[5, 1, 2, 2], [5, 3, 3, 3]])  # prompt = first token
    out = PresencePenalty(1.5, prompt_len=1)(ids, scores)
    assert out[0].tolist() == [0.0, -1.5, -1.5, 0.0, 0.0, 0.0]
    assert out[1].tolist() == [0.0, 0.0, 0.0, -1.5, 0.0, 0.0]
    assert torch.equal(PresencePenalty(1.5, prompt_len=4)(ids, scores), scores)
