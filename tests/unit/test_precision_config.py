"""The precision and memory keys of the run config: `precision` (and the former `dtype`), the
derived `micro_batch_tokens`, and what the paper and GPU configs say."""

from __future__ import annotations

import pytest
from conftest import REPO

from mmzppo.train.config import PROMPT_TEXT_TOKENS, Config, ConfigError
from mmzppo.train.config_files import load_config, resolve_auto


def test_precision_defaults_to_bf16_mixed_and_reads_the_former_dtype_key(tmp_path):
    assert Config(teacher="t").precision == "bf16-mixed"
    assert load_config(None, ["teacher=t", "dtype=float32"]).precision == "fp32"
    assert load_config(None, ["teacher=t", "dtype=bfloat16"]).precision == "bf16"
    with pytest.raises(ConfigError, match="dtype: invalid value 'float16'.*precision"):
        load_config(None, ["teacher=t", "dtype=float16"])
    with pytest.raises(ConfigError, match="dtype: give only precision"):
        load_config(None, ["teacher=t", "dtype=float32", "precision=fp32"])
    with pytest.raises(ConfigError, match="precision: invalid value 'fp16'"):
        load_config(None, ["teacher=t", "precision=fp16"])
    base = tmp_path / "base.yaml"
    base.write_text("teacher: t\ndtype: float32\n")
    (tmp_path / "run.yaml").write_text("base: base.yaml\nprecision: bf16-mixed\n")
    assert load_config(tmp_path / "run.yaml").precision == "bf16-mixed"  # a file's key replaces its base's
    assert load_config(tmp_path / "run.yaml", ["dtype=float32"]).precision == "fp32"  # an override too


def test_micro_batch_tokens_is_derived_unless_given():
    c = load_config(None, ["teacher=t", "max_new_tokens=96", "vision.min_pixels=1024", "vision.max_pixels=16384"])
    image = 16384 // (c.vision.patch_size * c.vision.merge_size) ** 2
    assert c.micro_batch_tokens == c.micro_batch_size * (PROMPT_TEXT_TOKENS + image + 96) > 0
    assert load_config(None, ["teacher=t", "micro_batch_tokens=0"]).micro_batch_tokens == 0
    with pytest.raises(ConfigError, match="micro_batch_tokens"):
        load_config(None, ["teacher=t", "micro_batch_tokens=-1"])
    with pytest.raises(ConfigError, match="logprob_chunk_tokens"):
        load_config(None, ["teacher=t", "logprob_chunk_tokens=0"])


def test_old_logprobs_come_from_the_sampler_only_in_fp32():
    """In bfloat16 the sampler's incremental decoding and a full re-scoring differ by ~1e-2."""
    assert resolve_auto(load_config(None, ["teacher=t", "precision=fp32"])).old_logprobs == "sampler"
    assert resolve_auto(load_config(None, ["teacher=t"])).old_logprobs == "recompute"


@pytest.mark.parametrize("size", ["0.8b", "2b", "4b", "9b"])
def test_paper_and_gpu_configs_train_in_bf16_mixed_and_the_gpu_ones_checkpoint(size):
    paper = load_config(REPO / f"configs/zppo_qwen3.5-{size}.yaml")
    gpu = load_config(REPO / f"configs/gpu/zppo_qwen3.5-{size}.yaml")
    assert paper.precision == gpu.precision == "bf16-mixed"
    assert gpu.gradient_checkpointing and gpu.logprob_chunk_tokens == 1024
