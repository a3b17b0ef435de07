"""The README's main job (the built-in demo) runs end to end, in its --quick form: ZPPO and
GRPO with buffer from one start, the same student-rollout budget, a table and a plot."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

from mmzppo.tools.demo import DEMO_QUICK
from mmzppo.tools.grid import cell_name


def test_demo_quick(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmzppo.tools.demo",
            "--quick",
            "--workdir",
            str(tmp_path / "work"),
            "--output-dir",
            str(tmp_path / "runs"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "greedy accuracy on the held-out synthetic test split" in out and "64 student rollouts per run" in out
    assert "does it read the candidates?" in out and "hard; plain" in out
    for modality in ("image", "video", "text"):
        assert f"│ {modality}" in out
    assert "ZPPO: " in out and "GRPO with buffer: " in out
    runs = tmp_path / "runs/demo"
    budgets = {}
    names = [cell_name(m, "xs", 0, DEMO_QUICK.rollout_budget) for m in ("zppo", "grpo_buffer")]
    for name in names:
        rows = [json.loads(line) for line in open(runs / name / "metrics.jsonl")]
        budgets[name] = rows[-1]["rollouts/student_total"]
        assert budgets[name] >= 64 > rows[-2]["rollouts/student_total"]  # stopped at the first step past the budget
        assert json.loads((runs / name / "result.json").read_text())["scores"]["synthetic_image"]
    grpo_rows = [json.loads(line) for line in open(runs / names[1] / "metrics.jsonl")]
    assert all(r["groups/bcq"] == 0 and r["groups/ncq"] == 0 for r in grpo_rows)
    assert (runs / "comparison.png").stat().st_size > 10_000
    assert (tmp_path / "work/students/xs/config.json").is_file()  # the start is cached for the next run
    assert json.loads((tmp_path / "work/students/xs/diagnostic.json").read_text())["questions"] == 6
