"""Tied input/output embeddings (Qwen3.5-0.8B ties them; the tiny `s` fixture does too).

FSDP2 wrapping and checkpoints here; the vLLM weight sync of the same tied model is checked by
tests/real_data/test_vllm.py (engine log-probs equal the trainer's after an update)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file
from test_train import accelerate

from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.loading import load_policy

EMBED = "model.language_model.embed_tokens.weight"


def tied(model) -> bool:
    return model.lm_head.weight is model.model.language_model.embed_tokens.weight


@pytest.mark.slow
def test_tied_model_under_fsdp_steps_saves_and_reloads_like_the_replicated_one(tiny_s_dir, tmp_path):
    """2 processes: the tied model sharded with FSDP2 takes one SGD step on its half of a
    batch, the same model replicated on the whole batch; the sharded one is saved by the
    trainer's checkpoint code. The head stays tied through sharding, the checkpoint holds one
    matrix for both, reloads tied, and equals the replicated step's weights."""
    r = accelerate([str(REPO / "tests/integration/tied_fsdp_check.py"), str(tiny_s_dir), str(tmp_path)], 2)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"tied_before": True, "tied_after": True, "world": 2}
    checkpoint = tmp_path / "run/checkpoints/step-1"
    saved = load_file(checkpoint / "model.safetensors")
    assert EMBED in saved and "lm_head.weight" not in saved  # one matrix, as the real 0.8B's files
    start = load_policy(tiny_s_dir, vision=TINY_VISION).model.state_dict()
    sharded = load_policy(checkpoint, vision=TINY_VISION).model
    whole = load_policy(tmp_path / "replicated", vision=TINY_VISION).model
    assert tied(sharded) and tied(whole)
    assert not torch.equal(sharded.state_dict()[EMBED], start[EMBED])  # the step moved the shared matrix
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(sharded.state_dict()[key], value, rtol=0, atol=1e-5, msg=key)
