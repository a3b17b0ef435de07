"""The shipped ZPPO-77K recipe, a Sample's reward_type and tolerance through shards, and the
grader's numeric tolerance (the builder itself: tests/integration/test_build_zppo77k.py)."""

from __future__ import annotations

import json
import tarfile

import pytest
from conftest import REPO

from mmzppo.data.sample import Sample, SampleError
from mmzppo.data.shards import ShardReader, write_shards
from mmzppo.data.zppo77k import RECIPE, RecipeError, load_recipe
from mmzppo.grading.grader import grade
from mmzppo.prompting.builders import load_templates


def test_shipped_recipe_holds_the_papers_tiers():
    recipe = load_recipe()
    assert (REPO / "configs/data/zppo77k.yaml").resolve() == RECIPE.resolve()
    assert recipe.caps == {"tier1": 2800, "tier2": 1400} and recipe.seed == 0
    assert (recipe.max_pass_rate, recipe.max_answer_chars, recipe.min_image_side, recipe.max_prompt_tokens) == (
        0.5,
        512,
        100,
        4096,
    )
    # the paper's lists: Tier 1 names 14 Vero and 12 MMFineReason sub-datasets, Tier 2 15 and 5;
    # a sub-dataset on both sides is one entry (ai2d, geo170k, wemath, tqa, visualwebinstruct, raven)
    for tier, vero, mmfr, both in (("tier1", 14, 12, 5), ("tier2", 15, 5, 1)):
        subs = [s for s in recipe.subdatasets if s.tier == tier]
        assert (sum(bool(s.vero) for s in subs), sum(bool(s.mmfinereason) for s in subs)) == (vero, mmfr)
        assert sum(bool(s.vero and s.mmfinereason) for s in subs) == both
    unconfirmed = {s.name for s in recipe.subdatasets if s.unconfirmed}
    assert {
        "chartqa",
        "cosyn_table",
        "aokvqa",
        "gqa",
        "vqav2",
        "visual7w",
        "wemath",
        "geo3k",
        "zebra_cot",
    } <= unconfirmed
    assert recipe.classify("vero", "stem-ai2d_merged") == "ai2d"
    assert recipe.classify("vero", "spatial_action-anything") == "excluded"
    assert recipe.classify("mmfinereason", "SomethingNew") == "unmapped"
    assert recipe.reward_types["llm_judge"] == "text" and recipe.reward_types["grounding"] is None
    # the data layer cannot import the prompting layer: the closer it counts must be the prompts'
    assert recipe.closer == load_templates()["closer"].render().strip()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"colour": 1}, "unknown key"),
        ({"caps": {"tier1": 10}}, "tier 'tier2' has no cap"),
        (
            {"subdatasets": {"a": {"tier": "tier1", "vero": ["x"]}, "b": {"tier": "tier1", "vero": ["x"]}}},
            "already mapped",
        ),
        ({"reward_types": {"numeric": "float"}}, "reward_types.numeric"),
    ],
)
def test_recipe_errors_name_the_file_and_key(tmp_path, change, message):
    import yaml

    raw = {**yaml.safe_load(RECIPE.read_text()), **change}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(RecipeError, match=message) as e:
        load_recipe(path, caps=None)
    assert str(path) in str(e.value)


def test_reward_type_and_tolerance_travel_in_shards(tmp_path):
    new = Sample("n1", "2.5 + 0.64?", "3.14", "number", reward_type="numeric", tolerance=0.01)
    judge = Sample("j1", "Describe it.", "a red circle", "text", reward_type="llm_judge")
    old = Sample("o1", "1 + 1?", "2", "number")
    write_shards([new, judge, old], tmp_path / "s")
    with tarfile.open(tmp_path / "s" / "shard-000000.tar") as tar:
        stored = {m.name: json.loads(tar.extractfile(m).read()) for m in tar.getmembers()}
    assert "reward_type" not in stored["o1.json"] and "tolerance" not in stored["o1.json"]  # as older shards
    read = {s.uid: s for s in ShardReader(tmp_path / "s")}
    assert (read["n1"].reward_type, read["n1"].tolerance) == ("numeric", 0.01)
    assert (read["j1"].reward_type, read["j1"].tolerance) == ("llm_judge", None)
    assert (read["o1"].reward_type, read["o1"].tolerance) == (None, None)
    for bad in (-0.1, float("nan"), "wide"):
        with pytest.raises(SampleError, match="tolerance"):
            Sample("b", "q", "1", tolerance=bad)


def test_grader_honours_a_numeric_tolerance():
    boxed = lambda x: f"The answer is \\boxed{{{x}}}."  # noqa: E731
    assert grade(boxed("3.17"), "3.14", "number").reward == 0.0  # the default 1e-4 relative
    assert grade(boxed("3.17"), "3.14", "number", tolerance=0.01).reward == 1.0  # |0.03| <= 0.0314
    assert grade(boxed("3.2"), "3.14", "number", tolerance=0.01).reward == 0.0
    assert grade(boxed("104"), "100", "number", tolerance=0.05).reward == 1.0  # integer golds too
    assert grade(boxed("-0.004"), "0", "latex", tolerance=0.005).reward == 1.0  # gold 0: absolute
    assert grade(boxed("1,020 meters"), "1000", "text", tolerance=0.05).reward == 1.0
    assert grade(boxed("x + 1"), "3.14", "number", tolerance=0.5).reward == 0.0
    assert grade(boxed("B"), "A", "choice", tolerance=10.0).reward == 0.0  # not for options
    assert grade(boxed("3" * 5000), "3", "number", tolerance=1.0).reward == 0.0  # over the size limit
    with pytest.raises(ValueError, match="tolerance"):
        grade(boxed("1"), "1", "number", tolerance=-1.0)
