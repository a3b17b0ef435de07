"""Speed and memory of `build-zppo77k` (mmzppo.data.zppo77k) on the fixture corpora.

Measured side by side in one run, each build in a fresh process (so its peak memory is its own):
- rows/s of the scan (reading, decoding and prompt-counting every row; the stage that grows
  with the corpus) and samples/s of the shard writing, with 0, 1 and 2 workers, on the fixture
  `--scale` times the test one, with the ratios to 0 workers. The scan time includes starting
  the worker processes (each loads the processor: a few seconds, fixed);
- peak memory (max RSS of the build process, and of its largest worker) at 1x and at `--scale`
  x: their ratio says whether memory stays flat as the corpus grows.

    flock /tmp/mmzppo-measure.lock .venv/bin/python benchmarks/bench_build.py [--scale 10]
        [--side 100 160] [--processor MODEL_DIR]

`--side` sets the fixture's image sides in pixels (the test fixture: 100-160); decoding cost
grows with it, so give sizes like the real corpora's for a time per 10K rows to plan with.
Without `--processor` a tiny Qwen3.5 processor is built (mmzppo.tools.models).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CAPS = {"tier1": 6, "tier2": 3}  # the test caps; the writing is not what grows with the corpus


def child(spec: dict) -> None:
    """One build; prints its timings and peak memory as JSON."""
    from mmzppo.data.zppo77k import build, load_recipe

    timings: dict = {}
    start = time.perf_counter()
    build(
        spec["vero"],
        spec["mmfinereason"],
        spec["out"],
        recipe=load_recipe(caps=CAPS),
        processor=spec["processor"],
        workers=spec["workers"],
        progress=False,
        timings=timings,
    )
    timings["total_s"] = time.perf_counter() - start
    index = json.loads((Path(spec["out"]) / "index.json").read_text())
    shard_bytes = sum(p.stat().st_size for p in Path(spec["out"]).glob("shard-*.tar"))
    timings["bytes_per_sample_besides_image"] = (shard_bytes - index["media_bytes"]["image"]) / index["total"]
    timings["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timings["worker_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(timings))


def run(spec: dict) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"build failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: dict, rows: dict, scale: int) -> None:
    base = results[scale, 0]
    base_rate = base["scan_rows"] / base["scan_s"]
    print(f"\nat {scale}x: {rows[scale]:,} rows scanned, {base['write_samples']} samples written")
    head = ("workers", "start s", "scan rows/s", "vs 0", "s per 10K rows", "write samples/s", "total s")
    print("".join(f"{h:>16}" for h in head))
    for workers in (0, 1, 2):
        r = results[scale, workers]
        rate = r["scan_rows"] / r["scan_s"]
        cells = (workers, f"{r['start_s']:.1f}", f"{rate:,.0f}", f"{rate / base_rate:.2f}", f"{1e4 / rate:.1f}")
        cells += (f"{r['write_samples'] / r['write_s']:,.0f}", f"{r['total_s']:.1f}")
        print("".join(f"{c:>16}" for c in cells))
    small, large = results[1, 0]["rss_mb"], results[scale, 0]["rss_mb"]
    print(f"\npeak memory with 0 workers: {small:.0f} MB at 1x ({rows[1]:,} rows), {large:.0f} MB at {scale}x")
    print(f"  ({rows[scale]:,} rows): ratio {large / small:.2f}")
    for workers in (1, 2):
        r = results[scale, workers]
        print(
            f"peak memory, {workers} worker(s): main {r['rss_mb']:.0f} MB, largest worker {r['worker_rss_mb']:.0f} MB"
        )
    print(f"shard bytes per sample besides its image: {base['bytes_per_sample_besides_image']:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=10, help="good rows x this, against the test fixture")
    parser.add_argument("--side", type=int, nargs=2, default=[100, 160], help="image sides, min max (pixels)")
    parser.add_argument("--processor", default=None, help="model folder with a processor (default: a tiny one)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))

    from mmzppo.data.zppo77k import fixture

    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        tmp = Path(tmp)
        processor = args.processor
        if processor is None:
            from mmzppo.tools.models import tiny_processor, train_tokenizer

            processor = str(tmp / "processor")
            tiny_processor(train_tokenizer()).save_pretrained(processor)
        corpora = {}
        for scale in (1, args.scale):
            corpora[scale] = fixture.make_corpora(tmp / f"x{scale}", scale=scale, side=tuple(args.side))
        rows = {}
        for scale, c in corpora.items():
            files = sorted(Path(c["vero"]).rglob("*.parquet")) + sorted(Path(c["mmfinereason"]).rglob("*.parquet"))
            size = sum(f.stat().st_size for f in files)
            print(
                f"fixture {scale}x: {len(files)} parquet files, {size / 1e6:.1f} MB, images {args.side[0]}-{args.side[1]} px"
            )
        results = {}
        for scale, workers in [(1, 0), (args.scale, 0), (args.scale, 1), (args.scale, 2)]:
            c = corpora[scale]
            spec = dict(vero=str(c["vero"]), mmfinereason=str(c["mmfinereason"]), processor=processor, workers=workers)
            results[scale, workers] = run({**spec, "out": str(tmp / f"out-{scale}-{workers}")})
            rows[scale] = results[scale, workers]["scan_rows"]
        report(results, rows, args.scale)


if __name__ == "__main__":
    main()
