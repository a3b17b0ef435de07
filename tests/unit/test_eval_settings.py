"""Evaluation settings without a model: `--preset paper` holds the paper's decoding and image
pixels, `--vllm` / `--suite` parse, `--model` resolves a run folder to its newest complete
checkpoint, and the training config's eval_suites names agree with mmzppo.eval's suites."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mmzppo.data.vision import TINY_VISION, VisionSettings
from mmzppo.eval.__main__ import parse_engine, suite_list
from mmzppo.eval.generation import resolve_model
from mmzppo.eval.runner import EVAL_SAMPLING, EvalConfig
from mmzppo.eval.suites import SUITES
from mmzppo.train.config import ConfigError
from mmzppo.train.evals import SUITE_NAMES, CheckpointEvals


def test_paper_preset_is_the_spec_and_refuses_changes():
    cfg = EvalConfig(model="m", preset="paper")
    s = cfg.sampling
    assert (s.temperature, s.top_p, s.top_k, s.presence_penalty, s.max_new_tokens) == (0.6, 0.95, 20, 1.5, 12_288)
    assert (cfg.vision.min_pixels, cfg.vision.max_pixels) == (256 * 32 * 32, 1280 * 32 * 32)
    assert cfg.sampling == EVAL_SAMPLING
    for change, named in (
        (dict(greedy=True), "temperature"),
        (dict(max_new_tokens=64), "max_new_tokens"),
        (dict(vision=TINY_VISION), "vision.min_pixels"),
    ):
        with pytest.raises(ValueError, match=named):
            EvalConfig(model="m", preset="paper", **change)
    EvalConfig(model="m", preset="paper", vision=VisionSettings(nframes=8, fps=None))  # video budgets stay free
    with pytest.raises(ValueError, match="unknown preset"):
        EvalConfig(model="m", preset="papr")


def test_engine_and_suite_flags():
    e = parse_engine(["kv_cache_gb=0.25", "max_model_len=4096", "enforce_eager=false", "dtype=float16"])
    assert (e.kv_cache_gb, e.max_model_len, e.enforce_eager, e.dtype) == (0.25, 4096, False, "float16")
    with pytest.raises(ValueError, match="kv_cache"):
        parse_engine(["kv_cache=1"])
    assert suite_list("vlm, video") == "vlm,video"
    with pytest.raises(argparse.ArgumentTypeError, match="vlm"):
        suite_list("vlm,videos")
    assert set(SUITE_NAMES) == {"all", *SUITES}
    with pytest.raises(ConfigError, match="eval_suites"):
        CheckpointEvals(Path("."), 1, ["videos"], [])
    with pytest.raises(ConfigError, match="eval_every"):
        CheckpointEvals(Path("."), -1, ["synthetic"], [])


def test_model_resolves_a_run_folder_to_its_newest_complete_checkpoint(tmp_path):
    run = tmp_path / "run"
    for step, done in ((2, True), (10, True), (12, False)):
        folder = run / "checkpoints" / f"step-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state_rank0.pt").write_bytes(b"")
        if done:
            (folder / "DONE").write_text(str(step))
    assert resolve_model(str(run)) == str(run / "checkpoints" / "step-10")  # 10 after 2 (numbers, not text)
    assert resolve_model(str(run / "checkpoints" / "step-2")) == str(run / "checkpoints" / "step-2")
    with pytest.raises(FileNotFoundError, match="incomplete checkpoint"):
        resolve_model(str(run / "checkpoints" / "step-12"))
    (run / "checkpoints" / "step-2" / "DONE").unlink()
    (run / "checkpoints" / "step-10" / "DONE").unlink()
    with pytest.raises(FileNotFoundError, match="without a complete checkpoint"):
        resolve_model(str(run))
    assert resolve_model("Qwen/Qwen3.5-0.8B") == "Qwen/Qwen3.5-0.8B"
