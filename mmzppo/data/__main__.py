"""`python -m mmzppo.data`: make shards (synthetic tasks or a benchmark folder) and look inside them.

    python -m mmzppo.data synth   --out DIR --tasks a,b --n N --seed S [--split train]
    python -m mmzppo.data convert --from FORMAT --src DIR --out DIR [--maxcount 500]
    python -m mmzppo.data inspect DIR [--n 5] [--check]
    python -m mmzppo.data build-zppo77k --vero DIR --mmfinereason DIR --out DIR [--processor MODEL]
                                        [--recipe FILE] [--seed S] [--caps tier1=N,tier2=M] [--workers N]

`convert --from` takes the benchmark folder names of ../shared/benchdata (gsm8k, mmmu, tgifqa,
...) and the generic `jsonl` / `videoqa` layouts. `build-zppo77k` builds the paper's training
set from local copies of Vero-600k and MMFineReason (mmzppo.data.zppo77k; README "Data").
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path

from mmzppo.data.convert import FORMATS, convert
from mmzppo.data.shards import (
    RawSample,
    SkipSample,
    _quiet,
    decode_sample,
    iter_shard,
    parse_info,
    read_index,
    resolve_shards,
    write_shards,
)
from mmzppo.data.vision import VisionSettings


def print_index_summary(index: dict, out: str | Path) -> None:
    """What a synth/convert run wrote and skipped."""
    print(f"wrote {index['total']} samples to {len(index['shards'])} shard(s) in {out}")
    for name, n in sorted(index["counts"]["source_modality"].items()):
        print(f"  {name:<30}{n:>8}")
    skipped = sum(index["skipped"].values())
    print(f"skipped {skipped} record(s)" + (f": {dict(index['skipped'])}" if skipped else ""))
    for item in index["skipped_items"][:20]:
        print(f"  {item['where']}: {item['reason']}")


# --------------------------------------------------------------------------- synth


def parse_levels(text: str | None) -> list | None:
    """ "1,2,3" -> [1, 2, 3] (non-numbers stay strings)."""
    if not text:
        return None
    return [int(x) if x.strip().lstrip("-").isdigit() else x.strip() for x in text.split(",")]


def cmd_synth(args) -> None:
    """Generate the synthetic suite (mmzppo.data.synthetic, imported only here) into shards."""
    try:
        from mmzppo.data import synthetic
    except ImportError as e:
        sys.exit(f"synth needs mmzppo.data.synthetic, which cannot be imported: {e}")
    tasks = list(synthetic.TASKS) if args.tasks == "all" else [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in synthetic.TASKS]
    if unknown or not tasks:
        sys.exit(f"unknown task(s) {unknown or tasks}; choose from: {', '.join(synthetic.TASKS)} (or 'all')")
    if args.split not in synthetic.SPLITS:
        sys.exit(f"unknown split {args.split!r}; choose from: {', '.join(synthetic.SPLITS)}")
    levels = parse_levels(args.levels)
    with tempfile.TemporaryDirectory(prefix="mmzppo-synth-") as media:
        samples = synthetic.generate_suite(tasks, args.n, args.seed, args.split, Path(media), levels=levels)
        extra = {"synth": {"tasks": tasks, "n": args.n, "seed": args.seed, "split": args.split, "levels": levels}}
        index = write_shards(
            samples, args.out, maxcount=args.maxcount, maxsize=args.maxsize, extra=extra, progress=args.progress
        )
    print_index_summary(index, args.out)


# --------------------------------------------------------------------------- convert


def parse_fields(pairs: list[str]) -> dict[str, str] | None:
    """["question=prompt", ...] -> {"question": "prompt", ...}."""
    fields = {}
    for pair in pairs or []:
        name, sep, key = pair.partition("=")
        if not sep or not name or not key:
            sys.exit(f"--field wants SAMPLE_FIELD=RECORD_KEY, got {pair!r}")
        fields[name.strip()] = key.strip()
    return fields or None


def cmd_convert(args) -> None:
    index = convert(
        args.fmt,
        args.src,
        args.out,
        maxcount=args.maxcount,
        maxsize=args.maxsize,
        source=args.source,
        fields=parse_fields(args.field),
        progress=args.progress,
    )
    print_index_summary(index, args.out)


# --------------------------------------------------------------------------- inspect


def show_sample(sample, n_members: dict[str, int]) -> None:
    """One decoded sample, short."""
    print(f"--- {sample.uid}  [{sample.source or '-'} | {sample.modality} | {sample.answer_type}]")
    question = " ".join(sample.question.split())
    print(f"question: {question[:300]}{' ...' if len(question) > 300 else ''}")
    if sample.choices:
        print("choices:  " + " | ".join(c[:60] for c in sample.choices))
    print(f"answer:   {sample.answer}")
    for i, im in enumerate(sample.images):
        print(f"image {i}:  {im.size[0]}x{im.size[1]} {im.mode}, {n_members.get(f'images[{i}]', 0) / 1e3:.1f} kB")
    if sample.video is not None:
        w, h = sample.video[0].size
        print(
            f"video:    {len(sample.video)} frames {w}x{h} at {sample.video_fps:.3f} fps "
            f"(stored {n_members.get('video', 0) / 1e3:.1f} kB)"
        )
    if "teacher" in sample.meta:
        rewards = [t["reward"] for t in sample.meta["teacher"]]
        print(f"teacher:  {len(rewards)} responses, mean reward {sum(rewards) / len(rewards):.2f}")


def member_sizes(raw: RawSample, info: dict) -> dict[str, int]:
    """Bytes of each media field of a sample ("images[0]", "video")."""
    sizes = {f"images[{i}]": len(raw.members[m]) for i, m in enumerate(info.get("images") or [])}
    video = info.get("video")
    if video:
        sizes["video"] = sum(len(raw.members[m]) for m in (video if isinstance(video, list) else [video]))
    return sizes


def size_line(name: str, sizes: list[int]) -> str:
    if not sizes:
        return f"  {name:<8} none"
    total, mean, largest = sum(sizes) / 1e6, sum(sizes) / len(sizes) / 1e3, max(sizes) / 1e3
    return f"  {name:<8}{len(sizes):>7} files {total:>9.2f} MB  mean {mean:8.1f} kB  max {largest:8.1f} kB"


def cmd_inspect(args) -> None:
    """Print the first samples, counts per source/modality/answer type, media sizes, skips.

    Counting reads every sample's json and media sizes without decoding media; --check also
    decodes every sample (finds corrupt images and videos).
    """
    from tqdm import tqdm

    vision = VisionSettings() if args.vision == "default" else None
    shards = resolve_shards(args.dir)
    by_source, by_modality, by_type = Counter(), Counter(), Counter()
    sizes: dict[str, list[int]] = {"image": [], "video": []}
    skipped: Counter = Counter()
    seen: set[str] = set()  # keys already read in an earlier shard (one tar's repeats: iter_shard)
    shown = 0
    for shard in tqdm(shards, desc="reading shards", unit="shard", disable=_quiet(args.progress)):
        for item in iter_shard(shard):
            if not isinstance(item, RawSample):
                skipped[item.reason] += 1
                print(f"skipped {item.key or '<shard>'} in {item.shard}: {item.reason} ({item.detail})")
                continue
            try:
                info = parse_info(item)
                if item.key in seen:
                    raise SkipSample("duplicate key", "this key was already read from another shard")
                sample = decode_sample(item, vision, info) if shown < args.n or args.check else None
            except SkipSample as e:
                skipped[e.reason] += 1
                print(f"skipped {item.key} in {item.shard}: {e.reason} ({e.detail})")
                continue
            seen.add(item.key)
            modality = "video" if info.get("video") else "image" if info.get("images") else "text"
            by_source[info.get("source") or "-"] += 1
            by_modality[modality] += 1
            by_type[info.get("answer_type") or "latex"] += 1
            media = member_sizes(item, info)
            sizes["image"] += [v for k, v in media.items() if k.startswith("images")]
            sizes["video"] += [media["video"]] if "video" in media else []
            if shown < args.n:
                show_sample(sample, media)
                shown += 1
    total = sum(by_source.values())
    print(f"\n{total} readable samples in {len(shards)} shard(s) of {args.dir}")
    for title, counts in (("source/task", by_source), ("modality", by_modality), ("answer type", by_type)):
        print(f"per {title}:")
        for name, n in counts.most_common():
            print(f"  {name:<28}{n:>8}")
    print("media sizes:")
    print(size_line("image", sizes["image"]))
    print(size_line("video", sizes["video"]))
    index = read_index(args.dir) if Path(args.dir).is_dir() else None
    at_conversion = sum((index or {}).get("skipped", {}).values())
    read_note = "" if args.check else " (media not decoded: use --check)"
    print(f"skipped while reading: {sum(skipped.values())}{read_note}" + (f" {dict(skipped)}" if skipped else ""))
    print(f"skipped at conversion: {at_conversion}" + (f" {index['skipped']}" if at_conversion else ""))


# --------------------------------------------------------------------------- build-zppo77k


def cmd_build_zppo77k(args) -> None:
    """The paper's training set (mmzppo.data.zppo77k, imported only here); errors are one line."""
    from mmzppo.data.zppo77k import BadFile, BuildError, ProcessorError, RecipeError, build, load_recipe, parse_caps

    timings: dict = {}
    try:
        recipe = load_recipe(args.recipe, seed=args.seed, caps=parse_caps(args.caps))
        manifest = build(
            args.vero,
            args.mmfinereason,
            args.out,
            recipe=recipe,
            processor=args.processor,
            workers=args.workers,
            maxcount=args.maxcount,
            skip_bad_files=args.skip_bad_files,
            progress=args.progress,
            timings=timings,
        )
    except (BadFile, BuildError, ProcessorError, RecipeError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    total, tiers = manifest["total"], manifest["tiers"]
    print(f"kept {total['kept']:,} of {total['seen']:,} rows seen in {args.out} (seed {recipe.seed})")
    for tier, t in tiers.items():
        print(f"  {tier}: {t['kept']:,} from {t['subdatasets']} sub-dataset(s), cap {t['cap']:,}")
    if timings.get("scan_rows"):
        rate = timings["scan_rows"] / max(timings["scan_s"], 1e-9)
        print(f"scanned {timings['scan_rows']:,} rows in {timings['scan_s']:.1f} s ({rate:,.0f} rows/s)")
    unmapped = [
        f"{side}:{n}"
        for side, names in manifest["not_used"].items()
        for n, v in names.items()
        if v["status"] == "unmapped"
    ]
    if unmapped:
        print(f"not in the recipe's name map (not used): {', '.join(unmapped)}")
    if manifest["not_found"]:
        print(f"recipe sub-datasets not in the inputs: {', '.join(manifest['not_found'])}")
    if not args.processor:
        print("no --processor: the 4,096-token prompt filter was not applied")
    print(f"per sub-dataset and reason: {Path(args.out) / 'manifest.md'}")


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def shard_options(p):
        p.add_argument("--out", required=True, type=Path, help="empty folder for shard-*.tar and index.json")
        p.add_argument("--maxcount", type=int, default=500, help="samples per shard (use >= ranks x workers shards)")
        p.add_argument("--maxsize", type=float, default=1e9, help="bytes per shard")

    def progress_option(p):
        p.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="progress bar (default: only on a terminal)",
        )

    p = sub.add_parser("synth", help="generate synthetic tasks into shards")
    shard_options(p)
    progress_option(p)
    p.add_argument("--tasks", required=True, help="comma-separated task names, or 'all'")
    p.add_argument("--n", type=int, required=True, help="samples (as mmzppo.data.synthetic.generate_suite counts them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="train")
    p.add_argument("--levels", default=None, help="comma-separated difficulty levels (default: the task's own)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("convert", help="convert a benchmark folder into shards")
    shard_options(p)
    progress_option(p)
    p.add_argument("--from", dest="fmt", required=True, choices=sorted(FORMATS), help="source layout")
    p.add_argument("--src", required=True, type=Path, help="source folder (or file); only read")
    p.add_argument("--source", default=None, help="source name for jsonl/videoqa (default: folder name)")
    p.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="FIELD=KEY",
        help="jsonl/videoqa: read Sample FIELD from record KEY (e.g. question=prompt)",
    )
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("inspect", help="print samples and counts of a shard folder")
    progress_option(p)
    p.add_argument("dir", help="shard folder (or shard file / glob)")
    p.add_argument("--n", type=int, default=5, help="samples to print")
    p.add_argument("--check", action="store_true", help="decode every sample to find corrupt media")
    p.add_argument(
        "--vision",
        choices=["none", "default"],
        default="default",
        help="video frames of printed samples: 'default' VisionSettings or every frame",
    )
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
        "build-zppo77k",
        help="build the paper's training set from local Vero-600k and MMFineReason copies",
        description="ZPPO-77K from local copies in the Hugging Face layouts (see README 'Data'). A build "
        "killed midway continues when run again with the same arguments.",
    )
    progress_option(p)
    p.add_argument("--vero", required=True, type=Path, help="Vero-600k folder: <config>/<split>-*.parquet")
    p.add_argument("--mmfinereason", required=True, type=Path, help="MMFineReason folder: data/train-*.parquet")
    p.add_argument("--out", required=True, type=Path, help="new or empty folder (or an unfinished build's)")
    p.add_argument("--recipe", type=Path, default=None, help="recipe YAML (default: the shipped zppo77k.yaml)")
    p.add_argument(
        "--processor",
        default=None,
        help="local model folder whose processor counts prompt tokens (without: no 4,096-token filter)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the capped choices (default: the recipe's)")
    p.add_argument("--caps", default=None, help="override caps per tier, e.g. tier1=2800,tier2=1400")
    p.add_argument("--workers", type=int, default=0, help="processes scanning and writing (0: this one)")
    p.add_argument("--maxcount", type=int, default=500, help="samples per shard")
    p.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="skip (and list in the manifest) parquet files that cannot be read, instead of stopping",
    )
    p.set_defaults(func=cmd_build_zppo77k)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
