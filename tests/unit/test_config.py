"""The run config: paper defaults, YAML + overrides, errors that name the key."""

from __future__ import annotations

import pytest
from conftest import REPO

from mmzppo.train.config import Config, ConfigError
from mmzppo.train.config_files import describe, load_config, resolve_auto, save_config


def test_paper_defaults():
    c = Config(teacher="t")
    assert (c.group_size, c.teacher_group_size, c.tau, c.rho_replay, c.rho_aug) == (8, 4, 0.5, 0.25, 0.25)
    assert (c.buffer_capacity, c.eps_low, c.eps_high, c.dual_clip, c.updates_per_step) == (10_000, 0.2, 0.28, 10.0, 4)
    assert (c.lr, c.weight_decay, c.betas, c.grad_clip, c.temperature) == (1e-6, 0.1, (0.9, 0.999), 1.0, 1.0)
    assert c.use_buffer and c.use_bcq and c.use_ncq


RUN_CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if not {"accelerate", "data"} & set(p.parts))


@pytest.mark.parametrize("path", RUN_CONFIGS)  # accelerate configs and data recipes are not run configs
def test_every_shipped_config_loads(path):
    load_config(path)


ROWS = {  # config file: (method, use_buffer, use_bcq, use_ncq, adv_norm, updates_per_step)
    "zppo_qwen3.5-0.8b.yaml": ("zppo", True, True, True, "nontrivial", 4),
    "grpo_qwen3.5-0.8b.yaml": ("zppo", False, False, False, "nontrivial", 4),
    "grpo_buffer_qwen3.5-0.8b.yaml": ("zppo", True, False, False, "nontrivial", 4),
    "baselines/distill_off.yaml": ("distill_off", False, True, True, "nontrivial", 4),
    "baselines/distill_off_buffer.yaml": ("distill_off", True, True, True, "nontrivial", 4),
    "baselines/distill_on.yaml": ("distill_on", False, True, True, "nontrivial", 4),
    "baselines/hint.yaml": ("hint", True, True, True, "nontrivial", 4),
    "baselines/prefix.yaml": ("prefix", True, True, True, "nontrivial", 4),
    "ablations/bcq_ncq_no_buffer.yaml": ("zppo", False, True, True, "nontrivial", 4),
    "ablations/buffer_bcq.yaml": ("zppo", True, True, False, "nontrivial", 4),
    "ablations/buffer_ncq.yaml": ("zppo", True, False, True, "nontrivial", 4),
    "ablations/adv_norm_all.yaml": ("zppo", True, True, True, "all", 4),
    "ablations/adv_norm_none.yaml": ("zppo", True, True, True, "none", 4),
    **{f"ablations/updates_{i}.yaml": ("zppo", True, True, True, "nontrivial", i) for i in (1, 8, 16)},
}


@pytest.mark.parametrize("row", sorted(ROWS))
def test_every_row_of_the_paper_is_a_config(row):
    """The 0.8B rows, and the same rows for the tiny synthetic runs: the same method and
    switches, each on its base file's model, data and vision settings."""
    c = load_config(REPO / "configs" / row)
    assert (c.method, c.use_buffer, c.use_bcq, c.use_ncq, c.adv_norm, c.updates_per_step) == ROWS[row]
    assert c.student == "Qwen/Qwen3.5-0.8B" and c.vision.max_pixels == 1280 * 32 * 32  # from the base file
    tiny = {
        "zppo_qwen3.5-0.8b.yaml": "synthetic_s.yaml",
        "grpo_qwen3.5-0.8b.yaml": "synthetic/grpo.yaml",
        "grpo_buffer_qwen3.5-0.8b.yaml": "synthetic/grpo_buffer.yaml",
    }.get(row, "synthetic/" + row.split("/")[-1])
    t = load_config(REPO / "configs" / tiny)
    assert (t.method, t.use_buffer, t.use_bcq, t.use_ncq, t.adv_norm, t.updates_per_step) == ROWS[row]
    assert t.student == ".cache/mmzppo/synthetic_s/student" and t.name != c.name


def test_base_files_chain_and_cycles(tmp_path):
    (tmp_path / "a.yaml").write_text("teacher: t\ntau: 0.3\nvision:\n  max_pixels: 4096\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\ntau: 0.4\nvision:\n  min_pixels: 1024\n")
    c = load_config(tmp_path / "b.yaml", ["rho_aug=0.5"])
    assert (c.tau, c.rho_aug, c.vision.max_pixels, c.vision.min_pixels) == (0.4, 0.5, 4096, 1024)
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text("tau: [0.3\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "c.yaml")


def test_switch_configs_are_the_baselines():
    grpo = load_config(REPO / "configs/grpo_qwen3.5-0.8b.yaml")
    assert not (grpo.use_buffer or grpo.use_bcq or grpo.use_ncq)
    dagger = load_config(REPO / "configs/grpo_buffer_qwen3.5-0.8b.yaml")
    assert dagger.use_buffer and not (dagger.use_bcq or dagger.use_ncq)


def test_overrides_and_round_trip(tmp_path):
    c = load_config(
        REPO / "configs/zppo_qwen3.5-0.8b.yaml", ["tau=0.375", "use_ncq=false", "vision.fps=1.0", "dual_clip=null"]
    )
    assert c.tau == 0.375 and not c.use_ncq and c.vision.fps == 1.0 and c.dual_clip is None
    assert c.vision.max_pixels == 1280 * 32 * 32  # the file's vision keys survive a vision override
    save_config(c, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == c


@pytest.mark.parametrize(
    "override, key",
    [
        ("taus=0.5", "taus"),
        ("tau=high", "tau"),
        ("tau=1.5", "tau"),
        ("group_size=1", "group_size"),
        ("group_size=2.5", "group_size"),
        ("use_bcq=maybe", "use_bcq"),
        ("teacher_kind=oracle", "teacher_kind"),
        ("vision.max_pix=3", "vision.max_pix"),
        ("vision.nframes=8", "vision"),  # fps also set: exactly one is allowed
        ("dtype=int8", "dtype"),
        ("betas=[0.9]", "betas"),
        ("candidate_compression=summarise", "candidate_compression"),
        ("candidate_max_words=0", "candidate_max_words"),
        ("ncq_max_candidates=-1", "ncq_max_candidates"),
        ("data_shuffle=-5", "data_shuffle"),
        ("keep_checkpoints=-1", "keep_checkpoints"),
        ("train_top_layers=1.5", "train_top_layers"),
        ("sharding=zero3", "sharding"),
    ],
)
def test_invalid_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, ["teacher=t", override])


def test_local_teacher_needs_a_model_and_help_lists_every_key():
    with pytest.raises(ConfigError, match="teacher"):
        load_config(None, [])
    text = describe()
    for key in ("tau", "rho_aug", "use_buffer", "vision"):
        assert f"\n{key} = " in "\n" + text


def test_candidate_compression_resolves_against_the_teacher():
    from mmzppo.train.setup import truncation

    def compression(*overrides):
        return resolve_auto(load_config(None, list(overrides))).candidate_compression

    assert compression("teacher=t") == "teacher"  # 'auto' + a local teacher: the paper's rewrite
    assert compression("teacher_kind=reference") == "truncate"
    assert compression("teacher=t", "candidate_compression=truncate") == "truncate"
    with pytest.raises(ConfigError, match="candidate_compression"):  # no model to rewrite with
        load_config(None, ["teacher_kind=reference", "candidate_compression=teacher"])
    squeeze = truncation(load_config(None, ["teacher_kind=reference", "candidate_max_words=3"]))
    out = squeeze(["one two three four five\nsix seven \\boxed{12}", "a b c d e f g h \\boxed{7}"])
    assert out == ["one two three\nFinal answer: \\boxed{12}", "a b c\nFinal answer: \\boxed{7}"]


def test_method_config_errors(tmp_path):
    """A method's requirements on the teacher and its loss, checked when the config loads."""
    with pytest.raises(ConfigError, match="method"):
        load_config(None, ["teacher=t", "method=gkd"])
    with pytest.raises(ConfigError, match="distributions"):
        load_config(None, ["teacher_kind=reference", "method=distill_on"])
    with pytest.raises(ConfigError, match="correct answers"):
        load_config(None, ["teacher_kind=none", "method=hint"])
    with pytest.raises(ConfigError, match="distill_loss"):
        load_config(None, ["teacher=t", "method=distill_off", "distill_loss=reverse_kl_sampled"])
    with pytest.raises(ConfigError, match="adv_norm"):
        load_config(None, ["teacher=t", "adv_norm=some"])
