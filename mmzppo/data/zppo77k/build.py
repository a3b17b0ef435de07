"""The build: plan the inputs, scan every row group, select, write shards, write the manifest.

    plan     both folders' parquet files from their metadata; which row groups to scan (Vero
             configs of the recipe, `vero_split` only; every MMFineReason `train` file); what
             is not used, with its row count (excluded, unmapped, other splits, bad files)
    scan     each row group through `filters.scan_group` (in `workers` processes); one small
             JSON result per group in OUT/.build/scan/
    select   the results in order (Vero first, then MMFineReason; files by path): exact
             duplicates kept once, the first seen; then per sub-dataset a seeded random choice
             of `cap` rows (`random.Random(f"{seed}:{name}").sample`, kept in source order)
    write    the chosen rows in recipe order, `maxcount` per shard; each shard written whole by
             one job (the project's ShardWriter, in a temporary folder, then moved into OUT), so
             shard k is the same bytes however many workers wrote it and whenever it was written
    finish   index.json (as the ShardWriter writes it, over all shards), manifest.json and
             manifest.md; OUT/.build is removed

Resuming: a killed build run again with the same arguments keeps every finished scan result
and shard and does the rest; the shards, index and manifest are byte-identical to a build
that was never stopped. Arguments that would change the output (inputs, recipe, seed, caps,
processor, maxcount) must match the interrupted run's (OUT/.build/params.json), or it stops.

Memory: rows are read one row group at a time (images only for rows that passed the text
checks); the selection holds one 16-byte key and a (group, row) pair per row that passed the
filters (about 100 bytes each: some 100 MB for the full corpora), never images.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import random
import shutil
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from PIL import Image

from mmzppo.data.formats.image import image_suffix
from mmzppo.data.sample import Sample
from mmzppo.data.shards import FORMAT_VERSION, IMAGE_EXTS, INDEX_NAME, ShardWriter, _quiet
from mmzppo.data.zppo77k.filters import PromptCounter, scan_group
from mmzppo.data.zppo77k.manifest import Tally, write_manifest
from mmzppo.data.zppo77k.recipe import Recipe, load_recipe
from mmzppo.data.zppo77k.sources import (
    TEXT_COLUMNS,
    Plan,
    SourceFile,
    image_bytes,
    mmfinereason_row,
    plan_inputs,
    read_group,
    vero_row,
)

WORK = ".build"


class BuildError(RuntimeError):
    """The build cannot start or continue (the message says why and what to do)."""


# --------------------------------------------------------------------------- jobs (any process)

_STATE: dict[str, Any] = {}


def _init(
    recipe: Recipe, files: list[SourceFile], processor: str | None, from_vero: frozenset[str], ready=None
) -> None:
    """A process's state for the jobs (the processor loaded once); `ready`: a barrier the pool's
    starter waits at until every worker is set up."""
    _STATE.update(recipe=recipe, files=files, from_vero=from_vero)
    _STATE["counter"] = PromptCounter(processor, recipe) if processor else None
    if ready is not None:
        ready.wait()


def _scan_job(job: tuple[int, int, int]) -> tuple[int, dict]:
    k, file_index, group = job
    s = _STATE
    return k, scan_group(s["files"][file_index], group, s["recipe"], s["counter"], s["from_vero"])


def _sample(file: SourceFile, record: dict, image: Any, entry: list, recipe: Recipe, media: Path) -> Sample:
    """The Sample of a chosen row (its checks passed in the scan; the fields are made again)."""
    uid, name, _, position = entry
    row = vero_row(record, file.group, recipe) if file.side == "vero" else mmfinereason_row(record, recipe)
    data = image_bytes(image)
    suffix = {"mpo": "jpg"}.get(image_suffix(data), image_suffix(data))  # MPO: a JPEG with extra frames
    if suffix in IMAGE_EXTS:  # the source's bytes, unchanged
        (media / f"{uid}.{suffix}").write_bytes(data)
        stored: Any = str(media / f"{uid}.{suffix}")
    else:  # a format shards do not hold (PPM, ICO, ...): decoded, stored as PNG (lossless)
        stored = Image.open(io.BytesIO(data)).convert("RGB")
    meta = {
        "tier": recipe.by_name()[name].tier,
        "origin": file.side,
        "group": row.group,
        "id": row.rid,
        "file": Path(file.path).name,
        "row": position,
        "pass_rate": row.pass_rate,
        "ability": row.ability,
        "image_at": row.image_at,
    }
    return Sample(
        uid=uid,
        question=row.question,
        answer=row.answer,
        answer_type=row.answer_type,
        images=[stored],
        source=name,
        reward_type=row.reward_type,
        tolerance=row.tolerance,
        meta={k: v for k, v in meta.items() if v is not None},
    )


def _write_job(job: tuple[int, list[list], str]) -> tuple[int, dict]:
    """Shard k of the chosen rows, written whole in a temporary folder, then moved into `out`."""
    k, entries, out = job
    recipe, files = _STATE["recipe"], _STATE["files"]
    with tempfile.TemporaryDirectory(prefix=f"shard-{k:06d}-", dir=Path(out) / WORK) as tmp:
        media, samples = Path(tmp) / "media", {}
        media.mkdir()
        by_group = defaultdict(list)  # (file, row group) -> entries: each group is read once
        for entry in entries:
            file = files[entry[2]]
            group, first = _group_of(file, entry[3])
            by_group[entry[2], group, first].append(entry)
        for (file_index, group, first), group_entries in sorted(by_group.items()):
            file = files[file_index]
            table = read_group(file, group, [*TEXT_COLUMNS[file.side], "image"])
            for entry in group_entries:
                i = entry[3] - first
                record = {c: table.column(c)[i].as_py() for c in table.column_names if c != "image"}
                samples[entry[0]] = _sample(file, record, table.column("image")[i].as_py(), entry, recipe, media)
            del table
        with ShardWriter(Path(tmp) / "shard", maxcount=len(entries) + 1, maxsize=float("inf")) as writer:
            for entry in entries:
                writer.write(samples[entry[0]])
        index = writer.index()
        os.replace(Path(tmp) / "shard" / "shard-000000.tar", Path(out) / f"shard-{k:06d}.tar")
    return k, index


def _group_of(file: SourceFile, position: int) -> tuple[int, int]:
    """(row group, its first row) of a row position in a file."""
    first = 0
    for group, n in enumerate(file.group_rows):
        if position < first + n:
            return group, first
        first += n
    raise IndexError(f"{file.path}: row {position} is past its {file.rows} rows")


class Workers:
    """Runs jobs in this process (0 workers) or in one pool of fresh processes, started at the
    first job and shared by the scan and the writing (results come in any order). `start_s`:
    the seconds spent starting processes and loading the processor, apart from the jobs'."""

    def __init__(self, n: int, initargs: tuple):
        self.n, self.initargs, self.pool = n, initargs, None
        start = time.perf_counter()
        if n <= 0:
            _init(*initargs)
        self.start_s = time.perf_counter() - start

    def map(self, fn, jobs: list):
        if self.n <= 0 or not jobs:
            return map(fn, jobs)
        if self.pool is None:
            start = time.perf_counter()
            context = multiprocessing.get_context("spawn")  # no forked tokenizer or torch state
            ready = context.Barrier(self.n + 1)
            self.pool = context.Pool(self.n, initializer=_init, initargs=(*self.initargs, ready))
            try:
                ready.wait(timeout=600)
            except threading.BrokenBarrierError:
                raise BuildError("the worker processes did not start within 600 s (see their errors above)") from None
            self.start_s += time.perf_counter() - start
        return self.pool.imap_unordered(fn, jobs)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self.pool is not None:
            if exc_type is None:
                self.pool.close()
            else:
                self.pool.terminate()
            self.pool.join()


def _write_json(path: Path, data: Any) -> None:
    """Write atomically: a killed build never leaves half a file that looks finished."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    os.replace(tmp, path)


# --------------------------------------------------------------------------- select


def select(plan: Plan, recipe: Recipe, scan_dir: Path, tally: Tally) -> list[list]:
    """The chosen rows as [uid, sub-dataset, file index, row] in output order; counts into `tally`."""
    keys: set[bytes] = set()
    candidates: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for k, (file_index, _) in enumerate(plan.units):
        result = json.loads((scan_dir / f"{k:07d}.json").read_text())
        side = plan.files[file_index].side
        tally.add_scan(side, result)
        for name, position, key in result["passed"]:
            key = bytes.fromhex(key)
            if key in keys:
                tally.count(name, side, "exact duplicate")
                continue
            keys.add(key)
            candidates[name].append((file_index, position))
    chosen = []
    for sub in recipe.subdatasets:
        rows, cap = candidates.pop(sub.name, []), recipe.caps[sub.tier]
        picked = (
            sorted(random.Random(f"{recipe.seed}:{sub.name}").sample(range(len(rows)), cap))
            if len(rows) > cap
            else range(len(rows))
        )
        picked_set = set(picked)
        for i, (file_index, _) in enumerate(rows):
            side = plan.files[file_index].side
            tally.count(sub.name, side, "kept" if i in picked_set else "over cap")
        chosen += [[f"{sub.name}-{n:06d}", sub.name, *rows[i]] for n, i in enumerate(picked)]
    return chosen


# --------------------------------------------------------------------------- the build


def _params(plan: Plan, recipe: Recipe, processor: str | None, maxcount: int) -> dict:
    """What fixes the output: a resumed build must be given the same."""
    return {
        "recipe_sha256": recipe.sha256,
        "seed": recipe.seed,
        "caps": recipe.caps,
        "processor": processor,
        "maxcount": maxcount,
        "files": [[f.path, f.rows, os.path.getsize(f.path)] for f in plan.files],
        "bad_files": plan.bad_files,
    }


def build(
    vero: str | Path,
    mmfinereason: str | Path,
    out: str | Path,
    *,
    recipe: Recipe | str | Path | None = None,
    processor: str | Path | None = None,
    workers: int = 0,
    maxcount: int = 500,
    skip_bad_files: bool = False,
    progress: bool | None = None,
    timings: dict | None = None,
) -> dict:
    """Build (or finish building) ZPPO-77K shards in `out`; returns the manifest.

    `timings`, when given, receives the rows scanned and samples written by this call and the
    seconds each stage took (kept out of the manifest, which must not depend on the machine)."""
    from tqdm import tqdm

    timings = {} if timings is None else timings
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    out, processor = Path(out), (str(processor) if processor else None)
    work = out / WORK
    if (out / INDEX_NAME).exists():
        shutil.rmtree(work, ignore_errors=True)  # killed after finishing, before cleaning up
        raise BuildError(f"{out} already holds a finished build (index.json); use another --out")
    if out.exists() and not work.exists() and any(out.iterdir()):
        raise BuildError(f"{out} is not empty and holds no unfinished build; use an empty or new --out")
    if processor:
        PromptCounter(processor, recipe)  # a bad --processor fails here, before any work or worker
    plan = plan_inputs(recipe, Path(vero), Path(mmfinereason), skip_bad_files)
    params = _params(plan, recipe, processor, maxcount)
    (work / "scan").mkdir(parents=True, exist_ok=True)
    (work / "shards").mkdir(exist_ok=True)
    if (work / "params.json").exists() and json.loads((work / "params.json").read_text()) != params:
        raise BuildError(
            f"{out} holds an unfinished build made with other inputs or settings "
            f"({work / 'params.json'}); resume it with the same arguments, or use another --out"
        )
    _write_json(work / "params.json", params)
    scan_dir, shard_dir = work / "scan", work / "shards"
    with Workers(workers, (recipe, plan.files, processor, plan.from_vero)) as pool:
        todo = [(k, f, g) for k, (f, g) in enumerate(plan.units) if not (scan_dir / f"{k:07d}.json").exists()]
        rows = sum(plan.files[f].group_rows[g] for f, g in plan.units)
        left = sum(plan.files[f].group_rows[g] for _, f, g in todo)
        results = pool.map(_scan_job, todo)  # starts the workers, if any
        start = time.perf_counter()
        with tqdm(total=rows, initial=rows - left, desc="scanning", unit="row", disable=_quiet(progress)) as bar:
            for k, result in results:
                _write_json(scan_dir / f"{k:07d}.json", result)
                bar.update(result["rows"])
        timings.update(scan_rows=left, scan_s=time.perf_counter() - start)

        tally = Tally(recipe)
        chosen = select(plan, recipe, scan_dir, tally)
        shards = [chosen[i : i + maxcount] for i in range(0, len(chosen), maxcount)]
        for stale in work.glob("shard-*-*"):  # temporary folders of a killed write
            shutil.rmtree(stale, ignore_errors=True)
        todo = [(k, s, str(out)) for k, s in enumerate(shards) if not (shard_dir / f"{k:06d}.json").exists()]
        results = pool.map(_write_job, todo)
        start = time.perf_counter()
        with tqdm(total=len(chosen), desc="writing shards", unit="sample", disable=_quiet(progress)) as bar:
            bar.update(len(chosen) - sum(len(s) for _, s, _ in todo))
            for k, index in results:
                _write_json(shard_dir / f"{k:06d}.json", index)
                bar.update(len(shards[k]))
        timings.update(write_samples=sum(len(s) for _, s, _ in todo), write_s=time.perf_counter() - start)
        timings["start_s"] = pool.start_s

    indexes = [json.loads((shard_dir / f"{k:06d}.json").read_text()) for k in range(len(shards))]
    manifest = write_manifest(out, tally, plan, recipe, processor, vero=str(vero), mmfinereason=str(mmfinereason))
    _write_json(out / INDEX_NAME, merge_indexes(indexes, manifest))
    shutil.rmtree(work)
    return manifest


def merge_indexes(indexes: list[dict], manifest: dict) -> dict:
    """One index.json over shards written one by one (the ShardWriter's format)."""
    counts = {key: Counter() for key in ("source", "modality", "source_modality")}
    media, shards = Counter(), []
    for k, index in enumerate(indexes):
        shards.append({"name": f"shard-{k:06d}.tar", "count": index["total"]})
        for key in counts:
            counts[key].update(index["counts"][key])
        media.update(index["media_bytes"])
    return {
        "format": "mmzppo-shards",
        "version": FORMAT_VERSION,
        "shards": shards,
        "total": sum(s["count"] for s in shards),
        "counts": {key: dict(sorted(c.items())) for key, c in counts.items()},
        "media_bytes": dict(sorted(media.items())),
        "with_teacher": 0,
        "vision": None,  # images are the sources' original bytes, not resized
        "skipped": manifest["drops"],
        "skipped_items": [
            {"where": w, "reason": r, "detail": ""} for r, ws in manifest["examples"].items() for w in ws
        ][:100],
        "zppo77k": {"manifest": "manifest.json", "seed": manifest["recipe"]["seed"]},
    }
