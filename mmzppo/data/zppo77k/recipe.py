"""The ZPPO-77K recipe: tiers, caps, filters and the name map, read from a YAML file.

The shipped recipe is `mmzppo/data/recipes/zppo77k.yaml` (also `configs/data/zppo77k.yaml`);
its comments say what each key means and which names are not confirmed. Here it becomes a
`Recipe`, checked once: an unknown key, a name mapped twice, a tier without a cap or a bad
value is an error naming the file and the key.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mmzppo.data.sample import ANSWER_TYPES
from mmzppo.data.vision import VisionSettings

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "zppo77k.yaml"
SIDES = ("vero", "mmfinereason")  # priority order: a sub-dataset on both sides comes from Vero
EXCLUDED, UNMAPPED = "excluded", "unmapped"  # what `Recipe.classify` says of a name it does not use
_KEYS = {"seed", "caps", "filters", "closer", "vision", "vero_split", "reward_types", "subdatasets", "excluded"}
_FILTERS = {"max_pass_rate", "max_answer_chars", "min_image_side", "max_prompt_tokens"}


class RecipeError(ValueError):
    """A recipe file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class SubDataset:
    """One sub-dataset of the paper's tier lists and where its rows come from."""

    name: str  # the paper's name (the samples' `source`)
    tier: str  # a key of Recipe.caps
    vero: tuple[str, ...] = ()  # Vero config names
    mmfinereason: tuple[str, ...] = ()  # MMFineReason `source` values
    unconfirmed: str = ""  # what about this entry no source confirms ("" when all is confirmed)


@dataclass(frozen=True)
class Recipe:
    """Everything the builder takes from the recipe file (`path`); see the YAML for each key."""

    path: str
    sha256: str  # of the file's bytes, for the manifest
    seed: int
    caps: dict[str, int]  # tier -> samples per sub-dataset
    max_pass_rate: float
    max_answer_chars: int
    min_image_side: int
    max_prompt_tokens: int
    closer: str
    vision: VisionSettings
    vero_split: str
    reward_types: dict[str, str | None]  # Vero reward_type -> answer_type (None: dropped)
    subdatasets: tuple[SubDataset, ...]
    excluded: dict[str, tuple[str, ...]] = field(default_factory=dict)  # side -> name patterns

    def by_name(self) -> dict[str, SubDataset]:
        return {s.name: s for s in self.subdatasets}

    def classify(self, side: str, name: str) -> str:
        """The sub-dataset a Vero config / MMFineReason source belongs to, else EXCLUDED or
        UNMAPPED."""
        for sub in self.subdatasets:
            if name in getattr(sub, side):
                return sub.name
        if any(fnmatch.fnmatchcase(name, p) for p in self.excluded.get(side, ())):
            return EXCLUDED
        return UNMAPPED

    def cap(self, name: str) -> int:
        return self.caps[self.by_name()[name].tier]


def parse_caps(text: str | None) -> dict[str, int]:
    """ "tier1=100,tier2=50" -> {"tier1": 100, "tier2": 50}."""
    caps = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        tier, sep, value = pair.partition("=")
        if not sep or not value.strip().isdigit():
            raise RecipeError(f"--caps wants TIER=N[,TIER=N], got {pair!r}")
        caps[tier.strip()] = int(value)
    return caps


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RecipeError(f"{where}: must be a list of names")
    return tuple(value)


def load_recipe(path: str | Path | None = None, *, seed: int | None = None, caps: dict | None = None) -> Recipe:
    """Read and check a recipe file (default: the shipped one); `seed` and `caps` override it."""
    path = Path(path or RECIPE)
    data = path.read_bytes()
    raw = yaml.safe_load(data) or {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: not a mapping of recipe keys")
    if unknown := set(raw) - _KEYS:
        raise RecipeError(f"{path}: unknown key(s) {sorted(unknown)}; known: {sorted(_KEYS)}")
    filters = raw.get("filters") or {}
    if set(filters) != _FILTERS:
        raise RecipeError(f"{path}: filters must set exactly {sorted(_FILTERS)}, got {sorted(filters)}")
    all_caps = {**(raw.get("caps") or {}), **(caps or {})}
    if not all_caps or not all(isinstance(v, int) and v >= 0 for v in all_caps.values()):
        raise RecipeError(f"{path}: caps must map each tier to a count >= 0, got {all_caps}")
    reward_types = {}
    for kind, answer_type in (raw.get("reward_types") or {}).items():
        if answer_type != "drop" and answer_type not in ANSWER_TYPES:
            raise RecipeError(f"{path}: reward_types.{kind}: {answer_type!r} is not 'drop' or one of {ANSWER_TYPES}")
        reward_types[str(kind)] = None if answer_type == "drop" else answer_type
    subs, seen = [], {}
    for name, entry in (raw.get("subdatasets") or {}).items():
        where = f"{path}: subdatasets.{name}"
        if not isinstance(entry, dict) or set(entry) - {"tier", "vero", "mmfinereason", "unconfirmed"}:
            raise RecipeError(f"{where}: wants tier, vero, mmfinereason, unconfirmed")
        if entry.get("tier") not in all_caps:
            raise RecipeError(f"{where}: tier {entry.get('tier')!r} has no cap (caps: {sorted(all_caps)})")
        sub = SubDataset(
            str(name),
            entry["tier"],
            _names(entry.get("vero"), f"{where}.vero"),
            _names(entry.get("mmfinereason"), f"{where}.mmfinereason"),
            str(entry.get("unconfirmed") or ""),
        )
        if not sub.vero and not sub.mmfinereason:
            raise RecipeError(f"{where}: names no Vero config and no MMFineReason source")
        for side in SIDES:
            for n in getattr(sub, side):
                if (side, n) in seen:
                    raise RecipeError(f"{where}: {side} name {n!r} is already mapped to {seen[side, n]!r}")
                seen[side, n] = sub.name
        subs.append(sub)
    if not subs:
        raise RecipeError(f"{path}: no subdatasets")
    excluded = raw.get("excluded") or {}
    if set(excluded) - set(SIDES):
        raise RecipeError(f"{path}: excluded takes {list(SIDES)}, got {sorted(excluded)}")
    try:
        vision = VisionSettings.from_dict(raw.get("vision") or {})
    except (TypeError, ValueError) as e:
        raise RecipeError(f"{path}: vision: {e}") from None
    if not isinstance(raw.get("closer"), str) or not raw["closer"].strip():
        raise RecipeError(f"{path}: closer must be the prompts' closer text")
    return Recipe(
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        seed=int(raw.get("seed", 0) if seed is None else seed),
        caps=all_caps,
        max_pass_rate=float(filters["max_pass_rate"]),
        max_answer_chars=int(filters["max_answer_chars"]),
        min_image_side=int(filters["min_image_side"]),
        max_prompt_tokens=int(filters["max_prompt_tokens"]),
        closer=raw["closer"].strip(),
        vision=vision,
        vero_split=str(raw.get("vero_split") or "train"),
        reward_types=reward_types,
        subdatasets=tuple(subs),
        excluded={side: _names(excluded.get(side), f"{path}: excluded.{side}") for side in SIDES},
    )
