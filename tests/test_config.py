"""The run config: paper defaults, YAML + overrides, errors that name the key."""

from __future__ import annotations

import pytest

from conftest import REPO
from mmzppo.config import Config, ConfigError, describe, load_config, save_config


def test_paper_defaults():
    c = Config(teacher="t")
    assert (c.group_size, c.teacher_group_size, c.tau, c.rho_replay, c.rho_aug) == (8, 4, 0.5, 0.25, 0.25)
    assert (c.buffer_capacity, c.eps_low, c.eps_high, c.dual_clip, c.updates_per_step) == (10_000, 0.2, 0.28, 10.0, 4)
    assert (c.lr, c.weight_decay, c.betas, c.grad_clip, c.temperature) == (1e-6, 0.1, (0.9, 0.999), 1.0, 1.0)
    assert c.use_buffer and c.use_bcq and c.use_ncq


@pytest.mark.parametrize("path", sorted(p for p in (REPO / "configs").rglob("*.yaml") if "accelerate" not in p.parts))
def test_every_shipped_config_loads(path):
    load_config(path)


def test_switch_configs_are_the_baselines():
    grpo = load_config(REPO / "configs/grpo_qwen3.5-0.8b.yaml")
    assert not (grpo.use_buffer or grpo.use_bcq or grpo.use_ncq)
    dagger = load_config(REPO / "configs/grpo_buffer_qwen3.5-0.8b.yaml")
    assert dagger.use_buffer and not (dagger.use_bcq or dagger.use_ncq)


def test_overrides_and_round_trip(tmp_path):
    c = load_config(REPO / "configs/zppo_qwen3.5-0.8b.yaml", ["tau=0.375", "use_ncq=false", "vision.fps=1.0", "dual_clip=null"])
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
    from mmzppo.train import truncation

    assert load_config(None, ["teacher=t"]).compress_with_teacher  # 'auto' + a local teacher: the paper's rewrite
    assert not load_config(None, ["teacher_kind=reference"]).compress_with_teacher
    assert not load_config(None, ["teacher=t", "candidate_compression=truncate"]).compress_with_teacher
    with pytest.raises(ConfigError, match="candidate_compression"):  # no model to rewrite with
        load_config(None, ["teacher_kind=reference", "candidate_compression=teacher"])
    squeeze = truncation(load_config(None, ["teacher_kind=reference", "candidate_max_words=3"]))
    out = squeeze(["one two three four five\nsix seven \\boxed{12}", "a b c d e f g h \\boxed{7}"])
    assert out == ["one two three\nFinal answer: \\boxed{12}", "a b c\nFinal answer: \\boxed{7}"]
