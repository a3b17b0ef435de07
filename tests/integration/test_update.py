"""The shared update on tiny Qwen3.5 models: split invariance of the loss, PPO's log pi_old, one
encoding per prompt (the micro-batching itself: tests/unit/test_micro_batches.py)."""

from __future__ import annotations

import pytest
import torch
from helpers import encoded_stub

from mmzppo.core.ppo import ClipConfig
from mmzppo.data.sample import Sample
from mmzppo.policy.encoding import encode_prompts
from mmzppo.policy.generation.base import Completion
from mmzppo.prompting.builders import plain
from mmzppo.train.objectives import ClippedPPO
from mmzppo.train.rollout import Rollout, set_advantages
from mmzppo.train.update import MicroBatching, accumulate, old_logprobs


def rollout(prompt_tokens: int, length: int, reward: float = 0.0, q: int = 0, policy=None) -> Rollout:
    """A rollout of question q; its prompt encoded by `policy`, or a stub of `prompt_tokens`."""
    s = Sample(uid=f"q{q}", question=f"What is {q} + {q}?", answer=str(2 * q), answer_type="number")
    tokens = [(5 * q + j) % 200 + 10 for j in range(length)]
    prompt = plain(s)
    if policy is None:
        encoded = encoded_stub(s.uid, prompt_tokens)
    else:
        (encoded,) = encode_prompts(policy.processor, policy.vision, [prompt])
    return Rollout(prompt, encoded, Completion(tokens, [0.0] * length, "", True), reward, None)


def test_loss_and_gradient_do_not_depend_on_the_micro_batching(tiny_xs):
    """Token-level aggregation over a whole mini-batch: the same loss and gradient whether it
    runs as one pass, one sequence at a time, or packed by a token budget."""
    groups = [[rollout(0, 3 + (q + k) % 5, float((q + k) % 2), q, tiny_xs) for k in range(4)] for q in range(3)]
    set_advantages(groups, 1e-6)
    rollouts = [r for g in groups for r in g]
    model, objective = tiny_xs.model, ClippedPPO(ClipConfig())
    old = old_logprobs(model, tiny_xs, rollouts, MicroBatching(16), 1.0)
    results = []
    for mb in (MicroBatching(16), MicroBatching(1), MicroBatching(16, tokens=100)):
        model.zero_grad(set_to_none=True)
        stats = accumulate(model, tiny_xs, rollouts, [o - 0.1 for o in old], objective, mb, 1.0)
        grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        results.append((stats["loss"], grad.clone()))
    model.zero_grad(set_to_none=True)
    for loss, grad in results[1:]:
        assert loss == pytest.approx(results[0][0], rel=1e-5)
        torch.testing.assert_close(grad, results[0][1], rtol=1e-4, atol=1e-7)


def test_ppo_old_logprobs_come_from_the_sampler_when_they_are_exact(warm_xs, synth_shards, tmp_path):
    """`old_logprobs: auto` takes the transformers sampler's log-probs at top-p 1 (no extra
    pass, the first ratio is 1), and recomputes at top-p < 1, where the sampled distribution
    is truncated and no longer the one the loss scores."""
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.train.config_files import load_config
    from mmzppo.train.loop import Trainer

    vision = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]
    base = [
        f"student={warm_xs}",
        "teacher_kind=reference",
        f"train_shards={synth_shards}",
        "prompts_per_step=4",
        "group_size=4",
        "max_new_tokens=24",
        "steps=1",
        "updates_per_step=1",
        "dtype=float32",
        "save_every=0",
        f"output_dir={tmp_path}",
        "use_bcq=false",
        "use_ncq=false",
        *vision,
    ]
    sampler = Trainer(load_config(None, [*base, "name=a"]))
    assert sampler.updater.old_from_sampler and sampler.config.old_logprobs == "sampler"  # 'auto' resolved
    metrics, _ = sampler.step()
    assert "time/old_logprobs" not in metrics and abs(metrics["approx_kl"]) < 1e-5 and metrics["clip_ratio/high"] == 0
    assert not Trainer(load_config(None, [*base, "name=b", "top_p=0.9"])).updater.old_from_sampler
    assert not Trainer(load_config(None, [*base, "name=c", "old_logprobs=recompute"])).updater.old_from_sampler


def test_a_step_encodes_each_prompt_once(warm_xs, synth_shards, tmp_path, monkeypatch):
    """Generation encodes each prompt once (chat template, media, processor); the old-log-prob
    pass and the I updates read those encodings: a step calls the processor exactly once per
    plain, BCQ and NCQ prompt, however many forwards follow."""
    import mmzppo.policy.encoding as encoding
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.train.config_files import load_config
    from mmzppo.train.loop import Trainer

    calls = []
    original = encoding.processor_inputs
    monkeypatch.setattr(encoding, "processor_inputs", lambda *a: calls.append(a[1]) or original(*a))
    vision = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]
    trainer = Trainer(
        load_config(
            None,
            [
                f"student={warm_xs}",
                "teacher_kind=reference",
                f"train_shards={synth_shards}",
                "prompts_per_step=4",
                "group_size=4",
                "max_new_tokens=16",
                "steps=1",
                "updates_per_step=2",
                "micro_batch_size=4",
                "dtype=float32",
                "save_every=0",
                f"output_dir={tmp_path}",
                "rho_aug=1.0",
                "old_logprobs=recompute",
                *vision,
            ],
        )
    )
    metrics, _ = trainer.step()
    prompts = metrics["groups/plain"] + metrics["groups/bcq"] + metrics["groups/ncq"]
    assert metrics["groups/bcq"] + metrics["groups/ncq"] > 0  # reformulated prompts were made and trained on
    assert len(calls) == prompts  # one processor call per prompt: none in the old-log-prob pass or the updates
