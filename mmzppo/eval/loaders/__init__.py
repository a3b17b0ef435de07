"""Benchmark folders -> items: the loader registry and `load_items`, what the runner asks of a benchmark.

`load_items(bench, folder, media_dir)` runs the benchmark's loader (`LOADERS[bench.loader]`,
the YAML's `loader:` names a key here) and makes uids unique. The loaders live by layout:

- `common`: the pieces every loader shares (reading files, `Failed` items, media, options)
  and `table`, the generic layout most benchmarks go through (field names in the YAML);
- `benchdata`: the layouts of ../shared/benchdata, through the record -> Sample functions of
  `mmzppo.data.formats` that the training converters use as well;
- `official`: the other official layouts a field mapping cannot say, and the synthetic suite.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from mmzppo.eval.loaders import benchdata, official
from mmzppo.eval.loaders.common import Failed, Item, Loader, table
from mmzppo.eval.suites import Benchmark

__all__ = ["LOADERS", "Failed", "Item", "Loader", "load_items"]

LOADERS: dict[str, Loader] = {
    "table": table,
    # the layouts of ../shared/benchdata
    "mathvision": benchdata.mathvision,
    "mmmu": benchdata.mmmu,
    "logicvista": benchdata.logicvista,
    "puzzlevqa": benchdata.puzzlevqa,
    "tempcompass": benchdata.tempcompass,
    "tgifqa": benchdata.tgifqa,
    "gsm8k": benchdata.text_format,
    "math500": benchdata.text_format,
    "mmlu_pro": benchdata.text_format,
    "mmlu": benchdata.mmlu,
    "aime": benchdata.aime,
    "imo_answerbench": benchdata.imo_answerbench,
    "mmlu_redux": benchdata.mmlu_redux,
    "dynamath": benchdata.dynamath,
    "wemath": benchdata.wemath,
    # other official layouts
    "mmmu_pro": official.mmmu_pro,
    "ocrbench_v2": official.ocrbench_v2,
    "ceval": official.ceval,
    "gpqa": official.gpqa,
    "hle": official.hle,
    "vlms_are_blind": official.vlms_are_blind,
    "multichallenge": official.multichallenge,
    "mvbench": official.mvbench,
    "videomme": official.videomme,
    "videommmu": official.videommmu,
    "synthetic": official.synthetic,
}


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
