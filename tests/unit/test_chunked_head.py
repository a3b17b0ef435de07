"""The chunked LM head on its own (no model): `HeadLogprob`'s closed-form backward against autograd
through the whole-vocabulary computation, with a bias, a temperature and suppressed ids."""

from __future__ import annotations

import pytest
import torch

from mmzppo.policy.logprobs import HeadLogprob


@pytest.mark.parametrize("bias", [False, True])
def test_head_logprob_values_and_gradients_equal_autograd(bias):
    torch.manual_seed(0)
    vocab, hidden, rows = 300, 16, 23
    h = torch.randn(rows, hidden, dtype=torch.float32, requires_grad=True)
    w = (torch.randn(vocab, hidden, dtype=torch.float32) * 0.5).requires_grad_()
    b = (torch.randn(vocab, dtype=torch.float32) * 0.5).requires_grad_() if bias else None
    targets, suppress, temperature = torch.randint(5, vocab, (rows,)), torch.tensor([0, 3]), 0.7
    weights = torch.linspace(-1, 1, rows, dtype=torch.float32)

    logits = (h @ w.T + (b if bias else 0.0)) / temperature
    logp = torch.log_softmax(logits.index_fill(-1, suppress, float("-inf")), dim=-1)
    want = logp.gather(-1, targets[:, None]).squeeze(-1)
    entropy = torch.special.entr(logp.exp()).sum(-1)
    (want * weights).sum().backward()
    reference = [t.grad.clone() for t in (h, w, b) if t is not None]
    for t in (h, w, b):
        if t is not None:
            t.grad = None

    parts = [
        HeadLogprob.apply(h[i : i + 5], w, b, targets[i : i + 5], suppress, temperature, torch.float32)
        for i in range(0, rows, 5)
    ]
    got = torch.cat([p[0] for p in parts])
    (got * weights).sum().backward()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.cat([p[1] for p in parts]), entropy.detach(), rtol=1e-5, atol=1e-6)
    for g, r in zip([t.grad for t in (h, w, b) if t is not None], reference):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)
