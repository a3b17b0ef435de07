"""RL, warm-up/reading and test items share no uid and no content (question text + media hash)."""

from __future__ import annotations

import dataclasses
import json

from PIL import Image

from mmzppo.data.synthetic import generate_suite
from mmzppo.tools.disjoint import content_key, keys_of, overlaps, without
from mmzppo.tools.grid import QUICK, RL_FAMILIES


def test_the_former_data_layout_is_caught(tmp_path):
    """The RL set built from the warm-up's own arguments (as before issue 22) overlaps it; the
    same picture read back as a PIL image has the same key as its file; a renamed copy is caught."""
    image = list(RL_FAMILIES["image"])
    rl = list(generate_suite(image, 3, 0, "train", tmp_path, levels=[1]))
    warm = list(generate_suite(None, 3, 0, "train", tmp_path, levels=[1]))
    problems = overlaps({"rl": keys_of(rl), "warmup": keys_of(warm)})
    assert any("share 12 uids" in p for p in problems) and any("by content" in p for p in problems)
    s = rl[0]
    in_memory = dataclasses.replace(s, uid="renamed", images=[Image.open(s.images[0]).convert("RGB")])
    assert content_key(in_memory) == content_key(s)
    assert overlaps({"a": keys_of([s]), "b": keys_of([in_memory])}) == [
        f"a and b share 1 items by content, e.g. {s.uid} = renamed"
    ]
    other_question = dataclasses.replace(in_memory, question=s.question + " Count carefully.")
    kept, dropped = without([in_memory, other_question, other_question], keys_of([s]))
    assert [k.question for k in kept] == [other_question.question] and dropped == 2


def test_make_data_keeps_the_sets_apart(tmp_path):
    from mmzppo.data.shards import ShardReader
    from mmzppo.tools.stages import make_data

    grid = dataclasses.replace(QUICK, rl_family="text", train_n=4, rl_n=12, eval_n=2, read_family="disjoint")
    paths = make_data(tmp_path, grid)
    report = json.loads((tmp_path / "data" / "disjoint.json").read_text())
    assert report["overlaps"] == [] and report["rl"] == 36 - report["rl_dropped_as_warmup_items"]
    read = {name: list(ShardReader(p)) for name, p in paths.items()}
    uids = {name: {s.uid for s in samples} for name, samples in read.items()}
    assert not uids["rl"] & (uids["warmup"] | uids["read"])
    questions = {name: {(s.question, tuple(s.choices or ())) for s in samples} for name, samples in read.items()}
    assert not questions["rl"] & (questions["warmup"] | questions["read"])  # text items: the question is the content
    assert {s.source for s in read["rl"]} == set(RL_FAMILIES["text"])
    assert make_data(tmp_path, grid) == paths  # written once


def test_a_fresh_reading_set_leaves_the_rl_set_as_it_was(tmp_path):
    """`read_n` > 0: reading examples from their own seed and levels, none of them an RL or test
    item; the RL set is the one the default grid makes (it does not depend on the reading set)."""
    from mmzppo.data.shards import ShardReader
    from mmzppo.eval.loaders import load_items
    from mmzppo.tools.disjoint import content_key
    from mmzppo.tools.stages import eval_benchmarks, make_data

    base = dataclasses.replace(QUICK, rl_family="text", train_n=4, rl_n=12, eval_n=2, read_family="rl")
    fresh = dataclasses.replace(base, read_n=30, read_levels=(2, 3, 4))
    paths = make_data(tmp_path / "fresh", fresh)
    former = make_data(tmp_path / "former", base)
    rl = [s.uid for s in ShardReader(paths["rl"])]
    assert rl == [s.uid for s in ShardReader(former["rl"])]
    read = list(ShardReader(paths["read"]))
    report = json.loads((tmp_path / "fresh" / "data" / "disjoint.json").read_text())
    assert len(read) == 90 - report["read_dropped"] > 60 and report["overlaps"] == []
    assert {s.source for s in read} == set(RL_FAMILIES["text"]) and {s.meta["level"] for s in read} == {2, 3, 4}
    test = [
        s
        for b in eval_benchmarks(fresh).values()
        if b.suite == "synthetic"
        for s in load_items(b, None, tmp_path / "media")
    ]
    taken = {content_key(s) for s in [*ShardReader(paths["rl"]), *test]}
    assert not taken & {content_key(s) for s in read}
    assert not set(rl) & {s.uid for s in read}
