"""GRPO core and ZPPO reformulation, on hand-computed cases."""

from __future__ import annotations

import math
import random

import pytest
import torch

from mmzppo.core.advantages import batch_advantages, group_advantages, normalise_advantages
from mmzppo.core.ppo import ClipConfig, ppo_token_loss
from mmzppo.core.reformulation import build_prompts
from mmzppo.core.selection import PlainOutcome, hard_questions, plan, pre_cap, slots
from mmzppo.data import Sample
from mmzppo.train.update import minibatches

# --------------------------------------------------------------------------- advantage


def test_two_step_advantage_by_hand():
    rewards = torch.tensor([1.0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0])
    groups = ["a"] * 4 + ["b"] * 4 + ["c"] * 4  # b all-one, c all-zero: trivial
    adv = batch_advantages(rewards, groups)
    sigma = math.sqrt((0.75**2 + 3 * 0.25**2) / 4)  # over group a only; mu = 0
    expected = [0.75 / sigma] + [-0.25 / sigma] * 3 + [0.0] * 8
    assert torch.allclose(adv, torch.tensor(expected), atol=1e-5)


def test_including_trivial_groups_inflates_advantages():
    """The paper's warning: statistics over all rollouts shrink sigma by sqrt(fraction
    non-trivial), inflating every advantage by its inverse."""
    rewards = torch.tensor([1.0, 0, 0, 0] + [1.0] * 4 + [0.0] * 4)
    groups = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    centred, nontrivial = group_advantages(rewards, groups)
    right = normalise_advantages(centred, nontrivial)
    wrong = normalise_advantages(centred, torch.ones_like(nontrivial))  # everyone counted
    inflation = wrong[:4] / right[:4]
    assert torch.allclose(inflation, torch.full((4,), math.sqrt(12 / 4)), atol=1e-4)
    assert (wrong[4:] == 0).all()  # trivial groups centre to 0 either way


def test_all_trivial_batch_gives_zero_advantages():
    adv = batch_advantages(torch.tensor([1.0, 1, 0, 0]), ["a", "a", "b", "b"])
    assert torch.equal(adv, torch.zeros(4))


def test_groups_are_normalised_separately():
    # same question, plain and BCQ groups: different group ids -> separate means
    adv = batch_advantages(torch.tensor([0.0, 0, 0, 1, 1, 1, 1, 0]), ["x/plain"] * 4 + ["x/bcq"] * 4)
    assert adv[3] > 0 and adv[7] < 0 and adv[0] < 0 and adv[4] > 0
    assert torch.allclose(adv[:4].sum(), torch.tensor(0.0), atol=1e-5)


# --------------------------------------------------------------------------- loss


def one_token_loss(ratio: float, adv: float, clip=ClipConfig()):
    logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    out = ppo_token_loss(logp, torch.zeros(1, 1), torch.tensor([adv]), torch.ones(1, 1), clip)
    out.loss.backward()
    return out, float(logp.grad)


@pytest.mark.parametrize(
    "ratio, adv, objective, has_grad",
    [
        (1.0, 1.0, 1.0, True),
        (1.5, 1.0, 1.28, False),  # clip-higher: upper bound 1 + 0.28
        (1.2, 1.0, 1.2, True),  # inside the wider upper range (a symmetric 0.2 clip would stop it)
        (0.5, 1.0, 0.5, True),  # below 1 - eps_low with A > 0: unclipped (min picks ratio)
        (0.5, -1.0, -0.8, False),  # A < 0: lower clip at 1 - 0.20
        (1.5, -1.0, -1.5, True),  # A < 0, ratio up: unclipped, pessimistic
        (20.0, -1.0, -10.0, False),  # dual clip: bounded at c * A = -10
    ],
)
def test_clip_regions(ratio, adv, objective, has_grad):
    out, grad = one_token_loss(ratio, adv)
    assert out.loss.item() == pytest.approx(-objective, rel=1e-5)
    assert (grad != 0) == has_grad


def test_dual_clip_off_and_clip_fractions():
    out, _ = one_token_loss(20.0, -1.0, ClipConfig(dual_clip=None))
    assert out.loss.item() == pytest.approx(20.0, rel=1e-5)
    out, _ = one_token_loss(20.0, -1.0)
    assert out.dual_clip_frac == 1.0
    out, _ = one_token_loss(1.5, 1.0)
    assert out.clip_high_frac == 1.0 and out.clip_low_frac == 0.0


def test_token_level_aggregation_over_variable_lengths():
    """Mean over all tokens of the mini-batch, not a mean of per-sequence means."""
    logp = torch.zeros(2, 3)
    mask = torch.tensor([[1.0, 0, 0], [1, 1, 1]])
    adv = torch.tensor([4.0, 1.0])
    out = ppo_token_loss(logp, logp, adv, mask)
    assert out.loss.item() == pytest.approx(-(4 + 1 + 1 + 1) / 4)
    # split into two micro-batches with the global token count: parts sum to the whole
    parts = sum(
        ppo_token_loss(logp[i : i + 1], logp[i : i + 1], adv[i : i + 1], mask[i : i + 1], num_tokens=4).loss
        for i in range(2)
    )
    assert parts.item() == pytest.approx(out.loss.item())


def test_minibatches_are_equal_and_cover_everything():
    assert minibatches(8, 4) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    mb = minibatches(10, 4)
    assert sorted(i for b in mb for i in b) == list(range(10)) and [len(b) for b in mb] == [3, 3, 2, 2]
    with pytest.raises(ValueError):
        minibatches(4, 0)


# --------------------------------------------------------------------------- reformulation


def outcome(uid: str, n_correct: int, teacher_ok: bool = True, g: int = 8) -> PlainOutcome:
    s = Sample(uid=uid, question=f"question {uid}", answer="1", answer_type="number")
    responses = [f"{uid} right \\boxed{{1}}"] * n_correct + [
        f"{uid} wrong {i} \\boxed{{{i + 2}}}" for i in range(g - n_correct)
    ]
    rewards = [1.0] * n_correct + [0.0] * (g - n_correct)
    return PlainOutcome(s, responses, rewards, [f"teacher {uid} \\boxed{{1}}"] if teacher_ok else [])


def test_hard_selection_uses_tau():
    outs = [outcome(f"q{k}", k) for k in range(9)]
    assert [o.sample.uid for o in hard_questions(outs, 0.5)] == ["q0", "q1", "q2", "q3"]  # 0..3 of 8


def test_more_hard_questions_than_slots():
    outs = [outcome("q3", 3), outcome("q0", 0), outcome("q2", 2), outcome("q1", 1), outcome("q0b", 0)]
    n = slots(0.25, 12)  # 3 slots for 12 new questions
    capped = pre_cap(hard_questions(outs), n)
    assert [o.sample.uid for o in capped] == ["q0", "q0b", "q1"]  # hardest first, stable ties
    chosen = plan(capped, n)
    assert [(k, o.sample.uid) for k, o in chosen] == [("bcq", "q0"), ("ncq", "q0"), ("bcq", "q0b")]


def test_one_slot_keeps_the_bcq():
    chosen = plan([outcome("q0", 0)], 1)
    assert [k for k, _ in chosen] == ["bcq"]


def test_ncq_only_when_the_teacher_fails():
    chosen = plan([outcome("q0", 0, teacher_ok=False), outcome("q1", 1)], 4)
    assert [(k, o.sample.uid) for k, o in chosen] == [("ncq", "q0"), ("bcq", "q1"), ("ncq", "q1")]


def test_switches_and_slot_rounding():
    outs = [outcome("q0", 0), outcome("q1", 1)]
    assert [k for k, _ in plan(outs, 4, use_bcq=False)] == ["ncq", "ncq"]
    assert [k for k, _ in plan(outs, 4, use_ncq=False)] == ["bcq", "bcq"]
    assert slots(0.25, 384) == 96 and slots(0.25, 2) == 1 and slots(0.25, 1) == 0 and slots(0.0, 100) == 0


def test_built_prompts_use_the_right_texts():
    o = outcome("q1", 1)
    prompts = build_prompts(plan([o], 2), random.Random(0))
    assert [p.kind for p in prompts] == ["bcq", "ncq"] and all(p.uid == "q1" for p in prompts)
    bcq_text, ncq_text = (p.messages[0]["content"][-1]["text"] for p in prompts)
    assert "teacher q1" in bcq_text and bcq_text.count("q1 wrong") == 1 and "q1 right" not in bcq_text
    assert "teacher" not in ncq_text and ncq_text.count("q1 wrong") == 7
    assert "known to be wrong: 2, 3, 4, 5, 6, 7, 8." in ncq_text


def test_ncq_candidate_cap_lists_every_wrong_answer():
    """`ncq_max_candidates` shows at most n wrong rollouts; the answers of all 7 stay listed."""
    o = outcome("q1", 1)
    (ncq,) = build_prompts([("ncq", o)], random.Random(0), ncq_max_candidates=3)
    text = ncq.messages[0]["content"][-1]["text"]
    assert len(ncq.candidates) == 3 and text.count("q1 wrong") == 3
    assert "known to be wrong: 2, 3, 4, 5, 6, 7, 8." in text
    (full,) = build_prompts([("ncq", o)], random.Random(0), ncq_max_candidates=8)
    assert len(full.candidates) == 7
