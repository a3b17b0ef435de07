"""A sampled evaluation killed and resumed draws the same responses as an uninterrupted one.

`python -m mmzppo.eval --suite synthetic --tasks synthetic_text --limit 20 --seed 0` (the
paper's sampled decoding) with the real tiny Qwen3.5 student: once uninterrupted (in batches
of 8), once SIGKILLed in a subprocess after a few items (batches of 3) and resumed with
--resume, once stopped by a smaller --limit (batches of 5) and continued. Every item's
response must be the same in all three: each row samples from its own seeded generator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmzppo.eval.__main__ import main
from mmzppo.eval.runner import item_seed

REPO = Path(__file__).resolve().parents[2]
SAMPLED = [
    "--suite",
    "synthetic",
    "--tasks",
    "synthetic_text",
    "--seed",
    "0",
    "--max-new-tokens",
    "24",
    "--vision",
    "tiny",
    "--no-progress",
]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One thread here and in the subprocess: the same float summation order in both."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_eval(*args) -> int:
    return main([*map(str, args)])


def eval_subprocess_args(model: Path, limit: int, output: Path, *more: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a sampled run in a child process (one torch thread)."""
    cmd = [sys.executable, "-m", "mmzppo.eval", *SAMPLED, "--model", str(model), "--limit", str(limit)]
    return [*cmd, "--output", str(output), *more], {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def responses(out: Path) -> dict[str, str]:
    lines = (out / "synthetic_text.samples.jsonl").read_text().splitlines()
    return {r["uid"]: r["response"] for r in map(json.loads, lines)}


@pytest.mark.timeout(600)
def test_sampled_eval_killed_and_resumed_draws_the_same_samples(tiny_xs_dir, tmp_path, monkeypatch):
    from mmzppo.eval.generation import Generator

    batches = []
    original = Generator.run
    monkeypatch.setattr(Generator, "run", lambda self, prompts: batches.append(len(prompts)) or original(self, prompts))
    whole = tmp_path / "whole"
    assert run_eval(*SAMPLED, "--model", tiny_xs_dir, "--limit", 20, "--output", whole) == 0
    assert batches == [8, 8, 4]  # sampled, and batched (--batch-size 8)
    expected = responses(whole)
    assert len(expected) == 20 and len(set(expected.values())) > 10  # sampled: the draws differ per item

    killed = tmp_path / "killed"
    log = killed / "synthetic_text.samples.jsonl"
    cmd, env = eval_subprocess_args(tiny_xs_dir, 20, killed, "--batch-size", "3")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 4:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(log.read_text().splitlines())
    assert 4 <= done_before < 20 and not (killed / "synthetic_text.json").exists()

    assert run_eval(*SAMPLED, "--model", tiny_xs_dir, "--limit", 20, "--output", killed, "--resume") == 0
    assert responses(killed) == expected  # every item, those before the kill and those after
    summary = lambda out: json.loads((out / "synthetic_text.json").read_text())["score"]  # noqa: E731
    assert summary(killed) == summary(whole)

    # stopped by a smaller limit, continued with the full one (other batches, another process)
    part = tmp_path / "part"
    assert run_eval(*SAMPLED, "--model", tiny_xs_dir, "--limit", 7, "--output", part, "--batch-size", 5) == 0
    assert run_eval(*SAMPLED, "--model", tiny_xs_dir, "--limit", 20, "--output", part, "--resume") == 0
    assert responses(part) == expected


def test_item_seed_depends_on_the_run_seed_and_the_uid_only():
    assert item_seed(0, "synthetic-a") == item_seed(0, "synthetic-a")
    assert len({item_seed(s, u) for s in (0, 1) for u in ("a", "b", "c")}) == 6
    assert all(0 <= item_seed(s, "a") < 2**63 for s in range(5))


@pytest.mark.parametrize("model", ["/no/such/model/dir", "./no-such-model", "runs/no-such-run"])
def test_missing_model_is_one_line_naming_the_path(model, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "mmzppo.eval", *SAMPLED, "--limit", "1", "--model", model],
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --model ") and model in lines[0], out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "Repo id must be" not in out.stderr


@pytest.mark.timeout(600)
def test_full_disk_during_eval_then_resume(tiny_xs_dir, tmp_path):
    """The results folder on a tmpfs too small for all per-sample logs: a one-line error naming
    the file; moved to a disk with room, --resume gives the uninterrupted run's responses."""
    whole = tmp_path / "whole"
    assert run_eval(*SAMPLED, "--model", tiny_xs_dir, "--limit", 12, "--output", whole) == 0
    size = (whole / "synthetic_text.samples.jsonl").stat().st_size
    mount = tmp_path / "small"
    mount.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={max(size // 2, 8192)}", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        cmd, env = eval_subprocess_args(tiny_xs_dir, 12, mount / "out")
        r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and "could not write" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
        subprocess.run(["cp", "-a", str(mount / "out"), str(tmp_path / "out")], check=True)
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    assert run_eval(*SAMPLED, "--model", tiny_xs_dir, "--limit", 12, "--output", tmp_path / "out", "--resume") == 0
    assert responses(tmp_path / "out") == responses(whole)
