"""Every benchmark script imports and parses its arguments (they are run by hand, not in CI)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

SCRIPTS = sorted((REPO / "benchmarks").glob("bench_*.py")) + [REPO / "benchmarks/throughput.py"]


def test_there_are_benchmarks():
    assert len(SCRIPTS) >= 4


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_script_help(script):
    r = subprocess.run([sys.executable, str(script), "--help"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower()
