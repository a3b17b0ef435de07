"""`build-zppo77k` on corpora in both real layouts (mmzppo.data.zppo77k.fixture), with the tiny
processor: every count the recipe predicts, per sub-dataset, side and reason; what the shards
hold; the prompt length against the real encoding; same seed, same bytes (0 or 2 workers).
A killed and resumed build, and broken parquet files: tests/faults/test_build_zppo77k_faults.py."""

from __future__ import annotations

import io
import tarfile
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from mmzppo.data.shards import ShardReader, read_index
from mmzppo.data.zppo77k import build, fixture, load_recipe
from mmzppo.data.zppo77k.recipe import EXCLUDED, UNMAPPED

CAPS = {"tier1": 6, "tier2": 3}
# What the builder must say of each row kind of the fixture (None: the row passes every check).
REASON = {
    "good": None,
    "judge": None,
    "tolerance": None,
    "ppm": None,  # stored as PNG: shards hold no PPM
    "duplicate": "exact duplicate",
    "no_image": "missing image",
    "bad_image": "undecodable image",
    "image_list": "image list",
    "empty_answer": "empty answer",
    "non_string_answer": "non-string answer",
    "long_answer": "answer over 512 characters",
    "small_image": "image under 100 px",
    "long_prompt": "prompt over 4096 tokens",
    "grounding": "reward type grounding (not gradable)",
    "two_markers": "several <image> markers",
    "no_marker": "no <image> marker",
    "null_question": "missing column extra_info.question",
    "null_pass_rate": "missing column pass_rate",
    "high_pass_rate": "pass_rate over 0.5",
}


def predicted(recipe) -> dict:
    """sub-dataset -> side -> counts, from the fixture's row kinds, the recipe and CAPS alone."""
    groups = [("vero", c, k) for c, k in fixture.VERO.items()]
    groups += [("mmfinereason", s, k) for f in fixture.MMFINEREASON for s, k in f.items()]
    from_vero = {recipe.classify("vero", c) for c in fixture.VERO} - {EXCLUDED, UNMAPPED}
    out: dict = {}
    for side, group, kinds in groups:
        name = recipe.classify(side, group)
        if name in (EXCLUDED, UNMAPPED):
            continue
        c = out.setdefault(name, {}).setdefault(side, Counter())
        c["seen"] += len(kinds)
        if side == "mmfinereason" and name in from_vero:
            c["taken from Vero"] += len(kinds)
            continue
        c.update(REASON[k] or "passed" for k in kinds)
    for name, sides in out.items():
        for side, c in sides.items():
            passed = c.pop("passed", 0)
            c["kept"] = min(passed, CAPS[recipe.by_name()[name].tier])
            c["over cap"] = passed - c["kept"]
            sides[side] = {k: v for k, v in c.items() if v or k == "kept"}
    return out


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    return fixture.make_corpora(tmp_path_factory.mktemp("corpora"))


@pytest.fixture(scope="module")
def built(corpora, tiny_xs_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("zppo77k") / "shards"
    recipe = load_recipe(caps=CAPS)
    manifest = build(corpora["vero"], corpora["mmfinereason"], out, recipe=recipe, processor=tiny_xs_dir, maxcount=7)
    return out, manifest, recipe


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_kept_counts_are_the_recipes(built):
    out, manifest, recipe = built
    expected = predicted(recipe)
    got = {
        name: {s: sub[s] for s in ("vero", "mmfinereason") if s in sub} for name, sub in manifest["subdatasets"].items()
    }
    assert {n: g for n, g in got.items() if g} == expected
    # every bad-row kind and every filter was met at least once
    assert set(REASON.values()) - {None} <= set(manifest["drops"])
    assert manifest["total"]["kept"] == sum(c["kept"] for sides in expected.values() for c in sides.values())
    assert manifest["tiers"]["tier1"]["subdatasets"] == 6 and manifest["tiers"]["tier2"]["subdatasets"] == 3
    not_used = manifest["not_used"]
    assert not_used["vero"]["spatial_action-walk"] == {"status": "excluded", "rows": 2}
    assert not_used["vero"]["knowledge_recognition-mystery"] == {"status": "unmapped", "rows": 2}
    assert not_used["vero"]["stem-geo170k [val]"] == {"status": "val split", "rows": 2}
    assert not_used["mmfinereason"]["Mystery-Source"] == {"status": "unmapped", "rows": 2}
    assert not_used["mmfinereason"]["GameQA-140K"] == {"status": "excluded", "rows": 2}
    assert "chartqa" in manifest["not_found"] and "ai2d" not in manifest["not_found"]
    assert manifest["recipe"]["seed"] == 0 and manifest["recipe"]["caps"] == CAPS
    assert "| `exact duplicate` | 1 |" in (out / "manifest.md").read_text()


def test_shards_hold_the_chosen_samples(built):
    out, manifest, _ = built
    index = read_index(out)
    assert index["total"] == manifest["total"]["kept"] and len(index["shards"]) == -(-index["total"] // 7)
    samples = list(ShardReader(out))
    by_source = Counter(s.source for s in samples)
    assert by_source == {n: sub["kept"] for n, sub in manifest["subdatasets"].items() if sub["kept"]}
    assert all("<image>" not in s.question and len(s.images) == 1 for s in samples)
    judge = [s for s in samples if s.reward_type == "llm_judge"]
    assert len(judge) == 1 and judge[0].answer == "a red circle" and judge[0].answer_type == "text"
    assert [s.tolerance for s in samples if s.tolerance is not None] == [0.01]
    mmfr = [s for s in samples if s.meta["origin"] == "mmfinereason"]
    assert mmfr and all(s.meta["image_at"] == 0 and s.reward_type is None for s in mmfr)
    assert all(min(s.images[0].size) >= 100 for s in samples)
    # images keep their source bytes: PNG and JPEG members, not re-encoded
    with tarfile.open(out / "shard-000000.tar") as tar:
        kinds = {m.name.rsplit(".", 1)[1] for m in tar.getmembers() if ".img0." in m.name}
        member = next(m for m in tar.getmembers() if ".img0." in m.name)
        assert Image.open(io.BytesIO(tar.extractfile(member).read())).format in ("PNG", "JPEG")
    assert kinds == {"png", "jpg"}


def test_prompt_length_is_the_real_encodings(built, tiny_xs_dir):
    """The builder counts without pixels; the trainer's encoding of the plain prompt agrees."""
    from transformers import AutoProcessor

    from mmzppo.data.zppo77k.filters import PromptCounter
    from mmzppo.policy.encoding import encode_prompts
    from mmzppo.prompting.builders import plain

    out, _, recipe = built
    counter = PromptCounter(tiny_xs_dir, recipe)
    processor = AutoProcessor.from_pretrained(tiny_xs_dir)
    samples = list(ShardReader(out))[:4]
    for sample, size in zip(samples, [(100, 100), (640, 300), (1900, 1200), (123, 457)]):
        sample.images = [sample.images[0].resize(size)]
        encoded = encode_prompts(processor, recipe.vision, [plain(sample)])[0]
        assert counter(sample.question, *size) == encoded.length


def test_same_seed_same_bytes_with_workers_other_seed_other_rows(built, corpora, tiny_xs_dir, tmp_path):
    out, manifest, recipe = built
    again = tmp_path / "again"
    build(corpora["vero"], corpora["mmfinereason"], again, recipe=recipe, processor=tiny_xs_dir, maxcount=7, workers=2)
    assert files(again) == files(out)
    other = tmp_path / "seed1"
    m1 = build(
        corpora["vero"],
        corpora["mmfinereason"],
        other,
        recipe=load_recipe(seed=1, caps=CAPS),
        processor=tiny_xs_dir,
        maxcount=7,
    )
    assert {n: s["kept"] for n, s in m1["subdatasets"].items()} == {
        n: s["kept"] for n, s in manifest["subdatasets"].items()
    }
    rows = lambda folder: {(s.source, s.meta["row"]) for s in ShardReader(folder)}  # noqa: E731
    assert rows(other) != rows(out)
