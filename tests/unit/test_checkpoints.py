"""Checkpoint housekeeping that needs no model: which checkpoints `keep_checkpoints` deletes."""

from __future__ import annotations


def test_prune_keeps_the_newest_and_the_ones_an_evaluation_waits_for(tmp_path):
    """checkpoints.prune (keep_checkpoints): complete checkpoints beyond the newest N go, unless
    an evaluation still waits for them; one being written (no DONE) is never touched."""
    from mmzppo.train.checkpoints import prune

    for step in (1, 2, 3, 5, 10):
        (tmp_path / "checkpoints" / f"step-{step}").mkdir(parents=True)
        (tmp_path / "checkpoints" / f"step-{step}" / "DONE").write_text(str(step))
    (tmp_path / "checkpoints" / "step-11").mkdir()  # no DONE: still being written
    gone = prune(tmp_path, 2, keep={2})
    assert sorted(int(p.name.split("-")[1]) for p in gone) == [1, 3]
    left = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "checkpoints").iterdir())
    assert left == [2, 5, 10, 11]
    assert prune(tmp_path, 0) == []  # 0: keep all
