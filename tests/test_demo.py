"""The README's main job (the built-in demo) runs end to end, in its --quick form."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO


def test_demo_quick(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "mmzppo.demo", "--quick", "--workdir", str(tmp_path / "work"),
         "--output-dir", str(tmp_path / "runs")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "greedy accuracy on the held-out synthetic test split" in out
    for modality in ("image", "video", "text"):
        assert f"│ {modality}" in out
    assert "2 ZPPO steps" in out and "run folder:" in out
    metrics = [json.loads(line) for line in open(tmp_path / "runs/demo/metrics.jsonl")]
    assert len(metrics) == 2 and metrics[0]["groups/plain"] >= 8
    assert (tmp_path / "work/teacher/config.json").is_file()  # cached for the next run
