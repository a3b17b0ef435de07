"""Precision, activation checkpointing and the chunked LM head on tiny Qwen3.5 models: what
reaches the weights at the paper's lr, exact resume with float32 masters, and losses and
gradients that do not depend on how the memory is saved."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import text_samples

from mmzppo.core.divergences import generalized_jsd, sparse_support
from mmzppo.core.ppo import ClipConfig
from mmzppo.data.vision import TINY_VISION
from mmzppo.policy import checkpointing
from mmzppo.policy.encoding import collate, encode_prompts
from mmzppo.policy.generation.base import Completion
from mmzppo.policy.loading import load_policy, suppressed_token_ids
from mmzppo.policy.logprobs import append_completions, completion_logprobs, text_position_ids
from mmzppo.policy.precision import WEIGHTS, rounded_away_fraction, warn_if_updates_round_away
from mmzppo.prompting.builders import plain
from mmzppo.teachers.local import LocalTeacher
from mmzppo.train.config_files import load_config
from mmzppo.train.objectives import ClippedPPO, divergence_by_chunk
from mmzppo.train.rollout import Rollout, set_advantages
from mmzppo.train.update import MicroBatching, accumulate

TINY = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]


def rollouts(policy, n_questions=3, size=4):
    """Groups of text rollouts of different lengths and rewards, encoded by `policy`."""
    samples = text_samples(n_questions)
    encoded = encode_prompts(policy.processor, policy.vision, [plain(s) for s in samples])
    groups = []
    for q, (s, e) in enumerate(zip(samples, encoded)):
        group = []
        for k in range(size):
            tokens = [(7 * q + 3 * k + j) % 200 + 10 for j in range(3 + (q + k) % 6)]
            group.append(Rollout(plain(s), e, Completion(tokens, [0.0] * len(tokens), "", True), float(k % 2), None))
        groups.append(group)
    set_advantages(groups, 1e-6)
    return [r for g in groups for r in g]


def one_update(policy, batch, precision):
    """One AdamW step at the paper's lr (weight decay off: only the gradient moves a weight);
    returns the weights before, their gradients and the weights after."""
    model = policy.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    old = [torch.zeros(len(r.token_ids)) for r in batch]
    model.zero_grad(set_to_none=True)
    accumulate(model, policy, batch, old, ClippedPPO(ClipConfig()), MicroBatching(16), 1.0, precision=precision)
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    optimizer.step()
    return before, grads, {n: p.detach().clone() for n, p in model.named_parameters()}


def test_bf16_mixed_moves_every_master_with_a_gradient_where_pure_bf16_rounds_away(tiny_xs_dir):
    """At lr 1e-6 one update under bf16-mixed changes the float32 masters exactly where the
    gradient is non-zero; the same update on pure bfloat16 weights leaves most of them as they
    were, and the trainer's check says so (and warns)."""
    mixed = load_policy(tiny_xs_dir, vision=TINY_VISION, dtype=WEIGHTS["bf16-mixed"])
    assert next(mixed.model.parameters()).dtype == torch.float32
    before, grads, after = one_update(mixed, rollouts(mixed), "bf16-mixed")
    moved = with_grad = 0
    for name, g in grads.items():
        changed = after[name] != before[name]
        # Adam's first step is lr * g / (|g| + eps): a gradient far below eps = 1e-8 moves too little to see
        assert torch.equal(changed[g.abs() > 1e-7], torch.ones_like(changed[g.abs() > 1e-7])), name
        assert not changed[g == 0].any(), name
        moved, with_grad = moved + int(changed.sum()), with_grad + int((g != 0).sum())
    assert with_grad > 0.5 * sum(g.numel() for g in grads.values()) and moved >= 0.99 * with_grad, (moved, with_grad)

    pure = load_policy(tiny_xs_dir, vision=TINY_VISION, dtype=WEIGHTS["bf16"])
    with pytest.warns(UserWarning, match="precision bf16: at lr 1e-06"):
        share = warn_if_updates_round_away(pure.model, 1e-6, "bf16")
    assert share > 0.5 and rounded_away_fraction(mixed.model, 1e-6) == 0.0
    before, grads, after = one_update(pure, rollouts(pure), "bf16")
    changed = sum(int((after[n] != before[n]).sum()) for n in grads)
    assert changed < 0.5 * sum(int((g != 0).sum()) for g in grads.values())


def test_bf16_mixed_resumes_exactly_from_its_float32_masters(warm_xs, synth_shards, tmp_path):
    """2 steps in bf16-mixed against 1 step + resume: the same metrics and bit-identical float32
    masters; the checkpoint's Hugging Face export is bfloat16, the masters float32 beside it."""
    from safetensors.torch import load_file

    from mmzppo.train.loop import Trainer

    def run(name, steps, resume=False):
        args = [
            f"student={warm_xs}",
            "teacher_kind=reference",
            f"train_shards={synth_shards}",
            "prompts_per_step=4",
            "group_size=4",
            "max_new_tokens=12",
            f"steps={steps}",
            "updates_per_step=1",
            "precision=bf16-mixed",
            "lr=1e-3",
            "save_every=1",
            "use_bcq=false",
            "use_ncq=false",
            f"output_dir={tmp_path}",
            f"name={name}",
            *TINY,
        ]
        trainer = Trainer(load_config(None, args), resume=resume)
        trainer.train()
        return trainer

    full = run("full", 2)
    run("split", 1)
    resumed = run("split", 2, resume=True)
    rows = [[json.loads(x) for x in open(tmp_path / n / "metrics.jsonl")] for n in ("full", "split")]
    strip = [[{k: v for k, v in r.items() if not k.startswith("time/")} for r in rs] for rs in rows]
    assert strip[0] == strip[1] and len(strip[0]) == 2
    for (name, a), b in zip(full.model.named_parameters(), resumed.model.parameters()):
        assert a.dtype == torch.float32 and torch.equal(a, b), name
    checkpoint = tmp_path / "full/checkpoints/step-2"
    assert {t.dtype for t in load_file(checkpoint / "model.safetensors").values()} == {torch.bfloat16}
    assert json.loads((checkpoint / "config.json").read_text())["dtype"] == "bfloat16"
    masters = torch.load(checkpoint / "masters.pt", weights_only=True)
    assert all(torch.equal(masters[n], p) for n, p in full.model.named_parameters())


def test_activation_checkpointing_keeps_loss_and_gradients(tiny_xs_dir):
    """With checkpointing on, each decoder layer runs twice (forward, then the recompute in
    backward) and the loss and gradients are those without."""
    policy = load_policy(tiny_xs_dir, vision=TINY_VISION)
    batch = rollouts(policy)
    old = [torch.full((len(r.token_ids),), -5.0) for r in batch]
    layer = next(m for m in policy.model.modules() if type(m).__name__ == "Qwen3_5DecoderLayer")
    calls = []
    layer.register_forward_pre_hook(lambda *a: calls.append(1))
    results = []
    for on in (False, True):
        if on:
            checkpointing.enable(policy.model)
        policy.model.zero_grad(set_to_none=True)
        calls.clear()
        stats = accumulate(policy.model, policy, batch, old, ClippedPPO(ClipConfig()), MicroBatching(16), 1.0)
        grads = torch.cat([p.grad.flatten() for p in policy.model.parameters() if p.grad is not None])
        results.append((stats["loss"], grads, len(calls)))
    assert results[0][2] == 1 and results[1][2] == 2  # checkpointed: recomputed in backward
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-6)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-5, atol=1e-7)


def unchunked(model, tokenizer, encoded, completions, temperature):
    """What mmzppo computed before chunking: every completion position's logits at once."""
    t_max = max(len(c) for c in completions)
    inputs = append_completions(collate(encoded, tokenizer.pad_token_id), completions, tokenizer.pad_token_id)
    inputs["position_ids"] = text_position_ids(inputs["attention_mask"])
    logits = model(**inputs, logits_to_keep=t_max + 1).logits[:, :-1].float() / temperature
    logits = logits.index_fill(-1, torch.tensor(suppressed_token_ids(tokenizer)), float("-inf"))
    logp = torch.log_softmax(logits, dim=-1)
    mask = inputs["attention_mask"][:, -t_max:].bool()
    picked = logp.gather(-1, inputs["input_ids"][:, -t_max:].unsqueeze(-1)).squeeze(-1).masked_fill(~mask, 0.0)
    entropy = torch.special.entr(logp.exp()).sum(-1).masked_fill(~mask, 0.0)
    return picked, entropy, logp, mask


def close_gradients(got, want):
    """Equal up to float summation order: within 1e-5 of the largest gradient entry."""
    print(f"largest gradient {float(want.abs().max()):.3g}, largest difference {float((got - want).abs().max()):.3g}")
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * float(want.abs().max()))


@pytest.mark.parametrize("chunk", [1, 5, 1024])
def test_chunked_head_equals_the_unchunked_logprobs_divergences_and_gradients(tiny_xs_dir, chunk):
    """The LM head a chunk at a time gives the log-probs, entropies, full and top-k JSDs of the
    whole-vocabulary computation, and their gradients, to 1e-5."""
    student = load_policy(tiny_xs_dir, vision=TINY_VISION)
    teacher = load_policy(tiny_xs_dir, vision=TINY_VISION)
    with torch.no_grad():
        for p in teacher.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # a different distribution
    tok, model = student.tokenizer, student.model
    prompts = [plain(s) for s in text_samples(3)]
    encoded = encode_prompts(student.processor, student.vision, prompts)
    completions = [[10, 11, 12, 13], [14, 15], [16, 17, 18, 19, 20, 21, 22]]
    weights = torch.linspace(-1.0, 1.0, 7)

    def grads():
        out = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        model.zero_grad(set_to_none=True)
        return out

    picked, entropy, logp, mask = unchunked(model, tok, encoded, completions, 0.7)
    (picked * weights).sum().backward()
    reference_grad = grads()
    got = completion_logprobs(model, tok, encoded, completions, with_grad=True, temperature=0.7, chunk_tokens=chunk)
    (got.logprobs * weights).sum().backward()
    assert torch.equal(got.mask, mask)
    torch.testing.assert_close(got.logprobs, picked, rtol=0, atol=1e-5)
    torch.testing.assert_close(got.entropy, entropy.detach(), rtol=0, atol=1e-5)
    close_gradients(grads(), reference_grad)

    with torch.no_grad():
        _, _, teacher_logp, _ = unchunked(teacher.model, tok, encoded, completions, 1.0)
    local = LocalTeacher(teacher, chunk_tokens=chunk)  # the real teacher path: its own encoding, by chunk
    for top_k in (0, 8):
        _, _, logp, _ = unchunked(model, tok, encoded, completions, 1.0)
        s, t = logp[mask], teacher_logp[mask]
        if top_k:
            s, t = sparse_support(s, *t.topk(top_k, dim=-1))
        reference = generalized_jsd(s, t, 0.5)
        (reference * torch.arange(len(reference))).sum().backward()
        reference_grad = grads()
        scored = completion_logprobs(model, tok, encoded, completions, with_grad=True, full=True, chunk_tokens=chunk)
        distributions = local.distributions(prompts, completions, top_k=top_k)
        rows = divergence_by_chunk(scored.head, distributions, scored.mask, 0.5)
        (rows * torch.arange(len(rows))).sum().backward()
        torch.testing.assert_close(rows.detach(), reference.detach(), rtol=0, atol=1e-5)
        close_gradients(grads(), reference_grad)
