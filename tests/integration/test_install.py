"""The installed wheel (tests/installed.py) outside the checkout: every tool imports from it and
finds its data in the package, every command answers, and the README's main job (the quick
demo) runs end to end."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from installed import REPO

from mmzppo.tools.demo import DEMO_QUICK
from mmzppo.tools.grid import cell_name

# every command of the package, as `python -m ...` (each must work from the installed wheel)
COMMANDS = [
    ["mmzppo.tools.demo", "--help"],
    ["mmzppo.tools.reproduce", "--help"],
    ["mmzppo.tools.models", "--help"],
    ["mmzppo.tools.warmup", "--help"],
    ["mmzppo.tools.diagnose", "--help"],
    ["mmzppo.tools.panel", "--help"],
    ["mmzppo.tools.plot", "--help"],
    ["mmzppo.tools.inspector", "--help"],
    ["mmzppo.tools.dist_check", "--help"],
    ["mmzppo.teachers", "annotate", "--help"],
    ["mmzppo.train", "--help-config"],
    ["mmzppo.data", "--help"],
    ["mmzppo.eval", "--list"],
]


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


def tool_modules(wheel: Path) -> list[str]:
    """Every module of mmzppo.tools in the wheel."""
    return sorted(
        n.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for n in zipfile.ZipFile(wheel).namelist()
        if n.startswith("mmzppo/tools/") and n.endswith(".py") and not n.endswith("__main__.py")
    )


def wheel_commands(lane, folder):
    """FIND_EVERYTHING and every command of COMMANDS, one at a time, from the installed wheel in
    a folder outside the checkout, in the session's background lane (after the wheel's install)."""
    installed = lane.result("installed")
    python, elsewhere, env = installed.python, installed.elsewhere, installed.env
    found = lane.run(
        [python, "-c", FIND_EVERYTHING, *tool_modules(installed.wheel)], cwd=elsewhere, env=env, timeout=300
    )
    answers = {}
    for command in COMMANDS:
        answers[" ".join(command)] = lane.run([python, "-m", *command], cwd=elsewhere, env=env, timeout=300)
    return found, answers


def succeeded(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, f"{' '.join(map(str, p.args))}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.early(job=wheel_commands, wheel=True)
def test_wheel_install_has_every_tool_and_command(installed, early, request):
    """Every module of mmzppo.tools imports from the wheel, the demo's start, configs and the
    tiny tokenizer's files are the package's, the start copies and loads, and every command
    answers --help (or lists) outside the checkout. The commands run from the session's start in
    the background lane (`early` in tests/conftest.py, `wheel_commands`); this test checks them."""
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    shipped = sorted(str(p.relative_to(REPO)) for p in (REPO / "mmzppo/tools/starts/xs").iterdir())
    data = ["mmzppo/tools/configs/demo.yaml", "mmzppo/tools/configs/reproduce.yaml", *shipped]
    data += [str(p.relative_to(REPO)) for p in (REPO / "mmzppo/tools/templates").iterdir()]
    assert "mmzppo/tools/starts/xs/model.safetensors" in shipped and set(data) <= names, set(data) - names
    modules = tool_modules(installed.wheel)
    assert {"mmzppo.tools.demo", "mmzppo.tools.grid", "mmzppo.tools.inspector.cli"} <= set(modules)

    elsewhere = installed.elsewhere
    found, answers = early.result(request.node.nodeid)
    found = json.loads(succeeded(found).stdout.splitlines()[-1])
    assert sorted(found["modules"]) == modules
    paths = [*found["modules"].values(), *found["data"]]
    assert all(Path(p).is_relative_to(installed.site) for p in paths), paths  # the wheel's copies, not the checkout
    assert found["copied"] and (elsewhere / "work/students/xs/warmup.json").is_file() and found["parameters"] > 10**6

    assert list(answers) == [" ".join(c) for c in COMMANDS]
    for command, p in answers.items():
        succeeded(p)
        if command.endswith("--help"):
            assert p.stdout.lower().startswith("usage: python -m " + command.split()[0]), (command, p.stdout[:300])
    assert "max_new_tokens" in answers["mmzppo.train --help-config"].stdout
    listed = answers["mmzppo.eval --list"].stdout.splitlines()
    assert len([ln for ln in listed if ln.startswith("| ") and not ln.startswith("| suite")]) == 41


def quick_demo(lane, folder):
    """`python -m mmzppo.tools.demo --quick` from the installed wheel, in a folder outside the
    checkout, in the session's background lane (after the wheel's install)."""
    installed = lane.result("installed")
    cwd = installed.elsewhere / "demo"
    cwd.mkdir()
    p = lane.run([installed.python, "-m", "mmzppo.tools.demo", "--quick"], cwd=cwd, env=installed.env, timeout=900)
    assert p.returncode == 0, f"demo --quick\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    return p.stdout, cwd


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.early(job=quick_demo, wheel=True)
def test_the_quick_demo_runs_from_the_installed_wheel(early, request):
    """The README's main job, `python -m mmzppo.tools.demo --quick`, from the wheel outside the
    checkout: ZPPO and GRPO with buffer from one start, the same student-rollout budget, a table
    and a plot; its cache and runs go to the current folder (the defaults). It runs from the
    session's start in the background lane (`early` in tests/conftest.py); this test checks it."""
    out, cwd = early.result(request.node.nodeid)
    assert "greedy accuracy on the held-out synthetic test split" in out and "64 student rollouts per run" in out
    assert "does it read the candidates?" in out and "hard; plain" in out
    for modality in ("image", "video", "text"):
        assert f"│ {modality}" in out
    assert "ZPPO: " in out and "GRPO with buffer: " in out
    runs = cwd / "runs/demo"
    names = [cell_name(m, "xs", 0, DEMO_QUICK.rollout_budget) for m in ("zppo", "grpo_buffer")]
    for name in names:
        rows = [json.loads(line) for line in open(runs / name / "metrics.jsonl")]
        assert rows[-1]["rollouts/student_total"] >= 64 > rows[-2]["rollouts/student_total"]  # stopped past the budget
        assert json.loads((runs / name / "result.json").read_text())["scores"]["synthetic_image"]
    grpo_rows = [json.loads(line) for line in open(runs / names[1] / "metrics.jsonl")]
    assert all(r["groups/bcq"] == 0 and r["groups/ncq"] == 0 for r in grpo_rows)
    assert (runs / "comparison.png").stat().st_size > 10_000
    work = cwd / ".cache/mmzppo/demo"
    assert (work / "students/xs/config.json").is_file()  # the start is cached for the next run
    assert json.loads((work / "students/xs/diagnostic.json").read_text())["questions"] == 6
