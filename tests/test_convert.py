"""Every real benchmark folder converts to shards with its SOURCE.md item count; CLI smoke tests."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mmzppo.data.convert import FORMATS, convert
from mmzppo.data.shards import ShardReader, read_index
from mmzppo.models import TINY_VISION
from mmzppo.reward import grade

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ["llm/aime25", "llm/gsm8k", "llm/math500", "llm/mmlu", "llm/mmlu_pro", "video/tempcompass",
           "video/tgifqa", "vlm/logicvista", "vlm/mathvision", "vlm/mmmu", "vlm/puzzlevqa"]  # fmt: skip


def source_items(folder: Path) -> int:
    """The item count a SOURCE.md states ("**Items:** N")."""
    return int(re.search(r"\*\*Items:\*\*\s*(\d+)", (folder / "SOURCE.md").read_text())[1])


def test_every_benchdata_folder_is_listed(benchdata):
    found = sorted(str(p.parent.relative_to(benchdata)) for p in benchdata.glob("*/*/SOURCE.md"))
    assert found == sorted(FOLDERS)
    assert {Path(f).name for f in FOLDERS} <= set(FORMATS)


@pytest.mark.parametrize("folder", FOLDERS)
def test_convert_benchdata_folder(benchdata, tmp_path, folder):
    src = benchdata / folder
    index = convert(Path(folder).name, src, tmp_path / "out", maxcount=200)  # reads src only
    expected = source_items(src)
    if folder == "vlm/logicvista":  # v1_382 has an empty answer (and question): skipped and counted
        assert (index["total"], sum(index["skipped"].values())) == (expected - 1, 1) == (160, 1)
        assert index["skipped_items"][0]["where"].endswith("dataset.json:v1_382")
    else:
        assert index["total"] == expected and not index["skipped"]
    assert read_index(tmp_path / "out") == index
    samples = list(ShardReader(tmp_path / "out", vision=TINY_VISION))
    assert len(samples) == index["total"] and len({s.uid for s in samples}) == len(samples)
    for s in samples:  # the gold answer, boxed, grades correct
        assert grade("\\boxed{" + s.answer + "}", s.answer, s.answer_type, s.choices).reward == 1.0, s.uid
    modality = {"llm": "text", "vlm": "image", "video": "video"}[folder.split("/")[0]]
    assert {s.modality for s in samples} == {modality}


def test_mmmu_images_options_and_placeholders(benchdata, tmp_path):
    convert("mmmu", benchdata / "vlm/mmmu", tmp_path / "out")
    samples = {s.uid: s for s in ShardReader(tmp_path / "out")}
    row = pq.read_table(benchdata / "vlm/mmmu/Accounting/dev-00000-of-00001.parquet").to_pylist()[0]
    s = samples["mmmu-" + row["id"]]
    assert "<image" not in s.question and "[image 1]" in s.question
    assert s.choices == ["$63,020", "$58,410", "$71,320", "$77,490"] and s.answer == "D"
    assert s.images[0].format == "PNG" and s.images[0].size[0] == int.from_bytes(row["image_1"]["bytes"][16:20], "big")
    assert s.meta["subject"] == "Accounting" and s.meta["split"] == "dev"
    assert {x.answer_type for x in samples.values()} == {"choice", "number"}  # open questions are numbers here


def test_generic_layouts_skip_and_count_bad_records(benchdata, tmp_path):
    src = tmp_path / "src"
    (src / "img").mkdir(parents=True)
    (src / "img" / "a.jpg").write_bytes((benchdata / "vlm/mathvision/images/4.jpg").read_bytes())
    gif = benchdata / "video/tgifqa/4.gif"
    records = [
        {"id": "q.1", "question": "How many digits?", "image": "img/a.jpg", "answer": "6"},
        {"question": "Which?", "images": ["img/a.jpg"], "options": ["4", "6"], "answer": "6"},
        {"question": "No answer here", "image": "img/a.jpg"},
        {"question": "Missing image", "image": "img/missing.jpg", "answer": "1"},
        {"problem": "Is it?", "label": "Yes", "image": "img/a.jpg"},
    ]
    (src / "items.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    index = convert("jsonl", src, tmp_path / "out", source="mine")
    assert index["total"] == 3 and index["skipped"] == {"answer: missing": 1, "missing media file": 1}
    assert [i["where"].split("/")[-1] for i in index["skipped_items"]] == ["items.jsonl:3", "items.jsonl:4"]
    got = {s.uid: s for s in ShardReader(tmp_path / "out")}
    assert set(got) == {"mine-q-1", "mine-1", "mine-4"}  # dots cleaned out of ids
    assert (got["mine-1"].answer, got["mine-1"].answer_type) == ("B", "choice")  # option text -> letter
    assert (got["mine-4"].answer, got["mine-4"].answer_type) == ("yes", "yesno")

    (src / "items.jsonl").write_text(json.dumps(records[0]) + "\n{broken\n")
    with pytest.raises(ValueError, match=r"items.jsonl:2: bad JSON"):
        convert("jsonl", src, tmp_path / "out2")
    # videoqa: a GIF-only record becomes a frame list with its GIF frame rate
    (src / "v.jsonl").write_text(json.dumps({"video": str(gif), "question": "What colour?", "answer": "brown"}))
    index = convert("videoqa", src / "v.jsonl", tmp_path / "out3", source="gifs")
    (s,) = list(ShardReader(tmp_path / "out3"))
    assert (s.answer_type, len(s.video), s.video_fps) == ("text", 27, pytest.approx(10.0))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "mmzppo.data", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)  # fmt: skip


@pytest.mark.timeout(300)
def test_cli_convert_and_inspect(benchdata, tmp_path):
    out = tmp_path / "tgif"
    r = run_cli("convert", "--from", "tgifqa", "--src", f"{benchdata}/video/tgifqa", "--out", f"{out}", "--maxcount=5")
    assert r.returncode == 0, r.stderr
    assert "wrote 12 samples to 3 shard(s)" in r.stdout and "skipped 0" in r.stdout
    r = run_cli("inspect", str(out), "--n", "2", "--check")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("--- tgifqa-") == 2 and "12 readable samples in 3 shard(s)" in r.stdout
    assert re.search(r"video\s+12 files", r.stdout) and "skipped while reading: 0" in r.stdout
    r = run_cli("convert", "--from", "logicvista", "--src", f"{benchdata}/vlm/logicvista", "--out", f"{tmp_path}/lv")
    assert r.returncode == 0 and "wrote 160 samples" in r.stdout and "dataset.json:v1_382" in r.stdout
    r = run_cli("convert", "--from", "nope", "--src", str(benchdata), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "invalid choice" in r.stderr


@pytest.mark.timeout(300)
@pytest.mark.skipif(importlib.util.find_spec("mmzppo.data.synthetic") is None, reason="synthetic suite not written yet")
def test_cli_synth(tmp_path):
    from mmzppo.data import synthetic

    tasks = [next(n for n, t in synthetic.TASKS.items() if t.modality == m) for m in ("image", "video", "text")]
    out = tmp_path / "syn"
    r = run_cli("synth", "--out", str(out), "--tasks", ",".join(tasks), "--n", "3", "--seed", "1", "--maxcount", "4")
    assert r.returncode == 0, r.stderr
    index = read_index(out)
    assert index["total"] == 9 and index["counts"]["modality"] == {"image": 3, "video": 3, "text": 3}
    samples = list(ShardReader(out, vision=TINY_VISION))
    direct = synthetic.generate_suite(tasks, 3, 1, "train", tmp_path / "m")
    assert sorted(s.uid for s in samples) == sorted(s.uid for s in direct)
    for s in samples:
        assert grade("\\boxed{" + s.answer + "}", s.answer, s.answer_type, s.choices).reward == 1.0
    r = run_cli("synth", "--out", str(tmp_path / "bad"), "--tasks", "no_such_task", "--n", "1")
    assert r.returncode != 0 and "unknown task" in r.stderr
