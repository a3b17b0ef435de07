"""Every method on the one loop, end to end on tiny Qwen3.5 models and real synthetic shards
(image, video and text questions in every step): run folder, shared metric names, resume."""

from __future__ import annotations

import json

import pytest
import yaml

from mmzppo.data.vision import TINY_VISION
from mmzppo.train.config import ConfigError
from mmzppo.train.config_files import load_config

TINY = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]
SHARED = (
    "reward/plain_mean",
    "groups/plain",
    "frac_reward_zero_std",
    "completions/mean_length",
    "buffer/size",
    "buffer/admitted",
    "loss",
    "grad_norm",
    "entropy",
    "teacher/sampled",
    "time/rollout",
    "time/update",
)


@pytest.fixture(scope="module")
def mixed_shards(tmp_path_factory):
    """An image, a video and a text task interleaved: every step of 3 questions has all three."""
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite

    root = tmp_path_factory.mktemp("mixed")
    tasks = ["count_color", "motion_direction", "arith_chain"]
    write_shards(list(generate_suite(tasks, 4, 0, "train", root / "media", levels=[1])), root / "train", maxcount=12)
    return root / "train"


def run(student, teacher, shards, out, name, method, steps, *extra, resume=False):
    from mmzppo.train.loop import Trainer

    config = load_config(
        None,
        [
            f"student={student}",
            f"teacher={teacher}",
            "teacher_kind=local",
            f"train_shards={shards}",
            f"method={method}",
            "prompts_per_step=3",
            "group_size=4",
            "teacher_group_size=4",
            "max_new_tokens=40",
            f"steps={steps}",
            "updates_per_step=2",
            "micro_batch_size=8",
            "lr=1e-3",
            "dtype=float32",
            f"output_dir={out}",
            f"name={name}",
            "save_every=1",
            "rho_aug=1.0",
            "candidate_compression=truncate",
            *TINY,
            *extra,
        ],
    )
    Trainer(config, resume=resume).train()
    return [json.loads(line) for line in open(out / name / "metrics.jsonl")]


def without_times(rows):
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


METHOD_CASES = {
    # method: (student, teacher kind, extra overrides, the method's own metric that must be > 0 over the run)
    "hint": ("warm", ["teacher_kind=reference"], "groups/hint"),
    "prefix": ("warm", ["teacher_kind=reference"], "groups/prefix"),
    "distill_off": ("raw", [], "distill/sequences"),
    "distill_off_reference": ("raw", ["teacher_kind=reference"], "distill/sequences"),  # a point-mass teacher
    "distill_on": ("raw", [], "teacher/scored"),
    "distill_on_topk_rkl": ("raw", ["distill_loss=reverse_kl_sampled", "distill_top_k=8"], "teacher/scored"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(METHOD_CASES))
def test_method_runs_and_resumes(case, tiny_xs_dir, warm_xs, mixed_shards, tmp_path):
    """2 steps of each method write ZPPO's metric names where they apply and the method's
    own counts; a run stopped after 1 step and resumed has the same metrics."""
    method = case.split("_topk")[0].removesuffix("_reference")
    student_kind, extra, own = METHOD_CASES[case]
    student = warm_xs if student_kind == "warm" else tiny_xs_dir  # distillation: a raw student, a warmed teacher
    full = run(student, warm_xs, mixed_shards, tmp_path, "full", method, 2, *extra)
    assert [m["step"] for m in full] == [0, 1]
    for key in SHARED:
        assert key in full[0], key
    assert sum(m[own] for m in full) > 0, own
    assert any(m["grad_norm"] > 0 for m in full)
    if method.startswith("distill"):
        assert all(m["distill/divergence"] > 0 for m in full if m["loss"])
    else:
        assert "clip_ratio/high" in full[0] and f"reward/{method}_mean" in full[0]
    saved = yaml.safe_load((tmp_path / "full/config.yaml").read_text())
    assert saved["method"] == method
    samples = [json.loads(line) for line in open(tmp_path / "full/samples.jsonl")]
    assert {s["kind"] for s in samples} & {"hint", "prefix", "teacher", "plain"}

    run(student, warm_xs, mixed_shards, tmp_path, "split", method, 1, *extra)
    resumed = run(student, warm_xs, mixed_shards, tmp_path, "split", method, 2, *extra, resume=True)
    assert without_times(resumed) == without_times(full)


@pytest.mark.slow
def test_prefix_groups_continue_a_token_prefix(warm_xs, mixed_shards, tmp_path):
    """Prefix prompts end in an assistant turn holding 40% of the answer's tokens; the
    continuation alone is the completion (the prefix is prompt, so never in the loss)."""
    run(warm_xs, warm_xs, mixed_shards, tmp_path, "prefix", "prefix", 1, "teacher_kind=reference", "log_samples=8")
    samples = [json.loads(line) for line in open(tmp_path / "prefix/samples.jsonl")]
    prefixed = [s for s in samples if s["kind"] == "prefix"]
    assert prefixed and all(s["continue_final"] for s in prefixed)


@pytest.mark.slow
def test_ncq_only_ablation_calls_the_teachers_rewrite(warm_xs, mixed_shards, tmp_path):
    """configs/ablations/buffer_ncq.yaml with a local teacher: the teacher is loaded and
    rewrites the NCQ candidates (it used not to be loaded, and candidates were truncated)."""
    metrics = run(
        warm_xs, warm_xs, mixed_shards, tmp_path, "ncq", "zppo", 2, "use_bcq=false", "candidate_compression=auto"
    )
    assert sum(m["groups/ncq"] for m in metrics) > 0 and sum(m["groups/bcq"] for m in metrics) == 0
    assert sum(m["teacher/rewrites"] for m in metrics) > 0 and sum(m["teacher/sampled"] for m in metrics) == 0
    saved = yaml.safe_load((tmp_path / "ncq/config.yaml").read_text())
    assert saved["teacher_kind"] == "local" and saved["candidate_compression"] == "teacher"


def test_grpo_saves_what_ran(warm_xs, mixed_shards, tmp_path):
    """GRPO with a teacher named in the config: no teacher is loaded, and the saved config says so."""
    metrics = run(
        warm_xs,
        warm_xs,
        mixed_shards,
        tmp_path,
        "grpo",
        "zppo",
        1,
        "use_bcq=false",
        "use_ncq=false",
        "use_buffer=false",
    )
    assert metrics[0]["teacher/sampled"] == 0 and metrics[0]["groups/bcq"] == 0
    saved = yaml.safe_load((tmp_path / "grpo/config.yaml").read_text())
    assert saved["teacher_kind"] == "none" and saved["candidate_compression"] == "truncate"


def test_distillation_refuses_a_teacher_with_another_tokenizer(tiny_xs_dir, mixed_shards, tmp_path, smollm2_dir):
    from mmzppo.train.loop import Trainer

    config = load_config(
        None,
        [
            f"student={tiny_xs_dir}",
            f"teacher={smollm2_dir}",
            "method=distill_on",
            f"train_shards={mixed_shards}",
            f"output_dir={tmp_path}",
            "dtype=float32",
            *TINY,
        ],
    )
    with pytest.raises(ConfigError, match="different tokenizers"):
        Trainer(config)
