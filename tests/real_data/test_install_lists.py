"""The installed wheel (tests/installed.py) lists the benchmark definitions from its own copy,
and finds the real benchmark folders of ../shared/benchdata."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from installed import REPO, run


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_install_lists_the_benchmarks(installed, benchdata):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    definitions = sorted(str(p.relative_to(REPO)) for p in (REPO / "mmzppo/eval/definitions").glob("*/*.yaml"))
    assert len(definitions) == 41 and set(definitions) <= names and "mmzppo/eval/definitions/README.md" in names

    python, elsewhere, env = installed.python, installed.elsewhere, installed.env
    where = run(
        python, "-c", "import mmzppo.eval.suites as s; print(s.__file__); print(s.EVAL_SUITES)", cwd=elsewhere, env=env
    ).stdout.split()
    assert all(Path(w).is_relative_to(installed.site) for w in where), where  # the wheel's copy, not the checkout
    p = run(python, "-m", "mmzppo.eval", "--list", "--data-root", benchdata, cwd=elsewhere, env=env)
    rows = [ln for ln in p.stdout.splitlines() if ln.startswith("| ") and not ln.startswith("| suite")]
    assert len(rows) == 41 and f"found: {benchdata / 'vlm/mmvet'}" in p.stdout
    assert "31 paper benchmarks (vlm 16, llm 10, video 5), 7 extras, 3 synthetic; data found for 18" in p.stdout
