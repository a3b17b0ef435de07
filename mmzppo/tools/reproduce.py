"""The evidence: `python -m mmzppo.tools.reproduce [--quick] [--jobs 2]` writes docs/results.md.

ZPPO against GRPO with buffer, GRPO and off-policy distillation, on tiny Qwen3.5 students of
two sizes, several seeds each, every method from the same start with the same budget:

    1  data      the synthetic suite as shards: the image tasks' training split (the RL set:
                 the paper trains on images only), every task's training split (the plain
                 warm-up, and by default the reading examples)
    2  students  per size one start for every method and seed: a tiny random-weight model
                 warmed up on worked solutions, most of them shown as BCQ/NCQ prompts
                 (`mmzppo.tools.warmup`'s reading examples: the analogue of the pre-training that
                 taught the paper's students to use what a prompt shows), then
                 `mmzppo.tools.diagnose` on the RL set: does the start read the candidates (BCQ vs
                 plain accuracy, NCQ repeat rate)? The reading examples cover every task by
                 default; `read_family="disjoint"` keeps them to the video and text tasks (the
                 tiny students then read on those and not on the image tasks: docs/results.md)
    3  cells     method x size x seed: `mmzppo.train` with configs/reproduce.yaml and the
                 method's switches until `rollout_budget` student rollouts (off-policy
                 distillation samples none: it gets as many questions as GRPO), then
                 `mmzppo.eval` on the final checkpoint: the synthetic suite's test split per
                 modality (image in domain; video and text measure transfer) and real items of
                 ../shared/benchdata (the first few of every benchmark found)
    4  report    (`mmzppo.tools.results`) per suite the mean and 95% interval per method
                 (bootstrap over seeds and items), ZPPO minus GRPO with buffer with its
                 interval, the diagnostics, and
                 plots: accuracy per method and size, plain-reward curves, buffer admissions,
                 graduations and evictions, graduations by entry accuracy

Every stage is cached under --out: a cell that finished is not rerun, a cell that stopped
resumes from its last checkpoint, so the grid can be spread over several sittings. --report
only rewrites the report from what exists.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import math
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from mmzppo.data.formats import DEFAULT_BENCHDATA

CONFIGS = Path(__file__).resolve().parent / "configs"  # package data: an installed mmzppo has them too
CONFIG = CONFIGS / "reproduce.yaml"

# row -> overrides of configs/reproduce.yaml (GRPO and GRPO-dagger are switches of ZPPO)
METHODS: dict[str, list[str]] = {
    "zppo": [],
    "grpo_buffer": ["use_bcq=false", "use_ncq=false"],
    "grpo": ["use_bcq=false", "use_ncq=false", "use_buffer=false"],
    "distill_off": ["method=distill_off", "use_buffer=false"],
}
LABELS = {
    "start": "start (no RL)",
    "zppo": "ZPPO",
    "grpo_buffer": "GRPO with buffer",
    "grpo": "GRPO",
    "distill_off": "off-policy distillation",
}
DEFAULT_BUDGET = 1280  # Grid's rollout_budget; cells of other budgets get their own folders and report
SUITES = ("synthetic_image", "synthetic_video", "synthetic_text", "real")


@dataclasses.dataclass(frozen=True)
class Grid:
    """What the command runs. The defaults are the full grid (hours on 2 cores); QUICK fits in
    10 minutes and only shows the machinery."""

    sizes: tuple[str, ...] = ("xs", "s")
    seeds: tuple[int, ...] = (0, 1, 2)
    methods: tuple[str, ...] = tuple(METHODS)
    rollout_budget: int = DEFAULT_BUDGET  # student rollouts per run: 20 GRPO steps of 8 questions x 8
    train_n: int = 40  # training items per task (levels 1-3)
    warmup_steps: int = 1500
    warmup_lr: float = 3e-3
    read_fraction: float = 0.75  # share of each warm-up batch shown as BCQ/NCQ (reading family)
    read_family: str = "all"  # reading examples of every task, or "disjoint": only the video and text tasks
    diag_n: int = 48  # RL-set questions for the diagnostic
    eval_n: int = 12  # synthetic test items per task (levels 1-3)
    real_limit: int = 2  # first items of every benchmark found in ../shared/benchdata (0: none)
    overrides: tuple[str, ...] = ()  # extra key=value for every cell
    config: Path = CONFIG  # the RL settings every cell shares

    @property
    def name(self) -> str:
        return "quick" if dataclasses.replace(self, read_family="all") == QUICK else "full"


QUICK = Grid(
    sizes=("xs",),
    rollout_budget=64,
    train_n=8,
    warmup_steps=40,
    diag_n=6,
    eval_n=2,
    real_limit=0,
    overrides=("prompts_per_step=4", "group_size=4", "max_new_tokens=48", "updates_per_step=2"),
)


# --------------------------------------------------------------------------- 1. data


def grid_config(grid: Grid):
    """The RL config every cell shares (its answer length is also the diagnostic's and the eval's)."""
    from mmzppo.train.config_files import load_config

    return load_config(grid.config, ["student=x", "train_shards=x", *grid.overrides])


def make_data(out: Path, grid: Grid) -> dict[str, Path]:
    """The three training shard sets (written once)."""
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import TASKS, generate_suite

    image = [t for t in TASKS if TASKS[t].modality == "image"]
    other = [t for t in TASKS if TASKS[t].modality != "image"]
    sets = {"rl": image, "warmup": list(TASKS), "read": list(TASKS) if grid.read_family == "all" else other}
    paths = {}
    for name, tasks in sets.items():
        folder = out / "data" / name
        if not (folder / "index.json").is_file():
            samples = generate_suite(tasks, grid.train_n, 0, "train", out / "data" / f"{name}-media", levels=[1, 2, 3])
            write_shards(samples, folder, maxcount=100)
        paths[name] = folder
    return paths


# --------------------------------------------------------------------------- 2. students


def make_student(out: Path, size: str, grid: Grid, data: dict[str, Path]) -> dict:
    """The size's start (warmed up, cached) and its diagnostic (cached)."""
    import torch

    from mmzppo.data.shards import ShardReader
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.policy.loading import load_policy
    from mmzppo.tools.diagnose import candidate_use
    from mmzppo.tools.models import build_tiny
    from mmzppo.tools.warmup import warmup

    folder = out / "students" / size
    if not (folder / "config.json").is_file():
        torch.manual_seed(0)
        policy = load_policy(build_tiny(out / "students" / f"{size}-init", size, seed=0), vision=TINY_VISION)
        plain_items = list(ShardReader(data["warmup"], vision=TINY_VISION))
        reading = list(ShardReader(data["read"], vision=TINY_VISION))
        t0 = time.perf_counter()
        losses = warmup(policy, plain_items, grid.warmup_steps, 8, grid.warmup_lr, 0, reading, grid.read_fraction)
        tmp = folder.with_name(f".{size}.tmp")
        policy.model.save_pretrained(tmp)
        policy.processor.save_pretrained(tmp)
        (tmp / "warmup.json").write_text(
            json.dumps(
                {
                    "steps": grid.warmup_steps,
                    "first_loss": losses[0],
                    "last_loss": float(np.mean(losses[-50:])),
                    "seconds": time.perf_counter() - t0,
                }
            )
        )
        tmp.rename(folder)
    diag_file = folder / "diagnostic.json"
    if not diag_file.is_file():
        policy = load_policy(folder, vision=TINY_VISION)
        questions = list(ShardReader(data["rl"], vision=TINY_VISION))[: grid.diag_n]
        tokens = grid_config(grid).max_new_tokens
        diag = candidate_use(policy, questions, group_size=8, max_new_tokens=tokens, seed=0)
        diag_file.write_text(json.dumps(dataclasses.asdict(diag), indent=1))
    return {"size": size, "path": str(folder), **json.loads(diag_file.read_text())}


# --------------------------------------------------------------------------- 3. cells


def cell_name(method: str, size: str, seed: int, budget: int = DEFAULT_BUDGET) -> str:
    return f"{method}-{size}-seed{seed}" + ("" if budget == DEFAULT_BUDGET else f"-budget{budget}")


def report_stem(grid: Grid) -> str:
    """results (the default budget) or results-budget<B>: the report's file and plot folder."""
    return "results" if grid.rollout_budget == DEFAULT_BUDGET else f"results-budget{grid.rollout_budget}"


def cell_overrides(
    method: str, size: str, seed: int, grid: Grid, out: Path, data: dict[str, Path], runs: Path | None = None
) -> list[str]:
    """configs/reproduce.yaml's overrides for one cell (its run folder in `runs`, default <out>/runs)."""
    from mmzppo.train.config_files import load_config

    base = [
        f"student={out / 'students' / size}",
        f"train_shards={data['rl']}",
        f"output_dir={runs or out / 'runs'}",
        f"name={cell_name(method, size, seed, grid.rollout_budget)}",
        f"seed={seed}",
        *grid.overrides,
    ]
    if method == "distill_off":  # no student rollouts: the questions GRPO sees for the budget
        c = load_config(grid.config, base)
        return [*base, *METHODS[method], f"steps={max(1, grid.rollout_budget // (c.prompts_per_step * c.group_size))}"]
    return [*base, *METHODS[method], f"rollout_budget={grid.rollout_budget}"]


def eval_benchmarks(grid: Grid) -> dict:
    """The synthetic suite at the training levels and `eval_n` items per task, plus every
    real benchmark (its data found or not: missing ones are listed as missing)."""
    from mmzppo.eval import load_benchmarks

    out = {}
    for name, b in load_benchmarks().items():
        if b.suite == "synthetic":
            out[name] = dataclasses.replace(b, options={**b.options, "n": grid.eval_n, "levels": [1, 2, 3]})
        elif grid.real_limit:
            out[name] = b
    return out


def evaluate_model(model: Path, folder: Path, grid: Grid) -> dict[str, dict[str, float]]:
    """suite -> item uid -> score, greedy, at the training's answer length and tiny vision."""
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.eval import EvalConfig, evaluate

    benches = eval_benchmarks(grid)
    scores: dict[str, dict[str, float]] = {}
    for suite, limit in (("synthetic", None), ("all", grid.real_limit)):
        if suite == "all" and not grid.real_limit:
            continue
        chosen = {k: b for k, b in benches.items() if (b.suite == "synthetic") == (suite == "synthetic")}
        cfg = EvalConfig(
            model=str(model),
            data_root=shared_benchdata(),
            output=folder / suite,
            suite="all",
            limit=limit,
            resume=True,
            max_new_tokens=grid_config(grid).max_new_tokens,
            batch_size=64,
            greedy=True,
            vision=TINY_VISION,
            progress=None,
        )
        with contextlib.redirect_stdout(io.StringIO()):  # its summary table is in <folder>/summary.md
            evaluate(cfg, chosen)
        for log in sorted((folder / suite).glob("*.samples.jsonl")):
            bench = log.name.removesuffix(".samples.jsonl")
            key = bench if suite == "synthetic" else "real"
            for line in log.read_text().splitlines():
                r = json.loads(line)
                if r.get("score") is not None:
                    scores.setdefault(key, {})[f"{bench}/{r['uid']}"] = float(r["score"])
    return scores


def shared_benchdata() -> Path | None:
    root = DEFAULT_BENCHDATA
    return root if root.is_dir() else None


def run_cell(
    method: str, size: str, seed: int, grid: Grid, out: Path, data: dict[str, Path], runs: Path | None = None
) -> dict:
    """Train (or resume) one cell and evaluate its final checkpoint (cached in result.json)."""
    from mmzppo.train.config_files import load_config
    from mmzppo.train.loop import Trainer, latest_checkpoint

    config = load_config(grid.config, cell_overrides(method, size, seed, grid, out, data, runs))
    result_file = config.run_dir / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    t0 = time.perf_counter()
    Trainer(config, resume=latest_checkpoint(config.run_dir) is not None).train()
    seconds = time.perf_counter() - t0
    scores = evaluate_model(latest_checkpoint(config.run_dir), config.run_dir / "eval", grid)
    rows = [json.loads(x) for x in (config.run_dir / "metrics.jsonl").read_text().splitlines()]
    result = {
        "method": method,
        "size": size,
        "seed": seed,
        "steps": len(rows),
        "train_seconds": seconds,
        "run_dir": str(config.run_dir),
        "budget": grid.rollout_budget,
        "student_rollouts": rows[-1].get("rollouts/student_total", 0) if rows else 0,
        "scores": scores,
    }
    result_file.write_text(json.dumps(result))
    return result


def run_start(size: str, grid: Grid, out: Path) -> dict:
    """The start's own evaluation (the 'no RL' row), cached."""
    folder = out / "students" / size
    result_file = folder / "eval_result.json"
    if not result_file.is_file():
        result_file.write_text(
            json.dumps(
                {"method": "start", "size": size, "seed": 0, "scores": evaluate_model(folder, folder / "eval", grid)}
            )
        )
    return json.loads(result_file.read_text())


def _job(fn, *args):
    """One unit of work in a worker process: one torch thread (2-core machines: 2 workers)."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    return fn(*args)


def parallel_map(calls: list[tuple], jobs: int, on_result=None) -> list:
    """Run `(fn, *args)` calls, `jobs` at a time in spawned worker processes with one torch
    thread each (in this process when jobs is 1); results in call order, `on_result(i, r)`
    as each one is collected."""
    results = []
    if jobs <= 1:
        for i, (fn, *args) in enumerate(calls, 1):
            results.append(_job(fn, *args))
            on_result and on_result(i, results[-1])
        return results
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_job, fn, *args) for fn, *args in calls]
        try:
            for i, f in enumerate(futures, 1):
                results.append(f.result())
                on_result and on_result(i, results[-1])
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
        + [(run_cell, m, size, seed, grid, out, data) for seed in grid.seeds for m in grid.methods]
        for size in grid.sizes
    }
    total = sum(len(c) for c in size_calls.values())
    students, results = {}, []

    def show(r: dict) -> None:
        acc = {k: _mean(v.values()) for k, v in r["scores"].items()}
        shown = " ".join(f"{k.removeprefix('synthetic_')} {v:.3f}" for k, v in sorted(acc.items()))
        print(f"[{len(results)}/{total}] {r['method']} {r['size']} seed {r['seed']}: {shown}", flush=True)

    def got_student(s: dict) -> None:
        students[s["size"]] = s
        print(f"start {s['size']}: {_diag_line(s)}", flush=True)

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


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else math.nan


def _diag_line(d: dict) -> str:
    return (
        f"{d['hard']}/{d['questions']} hard; plain {d['plain_hard']:.3f}, BCQ {d['bcq']:.3f} "
        f"(wrong candidate's answer {d['bcq_took_wrong']:.3f}), NCQ {d['ncq']:.3f} "
        f"(repeats a listed wrong answer {d['ncq_repeat']:.3f})"
    )


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
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--methods", default=None, help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--budget", type=int, default=None, help="student rollouts per RL run")
    parser.add_argument(
        "--read-family",
        choices=["all", "disjoint"],
        default="all",
        help="reading examples of every task, or only of the video and text tasks",
    )
    parser.add_argument("--diagnose-only", action="store_true", help="stop after the starts and their diagnostics")
    parser.add_argument("--report", action="store_true", help="only rewrite the report from the finished cells")
    args = parser.parse_args(argv)
    grid = dataclasses.replace(QUICK if args.quick else Grid(), read_family=args.read_family)
    for key, value in (("sizes", args.sizes), ("seeds", args.seeds), ("methods", args.methods)):
        if value:
            items = tuple(int(v) if key == "seeds" else v for v in value.split(","))
            bad = [v for v in items if key == "methods" and v not in METHODS]
            if bad:
                sys.exit(f"--methods: unknown {bad}; choose from {', '.join(METHODS)}")
            grid = dataclasses.replace(grid, **{key: items})
    if args.budget:
        grid = dataclasses.replace(grid, rollout_budget=args.budget)
    default = "reproduce" + ("-quick" if args.quick else "") + ("-disjoint" if args.read_family == "disjoint" else "")
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
    if args.diagnose_only:
        data = make_data(out, grid)
        for s in parallel_map([(make_student, out, size, grid, data) for size in grid.sizes], args.jobs):
            print(f"start {s['size']} (reading examples: {grid.read_family}): {_diag_line(s)}")
        return
    if args.report:
        students, results = collect(out, grid)
    else:
        students, results = run_grid(out, grid, args.jobs)
    from mmzppo.tools.results import report

    md = report(out, grid, students, results, docs, command)
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
        return r["method"] in grid.methods and r["seed"] in grid.seeds and budget == grid.rollout_budget

    return students, [r for r in results if keep(r)]


if __name__ == "__main__":
    main()
