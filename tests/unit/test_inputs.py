"""Samples and media settings: clear errors that name the sample and the field; a text-only
model refuses media (media read by a tiny model: tests/integration/test_inputs_encoding.py,
tests/real_data/test_inputs_real_media.py)."""

from __future__ import annotations

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


def test_sample_modality_and_dict(tmp_path):
    img = tmp_path / "4.jpg"  # paths only: a Sample reads nothing until its prompt is encoded
    assert sample().modality == "text"
    assert sample(images=str(img)).modality == "image"  # a single path becomes a list
    assert sample(images=[img], video=str(tmp_path / "1.mp4")).modality == "video"
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


def test_text_only_model_rejects_media(tmp_path):
    from PIL import Image

    from mmzppo.tools.models import train_tokenizer

    image = tmp_path / "4.png"
    Image.new("RGB", (32, 32), "white").save(image)
    tok = train_tokenizer()
    with pytest.raises(MediaError, match="text-only"):
        batch(tok, [plain(sample(uid="t", images=[image]))], None)
    ids = batch(tok, [plain(sample())], None)["input_ids"]
    assert ids.shape[0] == 1
