"""The distillation divergences against values computed by hand on small distributions."""

from __future__ import annotations

import math

import pytest
import torch

from mmzppo.core.divergences import (
    generalized_jsd,
    kl,
    masked_token_mean,
    sampled_reverse_kl,
    sparse_support,
    top_k,
    with_tail,
)

T = [0.5, 0.25, 0.25, 0.0]  # the teacher; 0 = a suppressed token
S = [0.25, 0.25, 0.5, 0.0]  # the student


def logp(ps) -> torch.Tensor:
    return torch.tensor(ps, dtype=torch.float64).log()


def kl_by_hand(p, q) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


def test_kl_by_hand_and_zero_probabilities():
    # KL(T || S) = 0.5 ln 2 + 0 + 0.25 ln 0.5 = 0.25 ln 2
    assert float(kl(logp(T), logp(S))) == pytest.approx(0.25 * math.log(2), abs=1e-12)
    assert float(kl(logp(T), logp(S))) == pytest.approx(kl_by_hand(T, S), abs=1e-12)


@pytest.mark.parametrize("beta", [0.0, 0.25, 0.5, 1.0])
def test_generalized_jsd_by_hand(beta):
    got = float(generalized_jsd(logp(S), logp(T), beta))
    if beta == 0.0:
        want = kl_by_hand(T, S)  # forward KL
    elif beta == 1.0:
        want = kl_by_hand(S, T)  # reverse KL
    else:
        m = [beta * t + (1 - beta) * s for t, s in zip(T, S)]
        want = beta * kl_by_hand(T, m) + (1 - beta) * kl_by_hand(S, m)
    assert got == pytest.approx(want, abs=1e-12)


def test_symmetric_jsd_value_bound_and_zero():
    # beta 0.5: M = (0.375, 0.25, 0.375); JSD = 0.5 KL(T||M) + 0.5 KL(S||M), symmetric, <= ln 2
    # M = (0.375, 0.25, 0.375)
    want = 0.5 * (0.5 * math.log(0.5 / 0.375) + 0.25 * math.log(0.25 / 0.375)) + 0.5 * (
        0.25 * math.log(0.25 / 0.375) + 0.5 * math.log(0.5 / 0.375)
    )
    assert float(generalized_jsd(logp(S), logp(T), 0.5)) == pytest.approx(want, abs=1e-12)
    assert float(generalized_jsd(logp(T), logp(S), 0.5)) == pytest.approx(want, abs=1e-12)
    disjoint = generalized_jsd(logp([1.0, 0.0]), logp([0.0, 1.0]), 0.5)
    assert float(disjoint) == pytest.approx(math.log(2), abs=1e-9)
    for beta in (0.0, 0.5, 1.0):
        assert float(generalized_jsd(logp(T), logp(T), beta)) == pytest.approx(0.0, abs=1e-12)


def test_gradients_are_finite_with_suppressed_tokens():
    logits = torch.tensor([[1.0, 0.5, -0.3, float("-inf")]], requires_grad=True)
    teacher = torch.log_softmax(torch.tensor([[0.2, 0.1, 0.9, float("-inf")]]), -1)
    for beta in (0.0, 0.5, 1.0):
        student = torch.log_softmax(logits, -1)
        (grad,) = torch.autograd.grad(generalized_jsd(student, teacher, beta).sum(), logits)
        assert torch.isfinite(grad[0, :3]).all() and grad[0, 3] == 0


def test_masks_are_respected():
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert float(masked_token_mean(per_token, mask)) == pytest.approx((1 + 2 + 4) / 3)
    assert float(masked_token_mean(per_token, mask, num_tokens=7)) == pytest.approx(1.0)  # a share of a larger batch


def test_top_k_with_tail_equals_full_when_k_covers_the_support():
    torch.manual_seed(0)
    student = torch.log_softmax(torch.randn(3, 5, 11, dtype=torch.float64), -1)
    teacher = torch.log_softmax(torch.randn(3, 5, 11, dtype=torch.float64), -1)
    full = generalized_jsd(student, teacher, 0.5)
    values, indices = top_k(teacher, 11)
    s, t = sparse_support(student, values, indices)
    assert torch.allclose(generalized_jsd(s, t, 0.5), full, atol=1e-9)
    # a smaller k: the tail bucket holds the rest of each distribution's mass
    values, indices = top_k(teacher, 3)
    s, t = sparse_support(student, values, indices)
    assert torch.allclose(s.exp().sum(-1), torch.ones(3, 5, dtype=torch.float64))
    assert torch.allclose(t.exp().sum(-1), torch.ones(3, 5, dtype=torch.float64))
    assert (generalized_jsd(s, t, 0.5) <= full + 1e-12).all()  # merging outcomes never increases a divergence
    assert float(with_tail(torch.tensor([0.0]).log()).exp()[-1]) == pytest.approx(1.0)


def test_sampled_reverse_kl_gradient_is_the_score_function_estimate():
    student = torch.tensor([-0.5, -1.0], requires_grad=True)  # log S of two sampled tokens
    teacher = torch.tensor([-0.7, -0.2])
    loss = sampled_reverse_kl(student, teacher).sum()
    (grad,) = torch.autograd.grad(loss, student)
    assert torch.allclose(grad, (student - teacher).detach())  # (log S - log T) * d log S
