"""Prompts are encoded once, one at a time, and collated: the same model inputs a batched
processor call gives (so encoding each prompt once per step changes no number)."""

from __future__ import annotations

import torch

from mmzppo.data.synthetic import generate_suite
from mmzppo.policy.encoding import chat_text, collate, encode_prompts, prompt_media
from mmzppo.prompting.builders import bcq, plain


def batched_processor_call(processor, vision, prompts) -> dict:
    """The whole batch through the processor in one call (left padded), media loaded alike."""
    texts = [chat_text(processor, p, vision) for p in prompts]
    images, videos = [], []
    for p in prompts:
        more_images, more_videos = prompt_media(p, vision)
        images += more_images
        videos += more_videos
    kwargs = dict(text=texts, return_tensors="pt", padding=True)
    if images:
        kwargs.update(images=images, images_kwargs={"do_resize": False})
    if videos:
        video_kwargs = {"do_resize": False, "do_sample_frames": False, "video_metadata": [m for _, m in videos]}
        if hasattr(processor.video_processor, "cap_pixels_per_frame"):
            video_kwargs["cap_pixels_per_frame"] = False
        kwargs.update(videos=[v for v, _ in videos], videos_kwargs=video_kwargs)
    return dict(processor(**kwargs))


def test_collated_encodings_equal_one_batched_processor_call(tiny_xs, tmp_path):
    import random

    tasks = ["count_color", "motion_direction", "arith_chain", "bar_compare"]
    samples = list(generate_suite(tasks, 1, 0, "train", tmp_path / "media", levels=[1]))
    assert {s.modality for s in samples} == {"image", "video", "text"}
    prompts = [plain(s) for s in samples]
    prompts.append(bcq(samples[0], "long correct answer " * 20 + "\\boxed{1}", "wrong \\boxed{2}", random.Random(0)))
    processor, vision = tiny_xs.processor, tiny_xs.vision
    encoded = encode_prompts(processor, vision, prompts)
    got = collate(encoded, tiny_xs.tokenizer.pad_token_id)
    want = batched_processor_call(processor, vision, prompts)
    assert set(got) == set(want)
    for key in want:
        assert got[key].dtype == want[key].dtype and torch.equal(got[key], want[key]), key
    # a group's copies share one encoding: collating repeats it, as n copies in one call would
    twice = collate([encoded[0], encoded[0]], tiny_xs.tokenizer.pad_token_id)
    want_twice = batched_processor_call(processor, vision, [prompts[0], prompts[0]])
    assert all(torch.equal(twice[k], want_twice[k]) for k in want_twice)
    assert encoded[0].length == int(want["attention_mask"][0].sum())  # its tokens, media included
