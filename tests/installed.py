"""A non-editable install, for the tests that use mmzppo the way a user who installed the wheel
does: build the wheel from a copy of the checkout, install it into a fresh virtualenv, and
run commands from a folder outside the checkout.

Offline and without reinstalling torch: the wheel is installed with --no-deps, and a .pth file
in the fresh venv adds this venv's site-packages (the dependencies) behind its own, so the
mmzppo imported is the installed wheel's. Plain .pth lines do not run the other .pth files of
that folder, so the editable install of the checkout stays out of the way.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*args, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    p = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(map(str, args))}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    return p


@dataclasses.dataclass
class Installed:
    wheel: Path
    python: Path  # the fresh venv's
    site: Path  # its site-packages, where the wheel went
    elsewhere: Path  # a folder outside the checkout, the commands' current folder
    env: dict


def install_wheel(tmp_path: Path) -> Installed:
    """The wheel, built from a copy of the checkout and installed into a fresh venv."""
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
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", COLUMNS="200")
    return Installed(wheel, python, site, elsewhere, env)
