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

from mmzppo.tools.grid import LABELS, Grid, cell_name, grid_config, report_stem, suites
from mmzppo.tools.intervals import bootstrap, bootstrap_difference
from mmzppo.tools.setup_text import built_lines, setup_lines

DIAG_BASELINES = ("plain_took_wrong", "plain_repeat", "bcq_cut", "correct_cut", "correct_cut_shortest")


def _by_cell(results: list[dict]) -> dict[tuple[str, str], list[dict]]:
    by: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        by.setdefault((r["method"], r["size"]), []).append(r)
    return by


def difference_lines(grid: Grid, zppo: dict, grpo_buffer: dict) -> list[str]:
    """ZPPO minus GRPO with buffer per suite and size (paired bootstrap), then per seed; the runs
    of each from `_by_cell` dicts (the same one, or GRPO with buffer read at ZPPO's step count)."""
    lines = ["| suite | " + " | ".join(grid.sizes) + " |", "|---|" + "---:|" * len(grid.sizes)]
    per_seed = []
    for suite in suites(grid):
        cells = []
        for size in grid.sizes:
            za = {r["seed"]: r["scores"].get(suite, {}) for r in zppo.get(("zppo", size), [])}
            gb = {r["seed"]: r["scores"].get(suite, {}) for r in grpo_buffer.get(("grpo_buffer", size), [])}
            shared = sorted(za.keys() & gb.keys())  # seed i of both methods: one pair
            a, b = [za[x] for x in shared], [gb[x] for x in shared]
            cells.append(_cell(*bootstrap_difference(a, b)) if a and b else "-")
            per_seed += [
                f"| {suite} | {size} | {x} | {_mean(za[x]):.3f} | {_mean(gb[x]):.3f} | {_mean(za[x]) - _mean(gb[x]):+.3f} |"
                for x in shared
                if za[x] and gb[x]
            ]
        if any(c != "-" for c in cells):
            lines.append(f"| {suite} | " + " | ".join(cells) + " |")
    return [
        *lines,
        "",
        "Per seed (the pairs the interval resamples):",
        "",
        "| suite | size | seed | ZPPO | GRPO with buffer | difference |",
        "|---|---|---:|---:|---:|---:|",
        *per_seed,
        "",
    ]


def task_of(key: str) -> str:
    """The task of a score key (`<suite or benchmark>/<uid>`): a synthetic item's task from its
    uid (`task_of_uid`), else the benchmark."""
    from mmzppo.data.synthetic import task_of_uid

    prefix, uid = key.split("/", 1)
    return task_of_uid(uid) or prefix


def task_lines(grid: Grid, by: dict) -> list[str]:
    """ZPPO minus GRPO with buffer per task of each greedy synthetic suite (mean over seeds and the
    task's items, then per seed): whether a suite's difference is spread over its tasks or is one
    task's. (The real suite, with 2 items a benchmark, is left out.)"""
    lines = [
        "| suite | size | task | items | start | ZPPO | GRPO with buffer | difference | per seed |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for suite in (s for s in suites(grid) if s.startswith("synthetic_") and "@" not in s):  # real: 2 items a task
        for size in grid.sizes:
            runs = {m: {r["seed"]: r["scores"].get(suite, {}) for r in by.get((m, size), [])} for m in LABELS}
            seeds = sorted(runs["zppo"].keys() & runs["grpo_buffer"].keys())
            if not seeds:
                continue
            start = next(iter(runs["start"].values()), {})
            tasks: dict[str, list[str]] = {}
            for key in runs["zppo"][seeds[0]]:
                tasks.setdefault(task_of(key), []).append(key)
            for task, keys in tasks.items():
                z = [np.mean([runs["zppo"][x].get(k, math.nan) for k in keys]) for x in seeds]
                g = [np.mean([runs["grpo_buffer"][x].get(k, math.nan) for k in keys]) for x in seeds]
                st = f"{np.mean([start[k] for k in keys]):.3f}" if all(k in start for k in keys) else "-"
                lines.append(
                    f"| {suite} | {size} | {task} | {len(keys)} | {st} | {np.mean(z):.3f} | {np.mean(g):.3f} | "
                    f"{np.mean(z) - np.mean(g):+.3f} | " + ", ".join(f"{a - b:+.2f}" for a, b in zip(z, g)) + " |"
                )
    return [*lines, ""]


def _mean(scores: dict[str, float]) -> float:
    return float(np.mean(list(scores.values()))) if scores else math.nan


def _cell(mean: float, lo: float, hi: float) -> str:
    return "-" if math.isnan(mean) else f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def report(
    out: Path,
    grid: Grid,
    students: list[dict],
    results: list[dict],
    docs: Path,
    command: str,
    equal: list[dict] | None = None,
) -> Path:
    """docs/results.md and its plots, every number from `results` (and `equal`: GRPO with buffer
    at ZPPO's step count, `stages.equal_steps`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from mmzppo.tools.plot import figure

    stem = report_stem(grid)
    figs = docs / stem
    figs.mkdir(parents=True, exist_ok=True)
    by = _by_cell(results)
    rows_methods = ["start", *grid.methods]
    lines = [
        f"# Results: ZPPO against its baselines at tiny scale ({grid.name})",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')}; every number below comes from it. "
        "Rerunning the command reuses what is cached under its `--out` folder.",
        "",
        "## Setup",
        "",
        *setup_lines(grid),
        *built_lines(students),
        "",
        "## Does the start read the candidates?",
        "",
        "`mmzppo.tools.diagnose` on the start of each size (the same start for every method and seed), on "
        f"{grid.diag_n} questions of the RL set, 8 rollouts each at temperature 1; hard = plain accuracy "
        "< 0.5 with a wrong rollout. Accuracies are over the rollouts on the hard questions.",
        "",
        "Baselines: how often FRESH plain rollouts on the same questions give the wrong candidate's "
        "answer / a listed wrong answer (the candidates are the student's own answers: likely anyway); "
        "BCQ with the candidates cut to the shorter one's length (the former fallback); and how often "
        "the correct candidate lost reasoning to the cap (each capped on its own) and to the former cut.",
        "",
        "| size | hard questions | plain | BCQ | BCQ ends on the wrong candidate's answer (fresh plain) | NCQ | "
        "NCQ repeats a listed wrong answer (fresh plain) | BCQ, cut candidates | correct candidate cut (former cut) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in students:
        g = {k: s.get(k, math.nan) for k in DIAG_BASELINES}  # diagnostics written before the baselines lack them
        lines.append(
            f"| {s['size']} | {s['hard']}/{s['questions']} | {s['plain_hard']:.3f} | {s['bcq']:.3f} | "
            f"{s['bcq_took_wrong']:.3f} ({g['plain_took_wrong']:.3f}) | {s['ncq']:.3f} | "
            f"{s['ncq_repeat']:.3f} ({g['plain_repeat']:.3f}) | {g['bcq_cut']:.3f} | "
            f"{g['correct_cut']:.3f} ({g['correct_cut_shortest']:.3f}) |"
        )
    lines += [
        "",
        "## Accuracy per suite",
        "",
        "Greedy accuracy, mean over seeds and items, with the 95% bootstrap interval (seeds and items "
        "resampled); a suite named `<suite>@k` is sampled accuracy instead (k samples per item at the "
        "evaluation's temperature, an item's score their mean). `start` is the common start, evaluated once.",
        "",
    ]
    stats = {}
    for suite in suites(grid):
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
            "At equal student rollouts (the budget). Mean difference with its 95% bootstrap interval over the "
            "seeds both methods ran (items paired; seed i of both methods shares its data order, so seeds are "
            "resampled in pairs).",
            "",
            *difference_lines(grid, by, by),
            "Per task (equal rollouts; per seed in seed order):",
            "",
            *task_lines(grid, by),
        ]
        if equal:
            lines += [
                "### At equal optimizer steps",
                "",
                "ZPPO spends part of its rollouts on BCQ/NCQ groups, so at equal rollouts it takes fewer steps. "
                "Here GRPO with buffer is its checkpoint at the step ZPPO's run of the same seed ended on "
                "(`stages.equal_steps`; the same run up to there).",
                "",
                *difference_lines(grid, by, _by_cell(equal)),
            ]
    lines += mechanism_lines(grid, results)
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
    greedy = [s for s in suites(grid) if "@" not in s]
    fig = Figure(figsize=(4.5 * len(greedy), 4), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, suite in zip(fig.subplots(1, len(greedy), squeeze=False)[0], greedy):
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


def notes_text(docs: Path, stem: str = "results") -> str:
    """The hand-written reading of the numbers, kept in docs/<stem>_notes.md (so a rerun of
    the command does not erase it; it names the run it was written for)."""
    notes = docs / f"{stem}_notes.md"
    return "\n" + notes.read_text() if notes.is_file() else ""


def mechanism(run_dir: Path) -> dict:
    """A run's mechanism numbers from its metrics rows (`mmzppo.train.metrics`) and panel
    (`mmzppo.tools.panel`): per kind the share of non-trivial groups, over the run and on
    questions whose plain group was all wrong; the buffer's `by_entry` counts at the end; the
    update's mean approx KL and clip fraction per step; the panel at the start and at the end."""
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    total = lambda key: sum(r.get(key, 0) for r in rows)  # noqa: E731
    out: dict = {"kinds": {}, "by_entry": (rows[-1].get("buffer/by_entry") or {}) if rows else {}}
    for kind in sorted({k.removeprefix("groups/") for r in rows for k in r if k.startswith("groups/")}):
        out["kinds"][kind] = {
            "groups": total(f"groups/{kind}"),
            "nontrivial": total(f"mechanism/{kind}_nontrivial"),
            "on_zero": total(f"mechanism/{kind}_on_zero"),
            "on_zero_nontrivial": total(f"mechanism/{kind}_on_zero_nontrivial"),
        }
    for key in ("approx_kl", "clip_ratio/low", "clip_ratio/high", "entropy"):
        values = [r[key] for r in rows if key in r]
        out[key] = float(np.mean(values)) if values else math.nan
    panel = run_dir / "panel.jsonl"
    out["panel"] = [json.loads(x) for x in panel.read_text().splitlines()] if panel.is_file() else []
    return out


def _share(a: float, b: float) -> str:
    return f"{a / b:.2f} ({a:.0f}/{b:.0f})" if b else "-"


def mechanism_lines(grid: Grid, results: list[dict]) -> list[str]:
    """The mechanism section: per method and size, summed over seeds (spec section 9)."""
    cells = [r for r in results if r["method"] in ("zppo", "grpo_buffer", "grpo") and r.get("run_dir")]
    cells = [r for r in cells if (Path(r["run_dir"]) / "metrics.jsonl").is_file()]
    if not cells:
        return []
    lines = [
        "## The mechanism",
        "",
        "Summed over seeds. Non-trivial: groups whose rewards differ (the only ones with a gradient); "
        "'on 0/G': groups of questions whose plain group that step was all wrong. Graduated / admitted: "
        "buffered questions by the plain accuracy they entered with, split by whether they got a BCQ/NCQ "
        "while buffered (the paper, 2B: of those admitted at 0/8, ZPPO graduates 28%, GRPO-dagger 4%). "
        "Panel: training questions the start solves 0 of k times, at the start and after the last step "
        "(pass@k; mean log p of the gold solution). KL: mean approx KL per update.",
        "",
        "| method | size | non-trivial plain / BCQ / NCQ | BCQ / NCQ non-trivial on 0/G | graduated / admitted at 0/G: "
        "reformulated; not | at 1/G: reformulated; not | panel pass@k | panel log p(gold) | approx KL |",
        "|---|---|---|---|---|---|---|---|---:|",
    ]
    group_size = grid_config(grid).group_size
    for size in grid.sizes:
        for m in ("zppo", "grpo_buffer", "grpo"):
            mech = [mechanism(Path(r["run_dir"])) for r in cells if r["method"] == m and r["size"] == size]
            if mech:
                lines.append(f"| {LABELS[m]} | {size} | " + " | ".join(mechanism_row(mech, group_size)) + " |")
    return [*lines, ""]


def mechanism_row(mech: list[dict], group_size: int) -> list[str]:
    """The cells of one method and size (`mechanism` of each seed, summed)."""

    def kind(k: str, field: str) -> float:
        return sum(x["kinds"].get(k, {}).get(field, 0) for x in mech)

    def bins(b: str) -> str:
        entry = lambda key: sum(x["by_entry"].get(key, 0) for x in mech)  # noqa: E731
        return "; ".join(
            _share(entry(f"{b}/{split}/graduated"), entry(f"{b}/{split}/admitted"))
            for split in ("reformulated", "plain")
        )

    panels = [x["panel"] for x in mech if x["panel"]]

    def panel(key: str) -> str:
        if not panels:
            return "-"
        return f"{np.mean([p[0][key] for p in panels]):.3f} -> {np.mean([p[-1][key] for p in panels]):.3f}"

    return [
        " / ".join(_share(kind(k, "nontrivial"), kind(k, "groups")) for k in ("plain", "bcq", "ncq")),
        " / ".join(_share(kind(k, "on_zero_nontrivial"), kind(k, "on_zero")) for k in ("bcq", "ncq")),
        bins("0.00"),
        bins(f"{1 / group_size:.2f}"),
        panel("pass_at_k"),
        panel("logp_gold"),
        f"{np.nanmean([x['approx_kl'] for x in mech]):.1e}",
    ]
