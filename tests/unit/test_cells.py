"""The comparison's cache: a cell's run folder is named by method, size, seed and budget only, so
a grid changed in anything else must not resume or reuse the run of the former settings."""

from __future__ import annotations

import pytest

from mmzppo.tools.grid import CONFIG
from mmzppo.tools.stages import check_same_settings
from mmzppo.train.config_files import load_config, resolve_auto, save_config


def test_a_run_folder_of_other_settings_is_refused(tmp_path):
    keys = [f"student={tmp_path}/s", f"train_shards={tmp_path}/rl", f"output_dir={tmp_path}", "name=cell"]
    config = load_config(CONFIG, [*keys, "lr=1e-5"])
    check_same_settings(config)  # no run yet: nothing to compare
    config.run_dir.mkdir(parents=True)
    save_config(resolve_auto(config), config.run_dir / "config.yaml")  # as the trainer saves it
    check_same_settings(load_config(CONFIG, [*keys, "lr=1e-5"]))  # the same settings resume
    with pytest.raises(ValueError, match=r"holds a run with other settings \(lr: 1e-05 there, 5e-05 now\)"):
        check_same_settings(load_config(CONFIG, [*keys, "lr=5e-5"]))


def test_the_smollm2_config_file_has_the_grids_rl_settings():
    """configs/smollm2_text.yaml (a run of its own) says it has grid.SMOLLM2's RL settings."""
    from pathlib import Path

    from mmzppo.tools.grid import SMOLLM2, grid_config

    own = load_config(Path(__file__).resolve().parents[2] / "configs" / "smollm2_text.yaml").to_dict()
    grid = grid_config(SMOLLM2).to_dict()
    # its own run's name, data, length and checkpoints; no vision (text only); micro-batches change memory, not math
    own_only = ("name", "student", "train_shards", "steps", "save_every", "keep_checkpoints", "log_samples")
    own_only += ("vision", "micro_batch_tokens")
    assert {k: v for k, v in own.items() if k not in own_only} == {k: v for k, v in grid.items() if k not in own_only}


def test_a_grid_changed_by_set_writes_its_own_report(tmp_path, monkeypatch):
    """`reproduce --set lr=3e-4` names its report results-lr3e-4, never its regime's results.md."""
    import dataclasses

    from mmzppo.tools import reproduce
    from mmzppo.tools.grid import MAIN, report_stem

    assert report_stem(MAIN) == "results" and report_stem(dataclasses.replace(MAIN, variant="x")) == "results-x"
    seen = {}

    def run_grid(out, grid, jobs):  # nothing trained: the grid the command built is what is checked
        seen["grid"] = grid
        return [], []

    monkeypatch.setattr(reproduce, "run_grid", run_grid)
    monkeypatch.setattr(reproduce, "report", lambda out, grid, *a: tmp_path / f"{report_stem(grid)}.md")
    reproduce.main(["--regime", "text", "--out", str(tmp_path), "--set", "lr=3e-4", "--set", "data_shuffle=1000"])
    assert report_stem(seen["grid"]) == "results-lr3e-4-data_shuffle1000"
    assert seen["grid"].name == "main regime: text RL, with lr3e-4-data_shuffle1000"
    assert seen["grid"].overrides[-2:] == ("lr=3e-4", "data_shuffle=1000")
