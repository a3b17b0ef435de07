"""Real images and videos (MathVision JPEGs, TGIF-QA mp4s) through a tiny Qwen3.5's processor:
corrupt, truncated and missing media named by sample and field; short videos clamped;
frame lists."""

from __future__ import annotations

import shutil

import pytest
from helpers import batch

from mmzppo.data import Sample, VisionSettings
from mmzppo.data.media import MediaError
from mmzppo.prompting.builders import plain


def sample(**kw):
    base = dict(uid="q1", question="How many digits?", answer="6", answer_type="number")
    return Sample(**{**base, **kw})


def test_corrupt_and_truncated_image(tiny_xs, benchdata, tmp_path):
    good = benchdata / "vlm/mathvision/images/4.jpg"
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG not really")
    for i, bad in enumerate([truncated, garbage]):
        s = sample(uid=f"bad{i}", images=[good, bad])
        with pytest.raises(MediaError) as e:
            batch(tiny_xs.processor, [plain(s)], tiny_xs.vision)
        assert e.value.uid == f"bad{i}" and e.value.field == "images[1]" and "cannot decode image" in str(e.value)


def test_missing_and_corrupt_video(tiny_xs, benchdata, tmp_path):
    with pytest.raises(MediaError, match="not found") as e:
        batch(tiny_xs.processor, [plain(sample(uid="v0", video=str(tmp_path / "x.mp4")))], tiny_xs.vision)
    assert e.value.field == "video"
    clip = benchdata / "video/tgifqa/count_1.mp4"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:2000])
    with pytest.raises(MediaError, match="video") as e:
        batch(tiny_xs.processor, [plain(sample(uid="v1", video=str(broken)))], tiny_xs.vision)
    assert e.value.uid == "v1"


def test_short_video_is_clamped(tiny_xs, benchdata, tmp_path):
    """Ask for more frames than the clip has: clamp to what it has, never crash."""
    import av

    clip = tmp_path / "three_frames.mp4"
    with av.open(str(benchdata / "video/tgifqa/count_1.mp4")) as src, av.open(str(clip), "w") as dst:
        stream = dst.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == 3:
                break
            for packet in stream.encode(frame.reformat(width=64, height=64, format="yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    many = VisionSettings(**{**tiny_xs.vision.to_dict(), "fps": None, "nframes": 16})
    inputs = batch(tiny_xs.processor, [plain(sample(video=str(clip)))], many)
    assert int(inputs["video_grid_thw"][0][0]) == 1  # 3 frames -> 2 used -> one temporal group
    by_fps = VisionSettings(**{**tiny_xs.vision.to_dict(), "min_frames": 8, "max_frames": 16})
    inputs = batch(tiny_xs.processor, [plain(sample(video=str(clip)))], by_fps)
    assert int(inputs["video_grid_thw"][0][0]) == 1


def test_single_frame_video_is_an_error(tiny_xs, benchdata, tmp_path):
    frame = tmp_path / "f.jpg"
    shutil.copy(benchdata / "vlm/mathvision/images/4.jpg", frame)
    with pytest.raises(MediaError, match="at least 2"):
        batch(tiny_xs.processor, [plain(sample(uid="one", video=[str(frame)]))], tiny_xs.vision)


def test_frame_list_video(tiny_xs, benchdata):
    frames = [str(benchdata / f"vlm/mathvision/images/{i}.jpg") for i in (4, 5, 6, 7)]
    inputs = batch(tiny_xs.processor, [plain(sample(video=frames, video_fps=2.0))], tiny_xs.vision)
    assert int(inputs["video_grid_thw"][0][0]) == 2
