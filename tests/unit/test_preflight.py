"""The memory preflight: every shipped GPU config fits the hardware its header names, and a
config that cannot fit is refused with the reason. The model is counted on the meta device
(no weights); the estimate's agreement with measured peaks is benchmarks/bench_shape.py's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mmzppo.train.config_files import load_config
from mmzppo.train.preflight import GiB, check, main, parse_memory

REPO = Path(__file__).resolve().parents[2]
GPU_CONFIGS = sorted((REPO / "configs/gpu").glob("*.yaml"))


def header_gpus(path: Path) -> int:
    """The student GPUs a GPU config's header names ('colocated with its trainer (N GPU(s))')."""
    return int(re.search(r"\((\d+) GPU\(s\)\)", path.read_text()).group(1))


@pytest.mark.parametrize("path", GPU_CONFIGS, ids=lambda p: p.stem)
def test_every_gpu_config_fits_its_hardware(path):
    estimate, text = check(load_config(str(path), []), header_gpus(path), 80 * GiB)
    assert not estimate.problems, text
    assert estimate.max_micro_batch_tokens >= estimate.micro_batch_tokens
    for part in ("weights", "gradients", "optimizer state", "checkpointing", "no checkpointing", "vLLM KV cache"):
        assert part in text, part


def test_a_config_that_cannot_fit_is_refused_with_the_reason(capsys):
    path = REPO / "configs/gpu/zppo_qwen3.5-9b.yaml"
    with pytest.raises(SystemExit) as exit:
        main(["--config", str(path), "--gpus", "1", "--gpu-memory", "80GiB"])
    assert exit.value.code == 1
    out = capsys.readouterr().out
    assert "DOES NOT FIT" in out and "GiB per GPU on 1 GPU(s) of 80 GiB" in out
    # fewer GPUs need more memory each; more GPUs less
    config = load_config(str(path), [])
    one, _ = check(config, 1, 80 * GiB)
    eight, _ = check(config, 8, 80 * GiB)
    assert one.update_peak > eight.update_peak and one.problems and not eight.problems


def test_memory_sizes_parse():
    assert parse_memory("80GiB") == parse_memory("80GB") == 80 * GiB
    assert parse_memory("512MiB") == 512 * 2**20
    with pytest.raises(ValueError, match="gpu-memory"):
        parse_memory("lots")


def test_the_kernel_report_names_each_attention_type():
    """What the trainer logs at start-up: on this machine (no GPU, no fla) the Gated-DeltaNet
    layers run transformers' torch fallback, and the report says so."""
    import torch
    from transformers import Qwen3_5ForConditionalGeneration

    from mmzppo.policy.kernels import kernel_report
    from mmzppo.policy.shapes import qwen35_config

    config = qwen35_config("0.8b", layers=4, vision_depth=1)
    config._attn_implementation = "sdpa"
    with torch.device("meta"):
        report = kernel_report(Qwen3_5ForConditionalGeneration(config))
    assert set(report) == {"full attention", "Gated-DeltaNet", "vision attention"}
    assert report["full attention"] == "sdpa"
    assert report["Gated-DeltaNet"].startswith("torch fallback (slow; missing on this machine: fla, causal-conv1d")
