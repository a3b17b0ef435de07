"""The judge in a training run (issue 26): free-form rows judged by a served judge while the
run trains, killed with SIGKILL and resumed (the verdict cache comes back with the checkpoint,
so the resumed run asks and logs exactly what an uninterrupted one does), and a judge that is
down under `teacher_failure: skip` (the unknown rewards' groups left out, counted)."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest
import torch
from conftest import REPO
from judge_stub import StubJudge
from test_train_faults import ENV, TINY, comparable, kill_when, rows, train_cmd

from mmzppo.data.synthetic import generate
from mmzppo.tools import demo

STEPS = 4


@pytest.fixture(scope="module")
def judged_shards(tmp_path_factory):
    """Level-1 text questions the warmed-up start answers in a box: half judged (llm_judge),
    half numeric (the rule)."""
    from mmzppo.data.shards import write_shards

    root = tmp_path_factory.mktemp("judged")
    items = list(generate("arith_chain", 24, 0, "train", root / "media", levels=[1]))
    items = [dataclasses.replace(s, reward_type="llm_judge" if i % 2 else "numeric") for i, s in enumerate(items)]
    write_shards(items, root / "train", maxcount=12, progress=False)
    return root / "train"


@pytest.fixture(scope="module")
def stub():
    s = StubJudge()
    yield s
    s.close()


def args(shards, out, name, judge_url, *extra):
    return [
        f"student={demo.SHIPPED_START}",
        "teacher_kind=reference",
        f"train_shards={shards}",
        "prompts_per_step=4",
        "group_size=4",
        "max_new_tokens=48",
        f"steps={STEPS}",
        "updates_per_step=1",
        "lr=1e-4",
        "dtype=float32",
        f"output_dir={out}",
        f"name={name}",
        "save_every=1",
        "rho_aug=0.5",
        "judge=on",
        f"judge_endpoint={judge_url}",
        "teacher_retries=0",
        *TINY,
        *extra,
    ]


def judge_cache(run) -> list:
    newest = max((run / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    return torch.load(newest / "trainer_state_rank0.pt", weights_only=False)["judge"]["cache"]


def without_latency(metrics: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "judge/latency_s"} for m in metrics]


@pytest.mark.slow
def test_judged_run_killed_and_resumed_equals_uninterrupted(judged_shards, stub, tmp_path):
    clean = subprocess.run(
        train_cmd(args(judged_shards, tmp_path, "clean", stub.url)),
        env=ENV,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert clean.returncode == 0, clean.stderr[-3000:]
    metrics, samples = comparable(tmp_path / "clean")
    assert sum(m["judge/asked"] for m in metrics) > 0 and all(0 < m["judge/share"] < 1 for m in metrics)
    assert all(m["judge/failed"] == m["judge/unknown"] == 0 for m in metrics)

    run = tmp_path / "killed"
    proc = subprocess.Popen(
        train_cmd(args(judged_shards, tmp_path, "killed", stub.url)),
        env=ENV,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert kill_when(proc, lambda: len(rows(run / "metrics.jsonl")) >= 3)  # in step 3, after checkpoint step-2
    resumed = subprocess.run(
        train_cmd(args(judged_shards, tmp_path, "killed", stub.url), resume=True),
        env=ENV,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics_k, samples_k = comparable(run)
    assert without_latency(metrics_k) == without_latency(metrics) and samples_k == samples
    assert judge_cache(run) == judge_cache(tmp_path / "clean") and judge_cache(run)


def test_a_dead_judge_with_skip_leaves_groups_out(judged_shards, tmp_path):
    import socket

    from mmzppo.train.config_files import load_config
    from mmzppo.train.loop import Trainer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    overrides = args(judged_shards, tmp_path, "dead", dead, "teacher_failure=skip", "steps=1", "save_every=0")
    trainer = Trainer(load_config(None, overrides))
    metrics, _ = trainer.step()
    assert metrics["judge/failed"] > 0 and metrics["judge/unknown"] > 0
    assert metrics["judge/asked"] == metrics["judge/failed"]  # each distinct answer asked once, each failed
    assert metrics["groups/plain"] < 4  # the questions with an unknown reward sat the step out
