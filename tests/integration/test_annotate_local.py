"""The `annotate` command (`mmzppo.teachers.annotate.main`) with a local tiny Qwen3.5 as the
teacher: every sample of the input shards comes back with its teacher answers, and the progress
files record each one."""

from __future__ import annotations


def test_annotate_with_a_local_model(tiny_xs_dir, tmp_path):
    from mmzppo.data.shards import ShardReader, write_shards
    from mmzppo.data.synthetic import generate_suite
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.teachers.annotate import main as annotate_main

    samples = list(generate_suite(["count_color", "arith_chain"], 2, 0, "train", tmp_path / "media", levels=[1]))
    write_shards(samples, tmp_path / "in", maxcount=2, progress=False)
    annotate_main(
        [
            "annotate",
            "--shards",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--model",
            str(tiny_xs_dir),
            "--n",
            "3",
            "--max-new-tokens",
            "8",
            "--vision",
            "tiny",
            "--dtype",
            "float32",
        ]
    )
    read = list(ShardReader(str(tmp_path / "out"), vision=TINY_VISION))
    assert sorted(s.uid for s in read) == sorted(s.uid for s in samples)
    assert all(len(s.meta["teacher"]) == 3 for s in read)
    progress = sorted((tmp_path / "out" / ".annotate").glob("*.jsonl"))
    assert sum(len(p.read_text().splitlines()) for p in progress) == len(samples)
