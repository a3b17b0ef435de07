"""The built-in demo: `python -m mmzppo.tools.demo` (offline, CPU, under 10 minutes on 2 cores).

ZPPO against GRPO with buffer, from the same tiny student, for the same student-rollout budget,
in the main regime of the method comparison (`grid.MAIN`: RL on the text tasks at levels 2-4,
where checking a worked solution is easier than writing one); one seed of
`python -m mmzppo.tools.reproduce --regime text`, whose functions it calls:

1. writes the synthetic suite as WebDataset shards: every task's training split (the plain
   warm-up), the reading examples' items and the RL set (other items: none of them a warm-up,
   reading or test item by uid or content),
2. takes the start: a tiny Qwen3.5 (`xs`) warmed up on worked solutions and then on reading
   examples (BCQs), and measures whether it reads the candidates (`mmzppo.tools.diagnose`:
   BCQ vs plain accuracy on its hard questions),
3. trains ZPPO and GRPO with buffer from that start (configs/demo.yaml, package data in
   mmzppo/tools/configs/; the reference solutions as the teacher), in two processes side by
   side when two cores are idle,
4. prints greedy accuracy on the held-out test split per modality (text in the training
   domain; image and video measure transfer) for the start and both runs, the mechanism
   (BCQ/NCQ groups and rewards, buffer admissions and graduations by entry accuracy), one
   BCQ prompt as the student saw it, and writes a plot of both runs' curves
   (`runs/demo/comparison.png`).

The start ships with the package (mmzppo/tools/starts/xs-read: float32 weights and the tokenizer),
because its warm-up (the shipped image-regime start mmzppo/tools/starts/xs, then 1,000 reading
steps) takes longer than the whole demo may. It is the xs start of
`python -m mmzppo.tools.reproduce --regime text --sizes xs --diagnose-only`, written with
`--export-start`; `--rebuild-start` warms one up here instead.

`--quick` shrinks every stage (used by the tests; it always builds its own small start).
Extra `key=value` arguments override the run config, e.g. `lr=3e-4`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mmzppo.data.formats import read_jsonl
from mmzppo.tools.grid import CONFIGS, MAIN, QUICK, RL_FAMILIES, SHIPPED_START
from mmzppo.tools.reproduce import parallel_map
from mmzppo.tools.stages import diag_line, make_data, make_student, mean, run_cell, run_start

DEMO = dataclasses.replace(
    MAIN,
    sizes=("xs",),
    seeds=(0,),
    methods=("zppo", "grpo_buffer"),
    rollout_budget=1280,
    eval_n=12,
    eval_samples=0,
    diag_n=96,  # the shipped start carries its diagnostic (grid.MAIN's)
    real_limit=0,
    panel_n=8,  # a small panel: the demo has 10 minutes
    panel_k=8,
    config=CONFIGS / "demo.yaml",
    overrides=("prompts_per_step=16", "lr=3e-4"),
)
DEMO_QUICK = dataclasses.replace(
    QUICK, seeds=(0,), methods=("zppo", "grpo_buffer"), config=DEMO.config, rl_family="text", rl_levels=(2, 3, 4)
)
READING_START = SHIPPED_START.with_name("xs-read")  # package data: the demo's (the main regime's) start
MODALITIES = ("image", "video", "text")
NAMES = {"zppo": "ZPPO", "grpo_buffer": "GRPO with buffer"}


def run_counts(run_dir: Path) -> str:
    """A run's counts in two lines: steps, rollouts, rewards per kind; the buffer by entry accuracy."""
    rows = list(read_jsonl(run_dir / "metrics.jsonl"))
    k = max(1, len(rows) // 4)
    first = mean(r["reward/plain_mean"] for r in rows[:k])
    last = mean(r["reward/plain_mean"] for r in rows[-k:])
    by_kind = {
        kind: (
            sum(r.get(f"groups/{kind}", 0) for r in rows),
            [r[f"reward/{kind}_mean"] for r in rows if r.get(f"groups/{kind}")],
        )
        for kind in ("bcq", "ncq")
    }
    kinds = "; ".join(f"{kind.upper()} groups {n:.0f}, mean reward {mean(rs):.3f}" for kind, (n, rs) in by_kind.items())
    entry = rows[-1].get("buffer/by_entry") or {}
    bins = sorted({key.split("/")[0] for key in entry})
    shown = ", ".join(
        f"{b}: "
        + " / ".join(
            f"{entry.get(f'{b}/{split}/graduated', 0)}/{entry.get(f'{b}/{split}/admitted', 0)} {split}"
            for split in ("reformulated", "plain")
        )
        for b in bins
    )
    return (
        f"{len(rows)} steps, {rows[-1]['rollouts/student_total']:.0f} student rollouts; plain-group reward "
        f"{first:.3f} (first {k}) -> {last:.3f} (last {k}); {kinds}\n  buffer: admitted "
        f"{rows[-1]['buffer/admitted_total']:.0f}, graduated {rows[-1]['buffer/graduated_total']:.0f}; "
        f"graduated/admitted by plain accuracy at entry: {shown or '-'}"
    )


def export_start(src: Path, dst: Path = READING_START) -> Path:
    """Write a start as the package ships it: its float32 weights as trained (4.6 MB for xs), so
    that the diagnostic shipped beside it is the shipped model's, its processor, and how it was
    made (warmup.json)."""
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.policy.loading import load_policy

    policy = load_policy(src, vision=TINY_VISION)
    shutil.rmtree(dst, ignore_errors=True)
    policy.model.save_pretrained(dst)
    policy.processor.save_pretrained(dst)
    for name in ("warmup.json", "diagnostic.json"):  # how it was made, whether it reads (the demo shows it)
        if (Path(src) / name).is_file():
            shutil.copy(Path(src) / name, dst / name)
    return dst


def use_shipped_start(work: Path) -> bool:
    """Copy the shipped start into the cache as the demo's start, unless one is there."""
    target = work / "students" / "xs"
    if (target / "config.json").is_file() or not (READING_START / "config.json").is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(READING_START, target)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.tools.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path(".cache/mmzppo/demo"), help="cache of data and the start")
    parser.add_argument("--output-dir", type=Path, default=Path("runs"), help="the runs go to <output-dir>/demo/")
    parser.add_argument("--quick", action="store_true", help="tiny everything (seconds; for tests)")
    parser.add_argument("--rebuild-start", action="store_true", help="warm the start up here (about 15 min)")
    parser.add_argument(
        "--export-start",
        type=Path,
        metavar="START",
        help="write START as the demo's shipped start (mmzppo/tools/starts/xs-read) and exit",
    )
    parser.add_argument(
        "overrides", nargs="*", help="key=value overrides of the demo's config (mmzppo/tools/configs/demo.yaml)"
    )
    args = parser.parse_args(argv)
    if args.export_start:
        print(f"wrote {export_start(args.export_start)}")
        return
    console = Console()
    start = time.perf_counter()
    import torch

    from mmzppo.policy.threads import idle_cores

    grid = DEMO_QUICK if args.quick else DEMO
    grid = dataclasses.replace(grid, overrides=(*grid.overrides, *args.overrides))
    jobs = 2 if idle_cores(2) >= 1.5 else 1
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)  # every process at the same count: the numbers do not depend on the load
    console.print(
        f"{jobs} run(s) at a time, {threads} torch thread(s) each (OMP_NUM_THREADS; torch's float "
        "sums, and with them the numbers, depend on the count, not on how busy the machine is)"
    )
    work = args.workdir.resolve()
    runs = (args.output_dir / "demo").resolve()

    console.rule("1. synthetic shards")
    data = make_data(work, grid)
    tasks = RL_FAMILIES[grid.rl_family]
    console.print(
        f"RL set: the {grid.rl_family} tasks' training split ({', '.join(tasks)}; levels "
        f"{', '.join(map(str, grid.rl_levels))}); none of them a warm-up, reading or test item"
    )

    console.rule("2. the start: tiny xs, warmed up on worked solutions and reading examples")
    if args.quick or args.rebuild_start:
        if args.rebuild_start:
            shutil.rmtree(work / "students" / "xs", ignore_errors=True)
        console.print(f"warming up {grid.warmup_steps} steps (cached in {work / 'students' / 'xs'}) ...")
    elif use_shipped_start(work):
        console.print(
            f"the start that ships with the package ({READING_START}: {SHIPPED_START.name} and "
            f"{grid.warmup_steps} reading steps; --rebuild-start makes it here)"
        )
    student = make_student(work, "xs", grid, data)
    console.print(f"does it read the candidates? {diag_line(student)}")

    console.rule("3. ZPPO and GRPO with buffer from that start, same budget")
    shutil.rmtree(runs, ignore_errors=True)
    calls = [(run_cell, m, "xs", grid.seeds[0], grid, work, data, runs) for m in grid.methods]
    results = parallel_map([*calls, (run_start, "xs", grid, work)], jobs)  # the runs first: they take longest
    trained, before = {r["method"]: r for r in results[:-1]}, results[-1]

    console.rule("4. results")
    table = Table(
        "modality",
        "items",
        "start",
        *(NAMES[m] for m in grid.methods),
        title=f"greedy accuracy on the held-out synthetic test split, {grid.rollout_budget} student rollouts per run",
    )
    for m in MODALITIES:
        key = f"synthetic_{m}"
        n = len(before["scores"].get(key, {}))
        accs = [mean(before["scores"].get(key, {}).values())]
        accs += [mean(trained[k]["scores"].get(key, {}).values()) for k in grid.methods]
        table.add_row(m, str(n), *(f"{a:.3f}" for a in accs))
    console.print(table)
    for m in grid.methods:
        console.print(f"{NAMES[m]}: {run_counts(Path(trained[m]['run_dir']))}")
    samples = list(read_jsonl(Path(trained["zppo"]["run_dir"]) / "samples.jsonl"))
    shown = next((s for s in samples if s["kind"] == "bcq"), None)
    if shown:
        labels = ", ".join(c["label"] for c in shown["candidates"])
        console.print(f"\na BCQ prompt from step {shown['step']} ({shown['uid']}; candidates in order: {labels}):")
        console.print(shown["prompt"], markup=False, highlight=False)
        console.print(f"student rewards on it: {[r['reward'] for r in shown['responses']]}")
    from mmzppo.tools.plot import figure

    plot = runs / "comparison.png"
    figure([Path(trained[m]["run_dir"]) for m in grid.methods], [NAMES[m] for m in grid.methods]).savefig(plot, dpi=80)
    console.print(f"\nruns: {runs} (metrics.jsonl, samples.jsonl, tb/, checkpoints/, eval/); curves: {plot}")
    console.print(
        "At this scale one seed's differences are mostly noise: `python -m mmzppo.tools.reproduce` runs the "
        "seeds and sizes with intervals (docs/results.md)."
    )
    console.print(f"demo took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
