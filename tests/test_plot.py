"""Training curves: two real tiny runs overlaid, the PNG, and the graduation bars."""

from __future__ import annotations

import json
import math

from PIL import Image
from test_inspect import GRPO, make_tiny_run

from mmzppo.tools.plot import BAR_TITLE, PANEL_TITLES, figure, main

EXPECTED_TITLES = [
    "plain reward",
    "BCQ reward",
    "NCQ reward",
    "buffer size",
    "buffer flows per step",
    "BCQ / NCQ prompts per step",
    "zero-std fraction",
    "mean response length (tokens)",
    BAR_TITLE,
]


def axes_by_title(fig):
    return {ax.get_title(): ax for ax in fig.axes}


def test_two_runs_overlaid_and_written_as_png(tiny_xs_dir, tmp_path_factory, tmp_path):
    zppo = make_tiny_run(tmp_path_factory, tiny_xs_dir, "zppo")  # shared with test_inspect
    grpo = make_tiny_run(tmp_path_factory, tiny_xs_dir, "grpo", GRPO)
    fig = figure([zppo, grpo])
    assert [ax.get_title() for ax in fig.axes] == EXPECTED_TITLES == PANEL_TITLES
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["zppo", "grpo"]
    axes = axes_by_title(fig)
    assert len(axes["plain reward"].get_lines()) == 2  # one curve per run
    assert len(axes["buffer flows per step"].get_lines()) == 6  # admitted / graduated / evicted per run
    assert len(axes["BCQ / NCQ prompts per step"].get_lines()) == 4
    zppo_bcq, grpo_bcq = axes["BCQ / NCQ prompts per step"].get_lines()[0::2]
    assert list(zppo_bcq.get_xdata()) == [0, 1] and max(zppo_bcq.get_ydata()) >= 1
    assert list(grpo_bcq.get_ydata()) == [0, 0]
    # GRPO has no BCQ groups: no BCQ reward points at all (not a row of zeros)
    assert all(math.isnan(y) for y in axes["BCQ reward"].get_lines()[1].get_ydata())

    out = main([str(zppo), str(grpo), "--out", str(tmp_path / "curves.png")])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 30_000
    with Image.open(out) as im:
        assert im.size == (1500, 1100)


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
