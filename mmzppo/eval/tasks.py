"""Benchmark items, prompts and aggregates: what the runner asks of a benchmark.

`load_items(bench, folder, media_dir)` runs the benchmark's loader (`LOADERS[bench.loader]`;
the shared pieces and the table layout are in `items`, the benchdata layouts in
`benchdata_layouts`, the other official layouts in `official_layouts`) and makes uids unique.
`PROMPTS` holds prompt builders other than `mmzppo.prompting.builders.plain`; `AGGREGATES` holds
benchmark scores other than the mean of per-item scores (DynaMath's worst case).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from mmzppo.data.sample import Sample
from mmzppo.eval import benchdata_layouts, official_layouts  # noqa: F401  (they register their loaders)
from mmzppo.eval.items import LOADERS, Failed, Item
from mmzppo.eval.suites import Benchmark
from mmzppo.prompting.builders import Prompt

__all__ = ["AGGREGATES", "LOADERS", "PROMPTS", "Failed", "Item", "conversation_prompt", "load_items", "worst_case"]


def load_items(bench: Benchmark, folder: Path, media_dir: Path) -> Iterator[Item]:
    """The benchmark's items with unique uids (a repeated uid gets a `-2`, `-3` ... suffix)."""
    if bench.loader not in LOADERS:
        raise ValueError(f"benchmark {bench.name!r}: unknown loader {bench.loader!r}; known: {sorted(LOADERS)}")
    media_dir.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = defaultdict(int)
    for item in LOADERS[bench.loader](bench, folder, media_dir):
        seen[item.uid] += 1
        if seen[item.uid] > 1:
            item = dataclasses.replace(item, uid=f"{item.uid}-{seen[item.uid]}")
        yield item


# --------------------------------------------------------------------------- prompts and aggregates


def conversation_prompt(sample: Sample) -> Prompt:
    """MultiChallenge: the conversation as it stands; the model writes the next assistant turn
    (no closer: the answer is free text for the judge, not a boxed value)."""
    messages = [
        {"role": t["role"], "content": [{"type": "text", "text": t["content"]}]} for t in sample.meta["conversation"]
    ]
    return Prompt(sample.uid, "plain", messages, sample=sample)


PROMPTS: dict[str, Callable[[Sample], Prompt]] = {"conversation": conversation_prompt}


def worst_case(records: list[dict], scores: list[float]) -> float:
    """DynaMath worst-case accuracy: a question counts only if every variant of it is correct."""
    groups: dict[str, list[float]] = defaultdict(list)
    for record, score in zip(records, scores):
        groups[str(record.get("group") or record["uid"])].append(score)
    return sum(min(v) for v in groups.values()) / len(groups) if groups else 0.0


AGGREGATES: dict[str, Callable[[list[dict], list[float]], float]] = {"worst_case": worst_case}
