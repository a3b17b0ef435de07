"""Samples and media: clear errors that name the sample and field; short videos clamped."""

from __future__ import annotations

import shutil

import pytest
from helpers import batch

from mmzppo.data import Sample, SampleError, VisionSettings
from mmzppo.data.media import MediaError
from mmzppo.prompting.builders import plain


def sample(**kw):
    base = dict(uid="q1", question="How many digits?", answer="6", answer_type="number")
    return Sample(**{**base, **kw})


@pytest.mark.parametrize(
    "fields, bad_field",
    [
        (dict(question="   "), "question"),
        (dict(answer=""), "answer"),
        (dict(answer=None), "answer"),
        (dict(answer_type="essay"), "answer_type"),
        (dict(answer_type="choice", choices=["only one"]), "choices"),
        (dict(video=[]), "video"),
    ],
)
def test_bad_sample_names_uid_and_field(fields, bad_field):
    with pytest.raises(SampleError) as e:
        sample(**fields)
    assert e.value.uid == "q1" and e.value.field == bad_field
    assert "'q1'" in str(e.value) and repr(bad_field) in str(e.value)


def test_sample_modality_and_dict(benchdata):
    img = benchdata / "vlm/mathvision/images/4.jpg"
    assert sample().modality == "text"
    assert sample(images=str(img)).modality == "image"  # a single path becomes a list
    assert sample(images=[img], video=str(benchdata / "video/tgifqa/1.mp4")).modality == "video"
    assert sample(images=str(img)).to_dict()["images"] == [str(img)]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(fps=None, nframes=None), "fps"),
        (dict(nframes=4), "fps"),  # fps also set (default 2.0)
        (dict(min_pixels=10_000, max_pixels=100), "min_pixels"),
        (dict(fps=None, nframes=1), "nframes"),
        (dict(max_frames=2, min_frames=4), "max_frames"),
        (dict(patch_size=0), "patch_size"),
    ],
)
def test_bad_vision_settings(kwargs, field):
    with pytest.raises(ValueError, match=rf"VisionSettings\.{field}"):
        VisionSettings(**kwargs)
    with pytest.raises(ValueError, match="unknown"):
        VisionSettings.from_dict({"min_pixel": 1})


def test_missing_image_names_uid_and_field(tiny_xs, tmp_path):
    s = sample(uid="mv-4", images=[tmp_path / "nope.jpg"])
    with pytest.raises(MediaError) as e:
        batch(tiny_xs.processor, [plain(s)], tiny_xs.vision)
    assert e.value.uid == "mv-4" and e.value.field == "images[0]" and "not found" in str(e.value)


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


def test_text_only_model_rejects_media(benchdata):
    from mmzppo.tools.models import train_tokenizer

    tok = train_tokenizer()
    with pytest.raises(MediaError, match="text-only"):
        batch(tok, [plain(sample(uid="t", images=[benchdata / "vlm/mathvision/images/4.jpg"]))], None)
    ids = batch(tok, [plain(sample())], None)["input_ids"]
    assert ids.shape[0] == 1
