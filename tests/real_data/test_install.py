"""A non-editable install works outside the checkout: build the wheel, install it into a
fresh virtualenv and, from a folder outside the checkout, list the benchmark definitions, run
every command's --help, find the demo's start, configs and templates in the package, and run
the quick demo.

Offline and without reinstalling torch: the wheel is installed with --no-deps, and a .pth file
in the fresh venv adds this venv's site-packages (the dependencies) behind its own, so the
mmzppo imported is the installed wheel's. Plain .pth lines do not run the other .pth files of
that folder, so the editable install of the checkout stays out of the way.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mmzppo.tools.grid import cell_name

REPO = Path(__file__).resolve().parents[2]

# every command of the package, as `python -m ...` (each must work from the installed wheel)
COMMANDS = [
    ["mmzppo.tools.demo", "--help"],
    ["mmzppo.tools.reproduce", "--help"],
    ["mmzppo.tools.models", "--help"],
    ["mmzppo.tools.warmup", "--help"],
    ["mmzppo.tools.diagnose", "--help"],
    ["mmzppo.tools.plot", "--help"],
    ["mmzppo.tools.inspector", "--help"],
    ["mmzppo.tools.dist_check", "--help"],
    ["mmzppo.teachers", "annotate", "--help"],
    ["mmzppo.train", "--help-config"],
    ["mmzppo.data", "--help"],
    ["mmzppo.eval", "--list"],
]


def run(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{' '.join(map(str, args))}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    return p


@dataclasses.dataclass
class Installed:
    wheel: Path
    python: Path  # the fresh venv's
    site: Path  # its site-packages, where the wheel went
    elsewhere: Path  # a folder outside the checkout, the commands' current folder
    env: dict


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """The wheel, built from a copy of the checkout and installed into a fresh venv."""
    tmp_path = tmp_path_factory.mktemp("install")
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


FIND_EVERYTHING = """
import importlib, json, sys
from pathlib import Path
from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.loading import load_policy
from mmzppo.tools import demo, grid, models
files = {m: importlib.import_module(m).__file__ for m in sys.argv[1:]}
copied = demo.use_shipped_start(Path("work"))
policy = load_policy(Path("work/students/xs"), vision=TINY_VISION)
print(json.dumps({
    "modules": files,
    "data": [str(demo.SHIPPED_START), str(grid.CONFIG), str(demo.DEMO.config), str(models.TEMPLATES)],
    "copied": copied,
    "parameters": policy.model.num_parameters(),
}))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_install_has_every_tool_and_command(installed):
    """Every module of mmzppo.tools imports from the wheel, the demo's start, configs and the
    tiny tokenizer's files are the package's, the start copies and loads, and every command
    answers --help (or lists) outside the checkout."""
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    shipped = sorted(str(p.relative_to(REPO)) for p in (REPO / "mmzppo/tools/starts/xs").iterdir())
    data = ["mmzppo/tools/configs/demo.yaml", "mmzppo/tools/configs/reproduce.yaml", *shipped]
    data += [str(p.relative_to(REPO)) for p in (REPO / "mmzppo/tools/templates").iterdir()]
    assert "mmzppo/tools/starts/xs/model.safetensors" in shipped and set(data) <= names, set(data) - names
    modules = sorted(
        n.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for n in names
        if n.startswith("mmzppo/tools/") and n.endswith(".py") and not n.endswith("__main__.py")
    )
    assert {"mmzppo.tools.demo", "mmzppo.tools.grid", "mmzppo.tools.inspector.cli"} <= set(modules)

    python, elsewhere, env = installed.python, installed.elsewhere, installed.env
    found = json.loads(run(python, "-c", FIND_EVERYTHING, *modules, cwd=elsewhere, env=env).stdout.splitlines()[-1])
    paths = [*found["modules"].values(), *found["data"]]
    assert all(Path(p).is_relative_to(installed.site) for p in paths), paths  # the wheel's copies, not the checkout
    assert found["copied"] and (elsewhere / "work/students/xs/warmup.json").is_file() and found["parameters"] > 10**6

    def answer(command: list[str]) -> subprocess.CompletedProcess:
        return run(python, "-m", *command, cwd=elsewhere, env=env)

    with ThreadPoolExecutor(2) as pool:
        answers = dict(zip(map(" ".join, COMMANDS), pool.map(answer, COMMANDS)))
    for command, p in answers.items():
        if command.endswith("--help"):
            assert p.stdout.lower().startswith("usage: python -m " + command.split()[0]), (command, p.stdout[:300])
    assert "max_new_tokens" in answers["mmzppo.train --help-config"].stdout
    listed = answers["mmzppo.eval --list"].stdout.splitlines()
    assert len([ln for ln in listed if ln.startswith("| ") and not ln.startswith("| suite")]) == 41


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_install_runs_the_quick_demo(installed):
    """`python -m mmzppo.tools.demo --quick` from the wheel: its cache and runs go to the
    current folder (the defaults), its table and counts are printed."""
    cwd = installed.elsewhere / "demo"
    cwd.mkdir()
    out = run(installed.python, "-m", "mmzppo.tools.demo", "--quick", cwd=cwd, env=installed.env).stdout
    assert "greedy accuracy on the held-out synthetic test split" in out and "64 student rollouts per run" in out
    assert "does it read the candidates?" in out and "hard; plain" in out
    for modality in ("image", "video", "text"):
        assert f"│ {modality}" in out
    assert "ZPPO: " in out and "GRPO with buffer: " in out
    runs = cwd / "runs/demo"
    for method in ("zppo", "grpo_buffer"):
        run_dir = runs / cell_name(method, "xs", 0, 64)
        rows = [json.loads(line) for line in open(run_dir / "metrics.jsonl")]
        assert rows[-1]["rollouts/student_total"] >= 64
        assert json.loads((run_dir / "result.json").read_text())["scores"]["synthetic_image"]
    assert (runs / "comparison.png").stat().st_size > 10_000
    assert (cwd / ".cache/mmzppo/demo/students/xs/diagnostic.json").is_file()
