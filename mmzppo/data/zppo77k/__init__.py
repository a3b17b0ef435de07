"""ZPPO-77K, the paper's RL training set (arXiv:2606.18216, App. B.1 and D), built from local
copies of zlab-princeton/Vero-600k and MMFineReason-SFT-586K: `python -m mmzppo.data
build-zppo77k --vero DIR --mmfinereason DIR --out SHARDS`.

Modules, in the order the data flows:
    recipe    the recipe YAML (tiers, caps, filters, name map) as a checked `Recipe`
    sources   the two layouts: parquet files, row groups, one row's fields or why not
    filters   the checks on one row group (bad rows, filters, prompt length), counted by reason
    build     plan, scan (parallel, resumable), select (duplicates, seeded caps), write shards
    manifest  manifest.json / manifest.md: seen, dropped per reason, kept; what was not used
    fixture   small corpora in both layouts, for tests and benchmarks

Deviations from the paper, stated: the paper does not say how a capped sub-dataset is
sampled (a seeded uniform choice here, the seed in the manifest); the mapping of its tier
names to Vero configs and MMFineReason sources is partly unconfirmed (marked in the recipe);
an MMFineReason image goes before the question text, like every image in this project's
prompts, not at the marker (where the marker was is kept in meta["image_at"]).
"""

from mmzppo.data.zppo77k.build import BuildError, build
from mmzppo.data.zppo77k.filters import ProcessorError
from mmzppo.data.zppo77k.recipe import RECIPE, Recipe, RecipeError, load_recipe, parse_caps
from mmzppo.data.zppo77k.sources import BadFile

__all__ = [
    "RECIPE",
    "BadFile",
    "BuildError",
    "ProcessorError",
    "Recipe",
    "RecipeError",
    "build",
    "load_recipe",
    "parse_caps",
]
