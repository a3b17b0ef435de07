"""Tiny Qwen3.5 models through the real loading path: sizes and the vLLM constraints of their
configs, `load_policy` errors, parameter counts (on real images and videos:
tests/real_data/test_models_real_media.py)."""

from __future__ import annotations

import json

import pytest

from mmzppo.policy.loading import count_parameters, load_policy
from mmzppo.tools.models import TINY_SIZES


def test_tiny_sizes_and_vllm_constraints(tiny_s_dir):
    cfg = json.loads((tiny_s_dir / "config.json").read_text())
    text = cfg["text_config"]
    assert cfg["model_type"] == "qwen3_5"
    assert text["head_dim"] == 64
    assert text["linear_key_head_dim"] == text["linear_value_head_dim"] == 128
    rotary_dim = int(text["head_dim"] * text["rope_parameters"]["partial_rotary_factor"])
    assert sum(text["rope_parameters"]["mrope_section"]) == rotary_dim // 2
    assert set(text["layer_types"]) == {"linear_attention", "full_attention"}  # hybrid like the real one
    info = json.loads((tiny_s_dir / "mmzppo_tiny.json").read_text())
    assert 3e6 < info["parameters"] < 8e6
    assert set(TINY_SIZES) == {"xs", "s", "m"}


def test_load_policy_errors(tiny_xs_dir):
    with pytest.raises(ValueError, match="dtype"):
        load_policy(tiny_xs_dir, dtype="float8")
    from mmzppo.data import VisionSettings

    with pytest.raises(ValueError, match="patch_size"):
        load_policy(tiny_xs_dir, vision=VisionSettings(patch_size=14))
    with pytest.raises(OSError):
        load_policy(tiny_xs_dir / "does-not-exist")


def test_parameter_counts_grow_with_size(tiny_xs, tiny_s_dir):
    info = json.loads((tiny_s_dir / "mmzppo_tiny.json").read_text())
    assert count_parameters(tiny_xs.model) < info["parameters"]
