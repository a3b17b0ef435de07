"""The report of `python -m mmzppo.tools.reproduce`: docs/results.md and its plots from the grid's
finished cells (bootstrap intervals over seeds and items, the ZPPO minus GRPO-with-buffer
difference, the starts' diagnostics, the runs)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from mmzppo.tools.grid import LABELS, SUITES, Grid, cell_name, grid_config, report_stem


def bootstrap(runs: list[dict[str, float]], n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean accuracy over runs (seeds) and items, with a 95% interval: each draw resamples
    the seeds, then the items (the same items for every seed)."""
    items = sorted(set().union(*runs)) if runs else []
    if not items:
        return math.nan, math.nan, math.nan
    m = np.array([[r.get(i, np.nan) for i in items] for r in runs])
    rng = np.random.default_rng(seed)
    draws = np.empty(n)
    for b in range(n):
        s = rng.integers(0, m.shape[0], m.shape[0])
        j = rng.integers(0, m.shape[1], m.shape[1])
        draws[b] = np.nanmean(m[np.ix_(s, j)])
    return float(np.nanmean(m)), *np.percentile(draws, [2.5, 97.5]).tolist()


def bootstrap_difference(a: list[dict[str, float]], b: list[dict[str, float]], n: int = 2000, seed: int = 0):
    """Mean(a) - mean(b) with a 95% interval: items resampled jointly (paired), the seeds of
    each method resampled on their own."""
    items = sorted(set().union(*a, *b)) if a and b else []
    if not items:
        return math.nan, math.nan, math.nan
    ma = np.array([[r.get(i, np.nan) for i in items] for r in a])
    mb = np.array([[r.get(i, np.nan) for i in items] for r in b])
    rng = np.random.default_rng(seed)
    draws = np.empty(n)
    for k in range(n):
        j = rng.integers(0, len(items), len(items))
        sa, sb = rng.integers(0, len(a), len(a)), rng.integers(0, len(b), len(b))
        draws[k] = np.nanmean(ma[np.ix_(sa, j)]) - np.nanmean(mb[np.ix_(sb, j)])
    return float(np.nanmean(ma) - np.nanmean(mb)), *np.percentile(draws, [2.5, 97.5]).tolist()


def _cell(mean: float, lo: float, hi: float) -> str:
    return "-" if math.isnan(mean) else f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def report(out: Path, grid: Grid, students: list[dict], results: list[dict], docs: Path, command: str) -> Path:
    """docs/results.md and its plots, every number from `results`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from mmzppo.tools.plot import figure

    stem = report_stem(grid)
    figs = docs / stem
    figs.mkdir(parents=True, exist_ok=True)
    by = {}
    for r in results:
        by.setdefault((r["method"], r["size"]), []).append(r)
    rows_methods = ["start", *grid.methods]
    lines = [
        f"# Results: ZPPO against its baselines at tiny scale ({grid.name} grid)",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')}; every number below comes from it. "
        "Rerunning the command reuses what is cached under its `--out` folder.",
        "",
        "## Setup",
        "",
        *setup_lines(grid),
        "",
        "## Does the start read the candidates?",
        "",
        "`mmzppo.tools.diagnose` on the start of each size (the same start for every method and seed), on "
        f"{grid.diag_n} questions of the RL set, 8 rollouts each at temperature 1; hard = plain accuracy "
        "< 0.5 with a wrong rollout. Accuracies are over the rollouts on the hard questions.",
        "",
        "| size | hard questions | plain | BCQ | BCQ ends on the wrong candidate's answer | NCQ | NCQ repeats a listed wrong answer |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in students:
        lines.append(
            f"| {s['size']} | {s['hard']}/{s['questions']} | {s['plain_hard']:.3f} | {s['bcq']:.3f} | "
            f"{s['bcq_took_wrong']:.3f} | {s['ncq']:.3f} | {s['ncq_repeat']:.3f} |"
        )
    lines += [
        "",
        "## Accuracy per suite",
        "",
        "Greedy accuracy, mean over seeds and items, with the 95% bootstrap interval (seeds and items "
        "resampled). `start` is the common start, evaluated once.",
        "",
    ]
    stats = {}
    for suite in SUITES:
        present = [r for r in results if suite in r["scores"]]
        if not present:
            continue
        lines += [
            f"### {suite}",
            "",
            "| method | " + " | ".join(grid.sizes) + " |",
            "|---|" + "---:|" * len(grid.sizes),
        ]
        for m in rows_methods:
            cells = []
            for size in grid.sizes:
                runs = [r["scores"].get(suite, {}) for r in by.get((m, size), [])]
                stats[(suite, m, size)] = bootstrap(runs) if runs else (math.nan,) * 3
                n = len(runs)
                cells.append(_cell(*stats[(suite, m, size)]) + (f" (n={n})" if m != "start" else ""))
            lines.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
        lines.append("")
    if "zppo" in grid.methods and "grpo_buffer" in grid.methods:
        lines += [
            "## ZPPO minus GRPO with buffer",
            "",
            "Mean difference with its 95% bootstrap interval (items paired, seeds resampled per method).",
            "",
            "| suite | " + " | ".join(grid.sizes) + " |",
            "|---|" + "---:|" * len(grid.sizes),
        ]
        for suite in SUITES:
            cells = []
            for size in grid.sizes:
                a = [r["scores"].get(suite, {}) for r in by.get(("zppo", size), [])]
                b = [r["scores"].get(suite, {}) for r in by.get(("grpo_buffer", size), [])]
                cells.append(_cell(*bootstrap_difference(a, b)) if a and b else "-")
            if any(c != "-" for c in cells):
                lines.append(f"| {suite} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Runs",
        "",
        "| method | size | seed | steps | student rollouts | train seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in sorted((r for r in results if r["method"] != "start"), key=lambda r: (r["size"], r["method"], r["seed"])):
        lines.append(
            f"| {LABELS[r['method']]} | {r['size']} | {r['seed']} | {r['steps']} | "
            f"{r['student_rollouts']} | {r['train_seconds']:.0f} |"
        )

    # plots: accuracy per method and size; curves and buffer panels per size (seed 0 of each method)
    fig = Figure(figsize=(4.5 * len(SUITES), 4), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, suite in zip(fig.subplots(1, len(SUITES)), SUITES):
        width = 0.8 / len(rows_methods)
        for k, m in enumerate(rows_methods):
            xs, ys, err = [], [], [[], []]
            for i, size in enumerate(grid.sizes):
                mean, lo, hi = stats.get((suite, m, size), (math.nan,) * 3)
                xs.append(i + (k - (len(rows_methods) - 1) / 2) * width)
                ys.append(mean)
                err[0].append(0 if math.isnan(mean) else mean - lo)
                err[1].append(0 if math.isnan(mean) else hi - mean)
            ax.bar(xs, ys, width, yerr=err, capsize=2, label=LABELS[m], color=f"C{k}")
        ax.set_xticks(range(len(grid.sizes)), grid.sizes)
        ax.set_title(suite)
        ax.set_ylabel("greedy accuracy")
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=len(rows_methods))
    fig.savefig(figs / "accuracy.png", dpi=110)
    lines += ["", "## Plots", "", f"![accuracy per method and size]({stem}/accuracy.png)", ""]
    for size in grid.sizes:
        seed = grid.seeds[0]
        dirs = [out / "runs" / cell_name(m, size, seed, grid.rollout_budget) for m in grid.methods]
        dirs = [d for d in dirs if (d / "metrics.jsonl").is_file()]
        if dirs:
            figure(dirs, [LABELS[d.name.rsplit(f"-{size}-", 1)[0]] for d in dirs]).savefig(
                figs / f"runs_{size}.png", dpi=80
            )
            lines += [
                f"Size `{size}`, seed {seed}: rewards per kind, groups, buffer admissions, graduations and "
                "evictions, and graduations by entry accuracy (the paper's mechanism figure), per method "
                "(`mmzppo.tools.plot`'s panels):",
                "",
                f"![runs of size {size}]({stem}/runs_{size}.png)",
                "",
            ]
    md = docs / f"{stem}.md"
    md.write_text("\n".join(lines) + "\n" + notes_text(docs, stem))
    (figs / "results.json").write_text(
        json.dumps({"grid": dataclasses.asdict(grid), "students": students, "results": results}, indent=1, default=str)
    )
    return md


def setup_lines(grid: Grid) -> list[str]:
    c = grid_config(grid)
    return [
        f"- Students: tiny Qwen3.5 (`mmzppo.policy.loading`) of sizes {', '.join(grid.sizes)}, one start per size: "
        f"{grid.warmup_steps} warm-up steps (batch 8, lr {grid.warmup_lr}) on the worked solutions of every "
        f"task's training split ({grid.train_n} items per task, levels 1-3), {grid.read_fraction:.0%} of each "
        "batch shown as a BCQ or NCQ (`mmzppo.tools.warmup`'s reading examples) of "
        + ("every task" if grid.read_family == "all" else "the video and text tasks only")
        + ".",
        "- RL set: the 4 image tasks' training split (the paper trains on images only); teacher: the reference "
        "solutions (a deviation: always right, no teacher model).",
        f"- Every RL run: a budget of {grid.rollout_budget} student rollouts (plain, BCQ and NCQ alike; a run stops "
        f"at the first step that reaches it), {c.prompts_per_step} "
        f"new questions a step, G_S {c.group_size}, {c.max_new_tokens}-token answers, I = {c.updates_per_step}, "
        f"lr {c.lr:g}; off-policy distillation samples no student rollouts and gets as many questions as GRPO "
        f"({grid.rollout_budget // (c.prompts_per_step * c.group_size)} steps). Seeds {', '.join(map(str, grid.seeds))} "
        "vary the RL run (data order, sampling), not the start.",
        f"- Evaluation: `mmzppo.eval`, greedy, {c.max_new_tokens} new tokens, tiny vision budgets; the synthetic "
        f"suite's test split at levels 1-3 ({grid.eval_n} items per task; never trained on)"
        + (
            f"; `real`: the first {grid.real_limit} items of every benchmark found in ../shared/benchdata, "
            "all suites pooled"
            if grid.real_limit
            else ""
        )
        + ".",
    ]


def notes_text(docs: Path, stem: str = "results") -> str:
    """The hand-written reading of the numbers, kept in docs/<stem>_notes.md (so a rerun of
    the command does not erase it; it names the run it was written for)."""
    notes = docs / f"{stem}_notes.md"
    return "\n" + notes.read_text() if notes.is_file() else ""
