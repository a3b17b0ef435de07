"""The README's main job (the built-in demo) runs end to end on a real MathVision item."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO, SHARED


def test_demo_prints_bcq_and_ncq(tmp_path, benchdata):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MMZPPO_SHARED": str(SHARED), "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "mmzppo.demo", "--size", "xs", "--workdir", str(tmp_path), "--rollouts", "2",
         "--max-new-tokens", "16"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "group accuracy r(x) = 0.00" in out  # a random-weight student never boxes the answer
    assert "BCQ prompt" in out and "NCQ prompt" in out
    assert out.count("<|image_pad|>x") == 2  # the image once in each prompt
    assert "teacher_correct" in out and "student_wrong" in out  # labels in the viewer's title only
    assert (tmp_path / "tiny-xs" / "config.json").is_file()
