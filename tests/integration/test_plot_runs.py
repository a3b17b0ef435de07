"""Training curves of two real tiny runs (ZPPO and GRPO, 2 steps each) overlaid, and the PNG."""

from __future__ import annotations

import math

from helpers import make_tiny_run
from PIL import Image

from mmzppo.tools.plot import BAR_TITLE, PANEL_TITLES, figure, main

GRPO = ("use_bcq=false", "use_ncq=false", "use_buffer=false", "teacher_kind=none")
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
    zppo = make_tiny_run(tmp_path_factory, tiny_xs_dir, "zppo")  # shared with tests/real_data/test_inspect.py
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
