"""The stages of the method comparison, each cached under its `out` folder so that the grid
can be spread over several sittings: the training shards (`make_data`), a size's start and
its diagnostic (`make_student`), one cell trained and evaluated (`run_cell`) and the start's
own evaluation (`run_start`). `mmzppo.tools.reproduce` runs them over the grid, the demo
for one size and one seed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import time
from pathlib import Path

import numpy as np

from mmzppo.data.formats import DEFAULT_BENCHDATA
from mmzppo.tools.grid import METHODS, Grid, cell_name, grid_config

# --------------------------------------------------------------------------- 1. data


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


def diag_line(d: dict) -> str:
    """A start's diagnostic (`make_student`'s result) in one line."""
    return (
        f"{d['hard']}/{d['questions']} hard; plain {d['plain_hard']:.3f}, BCQ {d['bcq']:.3f} "
        f"(wrong candidate's answer {d['bcq_took_wrong']:.3f}), NCQ {d['ncq']:.3f} "
        f"(repeats a listed wrong answer {d['ncq_repeat']:.3f})"
    )


# --------------------------------------------------------------------------- 3. cells


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
    """../shared/benchdata (or $MMZPPO_SHARED/benchdata) where it exists."""
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


def mean(xs) -> float:
    """The mean of an iterable (NaN when empty)."""
    xs = list(xs)
    return sum(xs) / len(xs) if xs else math.nan
