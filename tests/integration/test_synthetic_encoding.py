"""The synthetic suite's image, video and text items through the tiny Qwen3.5's real processor:
one image grid, one video grid covering every frame, options listed."""

from __future__ import annotations

from mmzppo.data.synthetic import generate


def test_image_and_video_items_encode_with_the_real_processor(tiny_xs, tmp_path):
    from helpers import batch

    from mmzppo.prompting.builders import plain

    image = next(generate("bar_compare", 1, 0, "train", tmp_path))
    video = next(generate("count_events", 1, 0, "train", tmp_path))  # 4 frames at 2 fps
    text = next(generate("choose_option", 1, 0, "train", None))
    out = batch(tiny_xs.processor, [plain(image), plain(video), plain(text)], tiny_xs.vision)
    assert out["image_grid_thw"].shape == (1, 3) and out["video_grid_thw"].shape == (1, 3)
    assert int(out["video_grid_thw"][0, 0]) * 2 == video.meta["scene"]["frames"]  # every frame is seen
    assert "A. " in tiny_xs.processor.decode(out["input_ids"][2])  # options are listed
