"""Training curves of one or more runs: `python -m mmzppo.tools.plot RUN_DIR [RUN_DIR ...] --out FILE.png`.

Reads each run folder's metrics.jsonl (one row per rollout step, see
`mmzppo.train.metrics.step_metrics`) and draws, with the runs overlaid in one colour each:

    plain / BCQ / NCQ reward   mean reward of the plain, BCQ and NCQ groups (a BCQ / NCQ
                               point only at steps that had such groups)
    buffer size                replay-buffer entries after the step
    buffer flows per step      admitted / graduated / evicted questions at each step
    BCQ / NCQ prompts per step reformulated groups formed at each step
    zero-std fraction          groups whose rewards are all equal (no learning signal)
    mean response length       completion tokens per rollout
    graduations by entry accuracy  from the last row's `buffer/graduated_by_entry`: how many
                               buffered questions graduated, by the plain accuracy they had
                               when admitted (the paper's mechanism figure), bars per run

`--smooth K` averages each curve over a trailing window of K steps. Matplotlib's Agg
canvas is used directly (no pyplot, no display needed).

`--table K` prints, for each run, a Markdown table of the same metrics over blocks of K
steps (means of rewards and lengths, sums of counts): the numbers behind the curves.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from mmzppo.data.formats import read_jsonl

# (panel title, [(metrics key, series name)], count key that must be > 0 for a point to show)
CURVES = [
    ("plain reward", [("reward/plain_mean", "")], None),
    ("BCQ reward", [("reward/bcq_mean", "")], "groups/bcq"),
    ("NCQ reward", [("reward/ncq_mean", "")], "groups/ncq"),
    ("buffer size", [("buffer/size", "")], None),
    (
        "buffer flows per step",
        [("buffer/admitted", "admitted"), ("buffer/graduated", "graduated"), ("buffer/evicted", "evicted")],
        None,
    ),
    ("BCQ / NCQ prompts per step", [("groups/bcq", "BCQ"), ("groups/ncq", "NCQ")], None),
    ("zero-std fraction", [("frac_reward_zero_std", "")], None),
    ("mean response length (tokens)", [("completions/mean_length", "")], None),
]
BAR_TITLE = "graduations by entry accuracy"
PANEL_TITLES = [title for title, _, _ in CURVES] + [BAR_TITLE]
STYLES = ["-", "--", ":"]


def load_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a run folder (python -m mmzppo.train)?")
    return list(read_jsonl(path))


def smoothed(values: list[float], k: int) -> list[float]:
    """Trailing mean over the last k finite values (NaNs, i.e. missing points, stay NaN)."""
    if k <= 1:
        return values
    out = []
    for i, v in enumerate(values):
        window = [x for x in values[max(0, i - k + 1) : i + 1] if not math.isnan(x)]
        out.append(sum(window) / len(window) if window and not math.isnan(v) else math.nan)
    return out


def run_labels(run_dirs: list[Path]) -> list[str]:
    """Folder names, or parent/name where two runs share a name."""
    names = [p.name for p in run_dirs]
    return [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in run_dirs]


def figure(run_dirs: list[str | Path], labels: list[str] | None = None, smooth: int = 1) -> Figure:
    """The 3 x 3 panel figure of the given runs (see the module docstring)."""
    run_dirs = [Path(p) for p in run_dirs]
    labels = labels or run_labels(run_dirs)
    runs = [load_metrics(p) for p in run_dirs]
    fig = Figure(figsize=(15, 11), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 3).ravel()
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for ax, (title, series, count_key) in zip(axes, CURVES):
        for rows, colour in zip(runs, colours):
            steps = [r.get("step", i) for i, r in enumerate(rows)]
            for (key, _), style in zip(series, STYLES):
                ys = [float(r.get(key, math.nan)) for r in rows]
                if count_key:  # a BCQ reward of 0 at a step without BCQ groups is no point
                    ys = [y if r.get(count_key, 0) > 0 else math.nan for y, r in zip(ys, rows)]
                marker = "." if len(rows) < 30 or count_key else None  # isolated BCQ/NCQ points stay visible
                ax.plot(steps, smoothed(ys, smooth), style, color=colour, marker=marker, markersize=4)
        if len(series) > 1:  # line styles name the series; colours name the runs (figure legend)
            handles = [Line2D([], [], color="0.3", linestyle=s, label=name) for (_, name), s in zip(series, STYLES)]
            ax.legend(handles=handles, fontsize=8, loc="best")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if "reward" in title or "fraction" in title:
            ax.set_ylim(-0.05, 1.05)
        else:  # counts and lengths
            ax.set_ylim(bottom=0)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    graduation_bars(axes[-1], runs, colours)
    handles = [Line2D([], [], color=c, linewidth=2.5, label=label) for c, label in zip(colours, labels)]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(labels), 6), fontsize=10)
    return fig


def graduation_bars(ax, runs: list[list[dict]], colours: list[str]) -> None:
    """Grouped bars: graduations per entry-accuracy bin, from each run's last row."""
    counts = [(rows[-1].get("buffer/graduated_by_entry") or {}) if rows else {} for rows in runs]
    bins = sorted({b for c in counts for b in c}, key=float)
    ax.set_title(BAR_TITLE)
    ax.set_xlabel("plain accuracy when admitted")
    ax.set_ylabel("graduated questions")
    if not bins:
        ax.text(0.5, 0.5, "no graduations yet", ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.set_xticks([])
        return
    width = 0.8 / len(runs)
    for i, (c, colour) in enumerate(zip(counts, colours)):
        xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(bins))]
        ax.bar(xs, [c.get(b, 0) for b in bins], width=width, color=colour)
    ax.set_xticks(range(len(bins)), bins)
    ax.grid(alpha=0.3, axis="y")


# (column, metrics key, how a block of steps is summarised: mean, mean1 (one decimal), sum, last)
TABLE = [
    ("plain reward", "reward/plain_mean", "mean"),
    ("BCQ groups", "groups/bcq", "sum"),
    ("NCQ groups", "groups/ncq", "sum"),
    ("admitted", "buffer/admitted", "sum"),
    ("graduated", "buffer/graduated", "sum"),
    ("evicted", "buffer/evicted", "sum"),
    ("buffer size (end)", "buffer/size", "last"),
    ("zero-std frac", "frac_reward_zero_std", "mean"),
    ("length", "completions/mean_length", "mean1"),
    ("clipped frac", "completions/clipped_frac", "mean"),
]


def block_table(rows: list[dict], block: int) -> str:
    """A Markdown table of `TABLE`'s metrics over consecutive blocks of `block` steps."""
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    lines = ["| steps | " + " | ".join(name for name, _, _ in TABLE) + " |", "|---" * (len(TABLE) + 1) + "|"]
    for start in range(0, len(rows), block):
        part = rows[start : start + block]
        cells = []
        for _, key, how in TABLE:
            values = [r.get(key, 0.0) for r in part]
            if how.startswith("mean"):
                cells.append(f"{sum(values) / len(values):.{1 if how == 'mean1' else 3}f}")
            elif how == "sum":
                cells.append(f"{sum(values):.0f}")
            else:
                cells.append(f"{values[-1]:.0f}")
        lines.append(f"| {part[0]['step']}-{part[-1]['step']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path | None:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.tools.plot", description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", help="run folders (each holds metrics.jsonl)")
    parser.add_argument("--out", help="image file to write (.png, or any format matplotlib writes)")
    parser.add_argument("--table", type=int, metavar="K", help="print a Markdown table over blocks of K steps")
    parser.add_argument("--label", action="append", help="legend name of each run, in order (default: folder names)")
    parser.add_argument("--smooth", type=int, default=1, help="trailing mean over K steps (default 1: raw)")
    parser.add_argument("--dpi", type=int, default=100)
    args = parser.parse_args(argv)
    if args.label and len(args.label) != len(args.run_dirs):
        parser.error(f"{len(args.label)} --label for {len(args.run_dirs)} runs")
    if args.out is None and args.table is None:
        parser.error("nothing to do: give --out FILE.png and/or --table K")
    if args.table is not None:
        for run_dir in args.run_dirs:
            print(f"{run_dir}:\n{block_table(load_metrics(run_dir), args.table)}\n")
    if args.out is None:
        return None
    fig = figure(args.run_dirs, args.label, args.smooth)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=args.dpi)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
