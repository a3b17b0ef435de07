"""Training curves from hand-written metrics: the graduation bars and the block table (two real
tiny runs overlaid: tests/integration/test_plot_runs.py)."""

from __future__ import annotations

import json
import math

from mmzppo.tools.plot import BAR_TITLE, figure, main


def axes_by_title(fig):
    return {ax.get_title(): ax for ax in fig.axes}


def test_graduation_bars_from_the_last_row(tmp_path):
    rows = [
        {"step": 0, "reward/plain_mean": 0.1, "groups/plain": 8, "groups/bcq": 0, "buffer/graduated_by_entry": {}},
        {
            "step": 1,
            "reward/plain_mean": 0.4,
            "groups/plain": 8,
            "groups/bcq": 2,
            "reward/bcq_mean": 0.5,
            "buffer/graduated_by_entry": {"0.25": 2, "0.00": 5},
        },
    ]
    (tmp_path / "a").mkdir()
    (tmp_path / "a/metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    bars = axes_by_title(figure([tmp_path / "a"]))[BAR_TITLE]
    assert [p.get_height() for p in bars.patches] == [5, 2]  # bins in accuracy order
    assert [t.get_text() for t in bars.get_xticklabels()] == ["0.00", "0.25"]
    bcq = axes_by_title(figure([tmp_path / "a"]))["BCQ reward"].get_lines()[0].get_ydata()
    assert math.isnan(bcq[0]) and bcq[1] == 0.5


def test_block_table_means_and_sums(tmp_path, capsys):
    rows = [
        {
            "step": i,
            "reward/plain_mean": r,
            "groups/bcq": 1,
            "groups/ncq": i % 2,
            "buffer/admitted": 3,
            "buffer/graduated": int(i == 2),
            "buffer/evicted": 0,
            "buffer/size": 3 * (i + 1) - int(i >= 2),
            "frac_reward_zero_std": 0.5,
            "completions/mean_length": 10.0 * (i + 1),
            "completions/clipped_frac": 0.0,
        }
        for i, r in enumerate([0.0, 0.5, 0.25])
    ]
    (tmp_path / "a").mkdir()
    (tmp_path / "a/metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([str(tmp_path / "a"), "--table", "2"]) is None  # no --out: the table only
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("| steps | plain reward | BCQ groups | NCQ groups | admitted | graduated |")
    assert lines[3] == "| 0-1 | 0.250 | 2 | 1 | 6 | 0 | 0 | 6 | 0.500 | 15.0 | 0.000 |"
    assert lines[4] == "| 2-2 | 0.250 | 1 | 0 | 3 | 1 | 0 | 8 | 0.500 | 30.0 | 0.000 |"
