"""Faults injected into training on purpose: SIGKILL at chosen moments, SIGTERM, a full disk, NaN.

Every case ends by comparing with an uninterrupted run of the same seed: one metrics row
per step, in order, with equal values; the same samples.jsonl; TensorBoard with one value
per step. Nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO

from mmzppo.data.vision import TINY_VISION
from mmzppo.train.config_files import load_config

TINY = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]
STEPS = 6


def overrides(student, shards, out, name, *extra):
    return [
        f"student={student}",
        "teacher_kind=reference",
        f"train_shards={shards}",
        "prompts_per_step=4",
        "group_size=4",
        "max_new_tokens=24",
        f"steps={STEPS}",
        "updates_per_step=2",
        "micro_batch_size=16",
        "lr=1e-3",
        "dtype=float32",
        f"output_dir={out}",
        f"name={name}",
        "save_every=2",
        "rho_aug=0.5",
        "candidate_max_words=20",
        *TINY,
        *extra,
    ]


def train_cmd(args, resume=False):
    return [sys.executable, "-m", "mmzppo.train", *args, *(["--resume"] if resume else [])]


ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def rows(path: Path) -> list[dict]:
    """The complete rows of a JSONL log; a last line still being written (no newline yet: the
    polls below read while the trainer appends) is not a row yet."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


def comparable(run: Path) -> tuple[list[dict], list[dict]]:
    metrics = [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows(run / "metrics.jsonl")]
    return metrics, rows(run / "samples.jsonl")


def tensorboard_steps(run: Path, tag: str = "loss") -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)]


def kill_when(proc: subprocess.Popen, moment, timeout: float = 600, signum=signal.SIGKILL) -> bool:
    """Send `signum` (SIGKILL) to `proc` as soon as `moment()` is true (polled every 2 ms) and
    wait for it to end; False if it ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if moment():
            proc.send_signal(signum)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.kill()
    raise TimeoutError("the moment to kill never came")


@pytest.fixture(scope="module")
def uninterrupted(tiny_xs_dir, synth_shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("faults")
    r = subprocess.run(
        train_cmd(overrides(tiny_xs_dir, synth_shards, out, "clean")),
        env=ENV,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return out / "clean"


@pytest.mark.slow
def test_kill_9_at_chosen_moments_then_resume(uninterrupted, tiny_xs_dir, synth_shards, tmp_path):
    """SIGKILL right after a metrics row is written (before its checkpoint), while a checkpoint
    is being written, and at random moments inside steps (rollout, teacher, update); each time
    resumed. The finished run equals the uninterrupted one, row for row."""
    args = overrides(tiny_xs_dir, synth_shards, tmp_path, "killed")
    run = tmp_path / "killed"
    ckpt = run / "checkpoints"
    rng = random.Random(0)
    moments = [
        ("after the row of step 2, before checkpoint step-4", lambda: len(rows(run / "metrics.jsonl")) >= 3),
        ("while checkpoint step-4 is written", lambda: (ckpt / ".step-4.tmp").exists()),
        ("inside step 4", lambda: len(rows(run / "metrics.jsonl")) >= 5 and time.sleep(rng.uniform(0, 1.0)) is None),
        ("at a random moment after start", lambda: time.sleep(rng.uniform(3, 12)) is None),
    ]
    killed = []
    for i, (name, moment) in enumerate(moments):
        proc = subprocess.Popen(
            train_cmd(args, resume=i > 0 and (ckpt / "step-2").exists()),
            env=ENV,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if kill_when(proc, moment):
            killed.append(name)
        elif proc.returncode == 0:
            break
    assert killed[:2] == [m[0] for m in moments[:2]]  # the two deterministic moments were hit
    r = subprocess.run(train_cmd(args, resume=True), env=ENV, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics, samples = comparable(run)
    assert [m["step"] for m in metrics] == list(range(STEPS))
    assert (metrics, samples) == comparable(uninterrupted)
    assert tensorboard_steps(run) == list(range(STEPS))
    assert not list(ckpt.glob(".*.tmp"))


@pytest.mark.slow
def test_sigterm_finishes_the_step_writes_a_checkpoint_and_exits_0(uninterrupted, tiny_xs_dir, synth_shards, tmp_path):
    """SIGTERM while step 2 runs (0.3 s after checkpoint step-2; save_every=2: none is due after
    step 2): the run finishes that step, writes checkpoint step-3 and exits 0; --resume then ends
    as the uninterrupted run, row for row."""
    args = overrides(tiny_xs_dir, synth_shards, tmp_path, "term")
    run = tmp_path / "term"
    with open(tmp_path / "term.log", "w") as log:
        proc = subprocess.Popen(train_cmd(args), env=ENV, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        in_step_2 = lambda: (run / "checkpoints/step-2/DONE").is_file() and time.sleep(0.3) is None  # noqa: E731
        assert kill_when(proc, in_step_2, signum=signal.SIGTERM)
    output = (tmp_path / "term.log").read_text()
    done = len(rows(run / "metrics.jsonl"))
    assert proc.returncode == 0 and "stopped by SIGTERM" in output, output[-3000:]
    assert "attention kernels: full attention: sdpa; Gated-DeltaNet: torch fallback" in output  # logged at start
    assert 2 < done < STEPS and (run / f"checkpoints/step-{done}/DONE").is_file(), (done, output[-3000:])
    r = subprocess.run(train_cmd(args, resume=True), env=ENV, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert comparable(run) == comparable(uninterrupted)


@pytest.mark.slow
def test_full_disk_names_the_checkpoint_and_keeps_the_previous_one(uninterrupted, tiny_xs_dir, synth_shards, tmp_path):
    """The run folder on a tmpfs that holds one checkpoint but not two: a clear error naming
    the checkpoint, the previous checkpoint intact; moved to a disk with room, --resume finishes
    the run exactly as the uninterrupted one."""
    mount = tmp_path / "small"
    mount.mkdir()
    size_mb = 1 + sum(f.stat().st_size for f in (uninterrupted / "checkpoints/step-2").iterdir()) * 1.5 / 2**20
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={int(size_mb)}m", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        args = overrides(tiny_xs_dir, synth_shards, mount, "full")
        r = subprocess.run(train_cmd(args), env=ENV, cwd=REPO, capture_output=True, text=True, timeout=900)
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
        assert "could not write checkpoint" in r.stderr and "step-4" in r.stderr and "step-2 is intact" in r.stderr
        assert (mount / "full/checkpoints/step-2/DONE").is_file()
        assert not list((mount / "full/checkpoints").glob(".*.tmp"))  # the partial one is removed
        subprocess.run(["cp", "-a", str(mount / "full"), str(tmp_path / "full")], check=True)
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    args = overrides(tiny_xs_dir, synth_shards, tmp_path, "full")
    r = subprocess.run(train_cmd(args, resume=True), env=ENV, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert comparable(tmp_path / "full") == comparable(uninterrupted)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["skip", "stop"])
def test_nonfinite_loss_is_skipped_or_stops(policy, tiny_xs_dir, synth_shards, tmp_path, monkeypatch):
    """A NaN loss in one mini-batch (injected into the PPO objective): 'skip' leaves the
    weights finite and counts it; 'stop' saves the mini-batch and stops before any checkpoint
    of that step. Never a checkpoint with NaN weights."""
    from mmzppo.train.loop import NonFiniteError, Trainer
    from mmzppo.train.objectives import ClippedPPO

    original, calls = ClippedPPO.loss, []

    def nan_once(self, *a, **kw):
        loss, stats = original(self, *a, **kw)
        calls.append(1)
        return (loss * float("nan"), stats) if len(calls) == 1 else (loss, stats)

    monkeypatch.setattr(ClippedPPO, "loss", nan_once)
    config = load_config(None, overrides(tiny_xs_dir, synth_shards, tmp_path, policy, "steps=2", f"nonfinite={policy}"))
    trainer = Trainer(config)
    if policy == "stop":
        with pytest.raises(NonFiniteError, match="not finite"):
            trainer.train()
        saved = json.loads(next((tmp_path / "stop/nonfinite").glob("step-0-*.json")).read_text())
        assert saved["step"] == 0 and saved["rollouts"] and "token_ids" in saved["rollouts"][0]
        assert not (tmp_path / "stop/checkpoints/step-1").exists()
        return
    trainer.train()
    metrics = rows(tmp_path / "skip/metrics.jsonl")
    assert [m["update/skipped_nonfinite"] for m in metrics] == [1, 0]
    assert all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())
    assert (tmp_path / "skip/checkpoints/step-2/DONE").is_file()


def test_config_errors_name_the_field_and_the_range():
    """Every field given a wrong type, and every checked field an out-of-range value: a
    ConfigError naming the field (and, for ranges, what is allowed)."""
    import dataclasses

    from mmzppo.train.config import Config, ConfigError

    wrong_type = {int: "many", float: "fast", bool: "perhaps", str: 3}
    for f in dataclasses.fields(Config):
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.name == "vision":
            bad = {"vision": "big"}
        elif f.name == "betas":
            bad = {"betas": [0.9, 2.0]}
        elif default is None:
            continue  # optional fields (teacher, dual_clip) take null
        else:
            bad = {f.name: wrong_type[type(default)]}
        with pytest.raises(ConfigError, match=f.name):
            load_config(
                None,
                [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in bad.items()]
                + (["teacher=t"] if f.name != "teacher" else []),
            )
    out_of_range = {
        "steps": 0,
        "tau": 1.5,
        "rho_aug": -0.1,
        "lr": float("inf"),
        "lr_nan": float("nan"),
        "group_size": 1,
        "top_p": 0.0,
        "eps_low": 1.0,
        "dual_clip": 0.5,
        "distill_beta": 2.0,
        "prefix_fraction": 1.0,
        "micro_batch_size": 0,
        "grad_clip": float("inf"),
    }
    for key, value in out_of_range.items():
        field = key.split("_nan")[0]
        with pytest.raises(ConfigError, match=rf"^{field}: invalid value .*; allowed: "):
            load_config(None, ["teacher=t", f"{field}={value}"])


@pytest.mark.slow
def test_cli_errors_after_parsing_are_one_line(tiny_xs_dir, synth_shards, tmp_path):
    """Missing model / data paths, an existing run, --resume with nothing to resume: a message
    naming the path and what to do, no traceback, before any model is loaded where possible."""
    cases = [
        (overrides(tmp_path / "no-model", synth_shards, tmp_path, "a"), [], "no such folder"),
        (overrides(tiny_xs_dir, tmp_path / "no-data", tmp_path, "b"), [], "train_shards"),
        (overrides(tiny_xs_dir, synth_shards, tmp_path, "c"), ["--resume"], "no complete checkpoint"),
        (overrides(tiny_xs_dir, synth_shards, tmp_path, "c", "student=null"), [], "student"),
    ]
    for args, flags, expected in cases:
        r = subprocess.run([*train_cmd(args), *flags], env=ENV, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert r.returncode != 0 and expected in r.stderr and "Traceback" not in r.stderr, (expected, r.stderr[-2000:])
