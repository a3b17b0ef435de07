"""The evidence: `python -m mmzppo.tools.reproduce [--quick] [--jobs 2]` writes docs/results.md.

ZPPO against GRPO with buffer, GRPO and off-policy distillation, on tiny Qwen3.5 students of
two sizes, several seeds each, every method from the same start with the same budget:

    1  data      the synthetic suite as shards: every task's training split (the plain
                 warm-up, and by default the reading examples), and the RL set: the image
                 tasks' training split (the paper trains on images only) or, with
                 `--regime text`, the text tasks' at levels 2-4 (grid.MAIN); RL items are
                 drawn from another seed and none is a warm-up item, by uid or by content
                 (`mmzppo.tools.disjoint`; test items are checked too)
    2  students  per size one start for every method and seed (`--regime smollm2`: the real
                 SmolLM2-135M-Instruct, text only, grid.SMOLLM2): a tiny random-weight model
                 warmed up on worked solutions, most of them shown as BCQ/NCQ prompts
                 (`mmzppo.tools.warmup`'s reading examples: the analogue of the pre-training that
                 taught the paper's students to use what a prompt shows); with `--regime text`
                 the shipped xs continued on BCQs of a fresh reading set (grid.MAIN), then
                 `mmzppo.tools.diagnose` on the RL set: does the start read the candidates (BCQ vs
                 plain accuracy, NCQ repeat rate)? The reading examples cover every task by
                 default; `read_family="disjoint"` keeps them to the video and text tasks (the
                 tiny students then read on those and not on the image tasks: docs/results-image.md)
    3  cells     method x size x seed: `mmzppo.train` with configs/reproduce.yaml (package
                 data, in mmzppo/tools/configs/) and the method's switches until
                 `rollout_budget` student rollouts (off-policy distillation samples none: it
                 gets as many questions as GRPO), then
                 `mmzppo.eval` on the final checkpoint: the synthetic suite's test split per
                 modality (image in domain; video and text measure transfer) and real items of
                 ../shared/benchdata (the first few of every benchmark found)
    4  report    (`mmzppo.tools.results`) per suite the mean and 95% interval per method
                 (bootstrap over seeds and items), ZPPO minus GRPO with buffer with its
                 interval at equal rollouts and at equal steps (`stages.equal_steps`), the
                 diagnostics, the mechanism, and
                 plots: accuracy per method and size, plain-reward curves, buffer admissions,
                 graduations and evictions, graduations by entry accuracy

Every stage is cached under --out: a cell that finished is not rerun, a cell that stopped
resumes from its last checkpoint, so the grid can be spread over several sittings; a cell
folder holding a run of other settings (a grid changed since, e.g. `--set lr=...`) is refused
with the keys that differ, never resumed or reused. --report only rewrites the report from
what exists.

What a grid runs and the names of its cells are `mmzppo.tools.grid`'s; stages 1-3 are
`mmzppo.tools.stages`'s, stage 4 `mmzppo.tools.results`'s; this module runs them (in worker
processes with --jobs) and is the command.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

from mmzppo.tools.grid import DEFAULT_BUDGET, MAIN, METHODS, QUICK, SMOLLM2, Grid
from mmzppo.tools.results import report
from mmzppo.tools.stages import diag_line, equal_steps, make_data, make_student, mean, run_cell, run_start


def _job(fn, *args):
    """One unit of work in a worker process: one torch thread (2-core machines: 2 workers)."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    return fn(*args)


def parallel_map(calls: list[tuple], jobs: int) -> list:
    """Run `(fn, *args)` calls, `jobs` at a time in spawned worker processes with one torch
    thread each (in this process when jobs is 1); results in call order."""
    if jobs <= 1:
        return [_job(fn, *args) for fn, *args in calls]
    results = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_job, fn, *args) for fn, *args in calls]
        try:
            for f in futures:
                results.append(f.result())
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return results


def run_grid(out: Path, grid: Grid, jobs: int) -> tuple[list[dict], list[dict]]:
    """Every size's start, then its cells; with jobs > 1 a size's cells start as soon as its
    start is ready (the larger start keeps warming up meanwhile)."""
    data = make_data(out, grid)
    size_calls = {
        size: [(run_start, size, grid, out)]
        + [
            (run_cell, m, size, seed, grid, out, data)
            for seed in grid.seeds
            for m in grid.methods
            if seed in grid.seeds_of(m)
        ]
        for size in grid.sizes
    }
    total = sum(len(c) for c in size_calls.values())
    students, results = {}, []

    def show(r: dict) -> None:
        acc = {k: mean(v.values()) for k, v in r["scores"].items()}
        shown = " ".join(f"{k.removeprefix('synthetic_')} {v:.3f}" for k, v in sorted(acc.items()))
        print(f"[{len(results)}/{total}] {r['method']} {r['size']} seed {r['seed']}: {shown}", flush=True)

    def got_student(s: dict) -> None:
        students[s["size"]] = s
        print(f"start {s['size']}: {diag_line(s)}", flush=True)

    if jobs <= 1:
        for size in grid.sizes:
            got_student(_job(make_student, out, size, grid, data))
            for fn, *args in size_calls[size]:
                results.append(_job(fn, *args))
                show(results[-1])
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            pending = {pool.submit(_job, make_student, out, size, grid, data): "student" for size in grid.sizes}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        kind = pending.pop(f)
                        r = f.result()
                        if kind == "student":
                            got_student(r)
                            pending.update({pool.submit(_job, *c): "cell" for c in size_calls[r["size"]]})
                        else:
                            results.append(r)
                            show(r)
            except BaseException:
                for f in pending:
                    f.cancel()
                raise
    return [students[s] for s in grid.sizes if s in students], results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.tools.reproduce", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 size, tiny budget: about 10 minutes on 2 cores")
    parser.add_argument(
        "--out", type=Path, default=None, help="cache of every stage (default .cache/mmzppo/reproduce[-quick])"
    )
    parser.add_argument(
        "--docs", type=Path, default=None, help="where results.md goes (default docs/, --quick: the --out folder)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="cells run in parallel, one torch thread each (2 on 2 cores)"
    )
    parser.add_argument("--sizes", default=None, help="comma-separated subset of the grid's sizes")
    parser.add_argument(
        "--seeds",
        default=None,
        help="comma-separated seeds (default 0,1,2; --regime text: 0-4 for ZPPO and GRPO with buffer, "
        "the first 3 of them for the others)",
    )
    parser.add_argument("--methods", default=None, help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument(
        "--budget",
        type=int,
        default=None,
        help="student rollouts per RL run (0: no budget, the runs end after `steps`: equal optimizer steps)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a run-config override for every cell (e.g. lr=3e-4, steps=17); use its own --out (its "
        "report gets its own file: docs/results-lr3e-4.md)",
    )
    parser.add_argument(
        "--read-family",
        choices=["all", "disjoint", "rl"],
        default=None,
        help="reading examples of every task, only of the video and text tasks, or of the RL family's "
        "(default: the grid's: all, --regime text: rl)",
    )
    parser.add_argument(
        "--regime",
        choices=["image", "text", "smollm2"],
        default="image",
        help="RL on the image tasks (the paper's), on the text tasks at levels 2-4 (grid.MAIN), or the "
        "same text RL from the real SmolLM2-135M (grid.SMOLLM2)",
    )
    parser.add_argument(
        "--data-only", action="store_true", help="stop after writing the shards (<out>/data: rl, warmup, read)"
    )
    parser.add_argument(
        "--start",
        type=Path,
        default=None,
        help="use this model folder as the start of the one size given (e.g. mmzppo/tools/starts/xs) "
        "instead of warming one up",
    )
    parser.add_argument("--diagnose-only", action="store_true", help="stop after the starts and their diagnostics")
    parser.add_argument("--report", action="store_true", help="only rewrite the report from the finished cells")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else {"text": MAIN, "smollm2": SMOLLM2}.get(args.regime, Grid())
    grid = dataclasses.replace(base, read_family=args.read_family or base.read_family)
    for key, value in (("sizes", args.sizes), ("seeds", args.seeds), ("methods", args.methods)):
        if value:
            items = tuple(int(v) if key == "seeds" else v for v in value.split(","))
            bad = [v for v in items if key == "methods" and v not in METHODS]
            if bad:
                sys.exit(f"--methods: unknown {bad}; choose from {', '.join(METHODS)}")
            grid = dataclasses.replace(grid, **{key: items})
    if args.budget is not None:
        grid = dataclasses.replace(grid, rollout_budget=args.budget)
    if args.set:  # the report gets its own file (grid.report_stem): e.g. results-lr3e-4.md
        variant = "-".join(re.sub(r"[^A-Za-z0-9_.-]", "", o) for o in args.set)
        grid = dataclasses.replace(grid, overrides=(*grid.overrides, *args.set), variant=variant)
    default = (
        "reproduce"
        + ("-quick" if args.quick else "")
        + ("" if args.regime == "image" else f"-{args.regime}")
        + ("-disjoint" if args.read_family == "disjoint" else "")
    )
    out = (args.out or Path(".cache") / "mmzppo" / default).resolve()
    docs = args.docs or (out if args.quick else Path("docs"))
    out.mkdir(parents=True, exist_ok=True)
    shown = list(argv if argv is not None else sys.argv[1:])
    for flag, takes_value in (("--report", False), ("--jobs", True)):  # how, not what, the grid ran
        while flag in shown:
            i = shown.index(flag)
            del shown[i : i + 1 + takes_value]
    command = " ".join(["python -m mmzppo.tools.reproduce", *shown])
    t0 = time.perf_counter()
    if args.start:  # copied in as the size's start, unless the cache has one
        if len(grid.sizes) != 1 or not (args.start / "config.json").is_file():
            sys.exit(f"--start: a model folder and one size (--sizes xs); got {args.start}, sizes {grid.sizes}")
        target = out / "students" / grid.sizes[0]
        if not (target / "config.json").is_file():
            shutil.copytree(args.start, target)
    if args.data_only:
        data = make_data(out, grid)
        print(f"wrote {', '.join(str(p) for p in data.values())}: {(out / 'data' / 'disjoint.json').read_text()}")
        return
    if args.diagnose_only:
        data = make_data(out, grid)
        for s in parallel_map([(make_student, out, size, grid, data) for size in grid.sizes], args.jobs):
            print(f"start {s['size']} (reading examples: {grid.read_family}): {diag_line(s)}")
        return
    if args.report:
        students, results = collect(out, grid)
    else:
        students, results = run_grid(out, grid, args.jobs)
    equal = []  # GRPO with buffer at ZPPO's step count, where its run kept that checkpoint
    if {"zppo", "grpo_buffer"} <= set(grid.methods):
        calls = [(equal_steps, size, seed, grid, out, not args.report) for size in grid.sizes for seed in grid.seeds]
        equal = [r for r in parallel_map(calls, args.jobs) if r is not None]
    md = report(out, grid, students, results, docs, command, equal)
    print(f"wrote {md} ({len(results)} evaluated runs, {time.perf_counter() - t0:.0f} s)")


def collect(out: Path, grid: Grid) -> tuple[list[dict], list[dict]]:
    """What finished so far (for --report)."""
    students = []
    for size in grid.sizes:
        f = out / "students" / size / "diagnostic.json"
        if f.is_file():
            students.append({"size": size, "path": str(f.parent), **json.loads(f.read_text())})
    results = [json.loads(f.read_text()) for f in sorted(out.glob("students/*/eval_result.json"))]
    results += [json.loads(f.read_text()) for f in sorted(out.glob("runs/*/result.json"))]

    def keep(r: dict) -> bool:
        if r["size"] not in grid.sizes:
            return False
        if r["method"] == "start":
            return True
        budget = r.get("budget", DEFAULT_BUDGET)
        return r["method"] in grid.methods and r["seed"] in grid.seeds_of(r["method"]) and budget == grid.rollout_budget

    return students, [r for r in results if keep(r)]


if __name__ == "__main__":
    main()
