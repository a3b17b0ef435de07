"""A missing image file, met when a tiny Qwen3.5's processor encodes the prompt: a `MediaError`
that names the sample, the field and the problem."""

from __future__ import annotations

import pytest
from helpers import batch

from mmzppo.data import Sample
from mmzppo.data.media import MediaError
from mmzppo.prompting.builders import plain


def sample(**kw):
    base = dict(uid="q1", question="How many digits?", answer="6", answer_type="number")
    return Sample(**{**base, **kw})


def test_missing_image_names_uid_and_field(tiny_xs, tmp_path):
    s = sample(uid="mv-4", images=[tmp_path / "nope.jpg"])
    with pytest.raises(MediaError) as e:
        batch(tiny_xs.processor, [plain(s)], tiny_xs.vision)
    assert e.value.uid == "mv-4" and e.value.field == "images[0]" and "not found" in str(e.value)
