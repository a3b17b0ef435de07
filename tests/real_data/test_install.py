"""A non-editable install finds the benchmark definitions: build the wheel, install it into a
fresh virtualenv and run `python -m mmzppo.eval --list` from a folder outside the checkout.

Offline and without reinstalling torch: the wheel is installed with --no-deps, and a .pth file
in the fresh venv adds this venv's site-packages (the dependencies) behind its own, so the
mmzppo imported is the installed wheel's. Plain .pth lines do not run the other .pth files of
that folder, so the editable install of the checkout stays out of the way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{' '.join(map(str, args))}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_install_lists_the_benchmarks(benchdata, tmp_path):
    src = tmp_path / "src"  # a copy, so the build writes nothing into the checkout
    shutil.copytree(REPO / "mmzppo", src / "mmzppo", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-q",
        "-w",
        tmp_path / "dist",
        "./src",
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("mmzppo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    definitions = sorted(str(p.relative_to(REPO)) for p in (REPO / "mmzppo/eval/definitions").glob("*/*.yaml"))
    assert len(definitions) == 41 and set(definitions) <= names and "mmzppo/eval/definitions/README.md" in names

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel, cwd=tmp_path
    )
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run(python, "-c", purelib, cwd=tmp_path).stdout.strip())
    (site / "_mmzppo_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MMZPPO_EVAL_SUITES")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    where = run(
        python, "-c", "import mmzppo.eval.suites as s; print(s.__file__); print(s.EVAL_SUITES)", cwd=elsewhere, env=env
    ).stdout.split()
    assert all(Path(w).is_relative_to(site) for w in where), where  # the wheel's copy, not the checkout
    p = run(python, "-m", "mmzppo.eval", "--list", "--data-root", benchdata, cwd=elsewhere, env=env)
    rows = [ln for ln in p.stdout.splitlines() if ln.startswith("| ") and not ln.startswith("| suite")]
    assert len(rows) == 41 and f"found: {benchdata / 'vlm/mmvet'}" in p.stdout
    assert "31 paper benchmarks (vlm 16, llm 10, video 5), 7 extras, 3 synthetic; data found for 18" in p.stdout
