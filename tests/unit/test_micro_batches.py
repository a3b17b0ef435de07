"""Micro-batches of an update: by count, and packed under a token budget (padded tokens), with
stub encodings (no model)."""

from __future__ import annotations

from helpers import encoded_stub

from mmzppo.data.sample import Sample
from mmzppo.policy.generation.base import Completion
from mmzppo.prompting.builders import plain
from mmzppo.train.rollout import Rollout
from mmzppo.train.update import MicroBatching, micro_batches


def rollout(prompt_tokens: int, length: int, reward: float = 0.0, q: int = 0) -> Rollout:
    """A rollout of question q whose prompt is a stub of `prompt_tokens` tokens."""
    s = Sample(uid=f"q{q}", question=f"What is {q} + {q}?", answer=str(2 * q), answer_type="number")
    tokens = [(5 * q + j) % 200 + 10 for j in range(length)]
    return Rollout(
        plain(s), encoded_stub(s.uid, prompt_tokens), Completion(tokens, [0.0] * length, "", True), reward, None
    )


def test_micro_batches_respect_count_and_token_budget():
    rollouts = [rollout(p, c) for p, c in [(10, 5), (200, 50), (12, 4), (210, 40), (11, 6), (205, 45), (10, 3)]]
    idx = list(range(len(rollouts)))
    by_count = micro_batches(rollouts, idx, MicroBatching(size=3))
    assert [len(b) for b in by_count] == [3, 3, 1] and sorted(sum(by_count, [])) == idx
    budget = MicroBatching(size=100, tokens=600)
    packed = micro_batches(rollouts, idx, budget)
    assert sorted(sum(packed, [])) == idx
    for b in packed:  # padded tokens within the budget, unless one sequence alone exceeds it
        padded = len(b) * (max(rollouts[i].prompt_tokens for i in b) + max(len(rollouts[i].token_ids) for i in b))
        assert padded <= budget.tokens or len(b) == 1
    short = [b for b in packed if all(rollouts[i].prompt_tokens < 100 for i in b)]
    assert len(short) == 1 and len(short[0]) == 4  # the four short prompts share one pass; long ones go alone
