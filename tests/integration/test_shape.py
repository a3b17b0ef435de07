"""The real Qwen3.5-0.8B shape on the CPU, through the prepared GPU check's own path.

`scripts/gpu_check.sh --cpu-smoke`: the 0.8B's widths, heads and 248,320-entry vocabulary (tied),
the text stack cut to 2 layers (one Gated-DeltaNet, one full attention) and the vision tower to
1 block; one ZPPO step with the transformers backend and gradient checkpointing, a checkpoint
saved and reloaded, a log-prob pass; peak memory reported. fp32 here: this CPU (AVX2, no bf16
matrix units) runs bf16 matmuls several times slower than fp32 (the GPU run is bf16-mixed; the
same smoke in bf16-mixed ran here too, see the README). The check starts with the session, in its
background lane (`early` in tests/conftest.py; under pytest-xdist, in this test), with one thread:
this test asserts on its output."""

from __future__ import annotations

import json
import math
import os
import sys

import pytest
from conftest import REPO


def gpu_check_smoke(lane, out):
    """`scripts/gpu_check.sh --cpu-smoke` into `out`, in the session's background lane (one
    thread there: it runs beside the other tests)."""
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    smoke = ["--cpu-smoke", "--precision", "fp32", "--steps", "1", "--out", str(out)]
    return lane.run(["bash", str(REPO / "scripts/gpu_check.sh"), *smoke], env=env, cwd=REPO, timeout=1200), out


@pytest.mark.slow
@pytest.mark.early(job=gpu_check_smoke)
def test_the_08b_shape_runs_zppo_steps_saves_and_reloads(early, request):
    r, out = early.result(request.node.nodeid)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((out / "gpu_check.json").read_text())
    text = json.loads((out / "model/config.json").read_text())["text_config"]
    shape = {k: text[k] for k in ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads")}
    assert shape == {"hidden_size": 1024, "intermediate_size": 3584, "num_attention_heads": 8, "num_key_value_heads": 2}
    assert (text["head_dim"], text["linear_num_value_heads"], text["linear_value_head_dim"]) == (256, 16, 128)
    assert text["layer_types"] == ["linear_attention", "full_attention"] and text["vocab_size"] == 248_320
    assert result["model"]["tied"] and result["model"]["vocab_size"] == 248_320
    assert len(result["steps"]) == 1 and all(math.isfinite(s["loss"]) for s in result["steps"])
    assert result["reloaded_equal"] and result["logprob_pass"]["finite"]
    assert result["kernels"]["Gated-DeltaNet"].startswith("torch fallback")  # no fla on this machine
    peak = max(s["peak_gib"] for s in result["steps"] + [result["logprob_pass"]])
    print(f"\n0.8B shape (2 layers), CPU, fp32: steps {[s['step_s'] for s in result['steps']]} s, peak RSS {peak} GiB")
    assert 0 < peak < 12
