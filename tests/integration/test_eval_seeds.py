"""Sampled decoding with a seed per prompt (`HFRollout.generate(..., seeds=)`, what evaluation
uses to batch sampled items): a prompt's draw depends on its seed alone, not on its batch.

Real tiny Qwen3.5 (xs), real synthetic items (image, video, text), the paper's evaluation
decoding (temperature 0.6, top-p 0.95, top-k 20, presence penalty 1.5).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mmzppo.data.synthetic import generate_suite
from mmzppo.eval.runner import EVAL_SAMPLING
from mmzppo.policy.generation.hf import HFRollout
from mmzppo.prompting.builders import plain

PAPER = dataclasses.replace(EVAL_SAMPLING, max_new_tokens=16)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    media = tmp_path_factory.mktemp("media")
    samples = list(generate_suite(["count_color", "arith_chain", "count_events"], 2, 0, "test", media, levels=[1]))
    return [plain(s) for s in samples]


def test_a_prompts_draw_depends_on_its_seed_not_its_batch(tiny_xs, prompts):
    rollout = HFRollout(tiny_xs, batch_size=None)
    seeds = [11, 22, 33, 44, 55, 66][: len(prompts)]
    batched = rollout.generate(prompts, 1, PAPER, seeds=seeds)
    torch.manual_seed(123)  # the global RNG plays no part
    alone = [rollout.generate([p], 1, PAPER, seeds=[s])[0] for p, s in zip(prompts, seeds)]
    reordered = rollout.generate(prompts[::-1], 1, PAPER, seeds=seeds[::-1])[::-1]
    for b, a, r in zip(batched, alone, reordered):
        assert b[0].token_ids == a[0].token_ids == r[0].token_ids
        assert b[0].logprobs == pytest.approx(a[0].logprobs, abs=1e-4)
    # other seeds, other draws; every drawn token inside the top-k / top-p support (finite log-prob)
    other = rollout.generate(prompts, 1, PAPER, seeds=[s + 1 for s in seeds])
    assert sum(o[0].token_ids != b[0].token_ids for o, b in zip(other, batched)) >= len(prompts) // 2
    assert all(torch.isfinite(torch.tensor(g[0].logprobs)).all() for g in batched + other)
    # n > 1: copy k of a prompt draws under seed + k
    group = rollout.generate(prompts[:1], 3, PAPER, seeds=[seeds[0]])[0]
    assert group[0].token_ids == batched[0][0].token_ids
    assert group[1].token_ids == rollout.generate(prompts[:1], 1, PAPER, seeds=[seeds[0] + 1])[0][0].token_ids
