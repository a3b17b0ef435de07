"""ZPPO end to end on tiny models: run folder, resume determinism, two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from conftest import REPO
from served import free_port

from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.loading import load_policy
from mmzppo.train.config_files import load_config

TINY = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]


def overrides(warm_xs, shards, out, name, steps, extra=()):
    return [
        f"student={warm_xs}",
        f"teacher={warm_xs}",
        "teacher_kind=local",
        f"train_shards={shards}",
        "prompts_per_step=8",
        "group_size=4",
        "teacher_group_size=4",
        "max_new_tokens=40",
        f"steps={steps}",
        "updates_per_step=2",
        "micro_batch_size=16",
        "lr=1e-3",
        "dtype=float32",
        f"output_dir={out}",
        f"name={name}",
        "save_every=2",
        "rollout_batch_size=64",
        "rho_aug=0.5",
        *TINY,
        *extra,
    ]


def read_jsonl(path):
    return [json.loads(line) for line in open(path)]


def without_times(rows):
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


def test_zppo_run_folder_and_resume(warm_xs, synth_shards, tmp_path):
    from mmzppo.train.loop import Trainer

    Trainer(load_config(None, overrides(warm_xs, synth_shards, tmp_path, "full", 3))).train()
    run = tmp_path / "full"
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [0, 1, 2]
    for key in (
        "reward/plain_mean",
        "reward/bcq_mean",
        "reward/ncq_mean",
        "frac_reward_zero_std",
        "buffer/size",
        "hard/questions",
        "hard/pre_capped",
        "teacher/sampled",
        "teacher/rewrites",
        "buffer/admitted",
        "buffer/graduated",
        "buffer/evicted",
        "groups/bcq",
        "groups/ncq",
        "completions/mean_length",
        "clip_ratio/high",
        "entropy",
        "grad_norm",
        "time/rollout",
        "time/teacher",
        "time/update",
        "loss",
    ):
        assert key in metrics[0], key
    assert sum(m["groups/bcq"] + m["groups/ncq"] for m in metrics) > 0  # reformulations were formed
    assert any(m["grad_norm"] > 0 for m in metrics)  # some group had non-zero advantages
    assert metrics[-1]["buffer/size"] == sum(m["buffer/admitted"] - m["buffer/graduated"] for m in metrics)
    samples = read_jsonl(run / "samples.jsonl")
    kinds = {s["kind"] for s in samples}
    assert kinds & {"bcq", "ncq"} and all(len(s["responses"]) == 4 for s in samples)
    assert (run / "config.yaml").is_file() and list((run / "tb").iterdir())
    assert (run / "checkpoints/step-2/DONE").is_file() and (run / "checkpoints/step-3/DONE").is_file()
    load_policy(run / "checkpoints/step-3", vision=TINY_VISION)  # a plain Hugging Face checkpoint

    # interrupted after 2 steps, resumed to 3: the same metrics as the uninterrupted run
    Trainer(load_config(None, overrides(warm_xs, synth_shards, tmp_path, "split", 2))).train()
    Trainer(load_config(None, overrides(warm_xs, synth_shards, tmp_path, "split", 3)), resume=True).train()
    assert without_times(read_jsonl(tmp_path / "split/metrics.jsonl")) == without_times(metrics)
    with pytest.raises(FileExistsError):
        Trainer(load_config(None, overrides(warm_xs, synth_shards, tmp_path, "full", 3)))


def test_top_layers_only_train_and_resume_exactly(warm_xs, synth_shards, tmp_path):
    """`train_top_layers: 1`: only the last decoder layer and the final norm move; the optimizer
    holds those weights only, and a run resumed from its checkpoint equals the uninterrupted one.
    `ncq_max_candidates: 2`: no NCQ shows more than 2 candidates."""
    from mmzppo.train.loop import Trainer

    extra = ("train_top_layers=1", "ncq_max_candidates=2", "rho_aug=1.0", "log_samples=8")
    full = Trainer(load_config(None, overrides(warm_xs, synth_shards, tmp_path, "full", 2, extra)))
    full.train()
    start = load_policy(warm_xs, vision=TINY_VISION).model.state_dict()
    last = len(full.model.model.language_model.layers) - 1
    top = (f"model.language_model.layers.{last}.", "model.language_model.norm.")
    moved = {k for k, v in full.model.state_dict().items() if not torch.equal(start[k], v)}
    assert moved and all(k.startswith(top) for k in moved)
    held = {id(p) for g in full.optimizer.param_groups for p in g["params"]}
    assert held == {id(p) for k, p in full.model.named_parameters() if k.startswith(top)}
    ncqs = [s for s in read_jsonl(tmp_path / "full/samples.jsonl") if s["kind"] == "ncq"]
    assert ncqs and all(len(s["candidates"]) <= 2 for s in ncqs)

    Trainer(load_config(None, overrides(warm_xs, synth_shards, tmp_path, "split", 1, extra))).train()
    Trainer(load_config(None, overrides(warm_xs, synth_shards, tmp_path, "split", 2, extra)), resume=True).train()
    metrics = without_times(read_jsonl(tmp_path / "full/metrics.jsonl"))
    assert without_times(read_jsonl(tmp_path / "split/metrics.jsonl")) == metrics


def test_seeds_vary_the_data_order_only_with_data_shuffle(warm_xs, synth_shards, tmp_path):
    """data_shuffle 0 (the default): every seed reads the shards in one order; n > 0: the seed shuffles it."""
    from mmzppo.train.loop import Trainer

    def first_uids(seed, shuffle):
        extra = (f"seed={seed}", f"data_shuffle={shuffle}")
        t = Trainer(load_config(None, overrides(warm_xs, synth_shards, tmp_path, f"s{seed}-{shuffle}", 1, extra)))
        return [next(t.data).uid for _ in range(8)]

    assert first_uids(0, 0) == first_uids(1, 0)
    assert first_uids(0, 100) != first_uids(1, 100)


def test_keep_checkpoints_deletes_the_older_ones(warm_xs, synth_shards, tmp_path):
    """keep_checkpoints 2 with a checkpoint every step: after 3 steps step-2 and step-3 are left,
    and the run resumes from the newest."""
    from mmzppo.train.loop import Trainer, latest_checkpoint

    extra = ("use_bcq=false", "use_ncq=false", "use_buffer=false", "teacher_kind=none", "save_every=1")
    config = load_config(None, overrides(warm_xs, synth_shards, tmp_path, "kept", 3, (*extra, "keep_checkpoints=2")))
    Trainer(config).train()
    assert sorted(p.name for p in (tmp_path / "kept/checkpoints").iterdir()) == ["step-2", "step-3"]
    assert latest_checkpoint(tmp_path / "kept").name == "step-3"


def test_grpo_baseline_has_no_reformulations(warm_xs, synth_shards, tmp_path):
    from mmzppo.train.loop import Trainer

    extra = ("use_bcq=false", "use_ncq=false", "use_buffer=false", "teacher_kind=none")
    Trainer(load_config(None, overrides(warm_xs, synth_shards, tmp_path, "grpo", 2, extra))).train()
    metrics = read_jsonl(tmp_path / "grpo/metrics.jsonl")
    assert all(m["groups/bcq"] == m["groups/ncq"] == 0 and m["buffer/size"] == 0 for m in metrics)


def accelerate(args, nproc, timeout=600, config="cpu_2proc.yaml", extra=()):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "configs/accelerate" / config),
        "--num_processes",
        str(nproc),
        *extra,
        *args,
    ]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["ppo", "jsd"])
def test_two_processes_same_loss_as_one(tiny_xs_dir, objective):
    """One fixed global mini-batch: 2 processes give the loss and gradient of 1 process,
    with the model replicated or FSDP-sharded (ranks holding unequal micro-batch counts),
    for the PPO loss and for the distillation loss (one 1-process reference for both layouts:
    one process shards nothing)."""

    def check(layout: str, nproc: int) -> dict:
        port = ["--main_process_port", str(free_port())]  # two launches at once: a rendezvous port each
        r = accelerate(
            [str(REPO / "mmzppo/tools/dist_check.py"), str(tiny_xs_dir), layout, objective], nproc, extra=port
        )
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads(r.stdout.strip().splitlines()[-1])

    with ThreadPoolExecutor(2) as pool:  # the 1-process reference beside the replicated 2-process run
        one, *twos = pool.map(check, ("none", "none", "fsdp"), (1, 2, 2))
    if objective == "ppo":
        assert one["clip_high"] > 0  # the check exercises clipping
    else:
        assert one["divergence"] > 0
    for layout, two in zip(("none", "fsdp"), twos):
        if objective == "jsd":
            assert two["divergence"] == pytest.approx(one["divergence"], rel=1e-5), layout
        assert two["loss"] == pytest.approx(one["loss"], rel=1e-5), layout
        assert two["grad_norm"] == pytest.approx(one["grad_norm"], rel=1e-4), layout


@pytest.mark.slow
def test_two_process_runs_replicated_and_fsdp(warm_xs, synth_shards, tmp_path):
    """2 steps on 2 processes, replicated; then FSDP2 (launched with the FSDP accelerate
    config, so rank 1 loads zeros and gets rank 0's weights by broadcast) for 1 step, resumed
    to 2: the same run, up to float summation order."""
    from safetensors.torch import load_file

    stat_keys = ("loss", "entropy", "clip_ratio/low", "clip_ratio/high", "clip_ratio/dual", "approx_kl")

    args = ["-m", "mmzppo.train", *overrides(warm_xs, synth_shards, tmp_path, "ddp", 2)]
    r = accelerate(args, 2)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = read_jsonl(tmp_path / "ddp/metrics.jsonl")
    assert len(metrics) == 2 and metrics[0]["groups/plain"] == 8  # 4 new questions per rank, summed
    assert (tmp_path / "ddp/checkpoints/step-2/trainer_state_rank1.pt").is_file()

    fsdp = ("fsdp.yaml", ["--mixed_precision", "no"])
    for steps, resume in ((1, []), (2, ["--resume"])):
        args = ["-m", "mmzppo.train", *overrides(warm_xs, synth_shards, tmp_path, "fsdp", steps), *resume]
        r = accelerate(args, 2, config=fsdp[0], extra=fsdp[1])
        assert r.returncode == 0, r.stderr[-3000:]
        assert "FSDP2" in r.stdout + r.stderr  # the layout was picked up from the launch config
    # the same rollouts, rewards and buffer; the loss side equal up to float summation order
    # (sharded gradients are summed shard by shard, and the norm of a mixed model in float64)
    sharded_metrics = without_times(read_jsonl(tmp_path / "fsdp/metrics.jsonl"))
    assert len(sharded_metrics) == 2
    for replicated_row, sharded_row in zip(without_times(metrics), sharded_metrics):
        assert sharded_row.keys() == replicated_row.keys()
        for key, value in replicated_row.items():
            if key in stat_keys or key == "grad_norm":
                assert sharded_row[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
            else:
                assert sharded_row[key] == value, key
    full = load_file(tmp_path / "ddp/checkpoints/step-2/model.safetensors")
    sharded = load_file(tmp_path / "fsdp/checkpoints/step-2/model.safetensors")
    assert full.keys() == sharded.keys()
    for key in full:
        torch.testing.assert_close(sharded[key], full[key], rtol=0, atol=1e-5)
