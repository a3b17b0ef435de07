"""Every real benchmark folder converts to shards with its SOURCE.md item count; the convert and
inspect commands (the synth command: tests/unit/test_synthetic.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import REPO
from PIL import Image

from mmzppo.data.convert import FORMATS, convert
from mmzppo.data.shards import ShardReader, read_index
from mmzppo.data.vision import TINY_VISION
from mmzppo.grading.grader import grade

FOLDERS = [
    "llm/aime25",
    "llm/aime26",
    "llm/gsm8k",
    "llm/imo_answerbench",
    "llm/math500",
    "llm/mmlu",
    "llm/mmlu_pro",
    "llm/mmlu_redux",
    "video/tempcompass",
    "video/tgifqa",
    "vlm/dynamath",
    "vlm/logicvista",
    "vlm/mathvision",
    "vlm/mmmu",
    "vlm/mmvet",
    "vlm/puzzlevqa",
    "vlm/wemath",
]
# Folders with no training converter, and why (each still has an evaluation loader, tested in test_eval).
NO_CONVERTER = {
    "llm/multichallenge": "multi-turn conversations judged by an LLM against a rubric question; "
    "no gold answer a training reward could grade",
}
# Records a folder marks unusable for training, skipped and counted: {folder: {reason: count}}.
SKIPPED = {
    "vlm/logicvista": {"question: empty question": 1},  # v1_382 has an empty question (and answer)
    "llm/mmlu_redux": {
        "error_type: annotated bad_question_clarity, not ok": 7,
        "error_type: annotated no_correct_answer, not ok": 2,
        "error_type: annotated wrong_groundtruth, not ok": 1,
        "error_type: annotated bad_options_clarity, not ok": 1,
    },
    "vlm/mmvet": {"answer: an <AND> gold (all parts required) has no single training answer": 6},
}


def source_items(folder: Path) -> int:
    """The item count a SOURCE.md states ("**Items:** N")."""
    return int(re.search(r"\*\*Items:\*\*\s*(\d+)", (folder / "SOURCE.md").read_text())[1])


def test_every_benchdata_folder_is_listed(benchdata):
    """Every benchdata folder has a converter of its name, or is listed with the reason it has none."""
    found = sorted(str(p.parent.relative_to(benchdata)) for p in benchdata.glob("*/*/SOURCE.md"))
    assert found == sorted(FOLDERS + list(NO_CONVERTER))
    assert {Path(f).name for f in FOLDERS} <= set(FORMATS)
    assert not {Path(f).name for f in NO_CONVERTER} & set(FORMATS)


@pytest.mark.parametrize("folder", FOLDERS)
def test_convert_benchdata_folder(benchdata, tmp_path, folder):
    src = benchdata / folder
    index = convert(Path(folder).name, src, tmp_path / "out", maxcount=200)  # reads src only
    expected, skipped = source_items(src), SKIPPED.get(folder, {})
    assert index["skipped"] == skipped and index["total"] + sum(skipped.values()) == expected
    if folder == "vlm/logicvista":
        assert index["skipped_items"][0]["where"].endswith("dataset.json:v1_382")
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


def test_mmlu_redux_ids_and_error_type_spellings(benchdata, tmp_path):
    """Ids are subject + row in the subject's file; the "ok" filter ignores case and spacing
    (the GitHub CSVs write "OK" / "Ok" / "No Correct Answer"), so the GitHub spellings keep
    exactly the same items, and converting one subject alone gives its items the same ids."""
    convert("mmlu_redux", benchdata / "llm/mmlu_redux", tmp_path / "hf")
    hf = {s.uid: s for s in ShardReader(tmp_path / "hf")}
    assert "mmlu_redux-abstract_algebra-2" in hf and "mmlu_redux-abstract_algebra-0" not in hf  # row 0: unclear
    assert sum(u.startswith("mmlu_redux-virology-") for u in hf) == 2 and len(hf) == 39
    s = hf["mmlu_redux-abstract_algebra-2"]
    row = pq.read_table(benchdata / "llm/mmlu_redux/abstract_algebra/test-00000-of-00001.parquet").to_pylist()[2]
    assert (s.question, s.choices, s.answer) == (row["question"], row["choices"], "ABCD"[row["answer"]])
    github = {
        "ok": ["OK", "Ok", " ok "],
        "bad_question_clarity": ["Bad Question Clarity", "Bad question clarity"],
        "no_correct_answer": ["No Correct Answer", "No correct answers"],
        "wrong_groundtruth": ["Wrong Groundtruth"],
        "bad_options_clarity": ["Bad options clarity"],
    }
    for path in sorted((benchdata / "llm/mmlu_redux").glob("*/*.parquet")):
        table = pq.read_table(path)
        labels = [github[v][i % len(github[v])] for i, v in enumerate(table.column("error_type").to_pylist())]
        dest = tmp_path / "github" / path.parent.name / path.name
        dest.parent.mkdir(parents=True)
        pq.write_table(table.set_column(table.schema.get_field_index("error_type"), "error_type", [labels]), dest)
    index = convert("mmlu_redux", tmp_path / "github", tmp_path / "gh")
    assert sorted(s.uid for s in ShardReader(tmp_path / "gh")) == sorted(hf)
    assert index["skipped"] == SKIPPED["llm/mmlu_redux"]
    convert("mmlu_redux", benchdata / "llm/mmlu_redux/virology", tmp_path / "one")
    assert {s.uid for s in ShardReader(tmp_path / "one")} == {u for u in hf if u.startswith("mmlu_redux-virology-")}


def test_dynamath_wemath_mmvet_imo_fields(benchdata, tmp_path):
    """What the new converters make of real items: DynaMath's types and embedded PNGs, WE-MATH's
    one-string options, MM-Vet's <OR> golds, IMO-AnswerBench's answers without their $...$."""
    convert("dynamath", benchdata / "vlm/dynamath", tmp_path / "dm")
    dm = {s.uid: s for s in ShardReader(tmp_path / "dm")}
    assert sorted({s.meta["variant"] for s in dm.values()}) == [1, 2, 3, 4, 5]
    types = [s.answer_type for s in dm.values()]
    assert (types.count("number"), types.count("choice"), types.count("text")) == (20, 25, 5)
    row = pq.read_table(benchdata / "vlm/dynamath/data/sample_variant3-00000-of-00001.parquet").to_pylist()[3]
    s = dm[f"dynamath-v3-{row['id']}"]
    assert (s.answer, s.answer_type, s.meta["group"]) == (row["ground_truth"], "text", row["id"])  # 'text' item
    assert s.images[0].format == "PNG"
    assert s.images[0].size == Image.open(io.BytesIO(row["decoded_image"]["bytes"])).size

    convert("wemath", benchdata / "vlm/wemath", tmp_path / "wm")
    wm = {s.uid: s for s in ShardReader(tmp_path / "wm")}
    s = wm["wemath-2steps_1"]
    assert s.choices == ["300, 400", "400, 300", "3000, 4000", "4000, 3000", "No correct answer"] and s.answer == "C"
    assert grade("\\boxed{3000, 4000}", s.answer, s.answer_type, s.choices).reward == 1.0  # option text accepted
    assert wm["wemath-2steps_6"].choices[3] == "62.8 cm"  # "D. 62.8 cm.;" loses only the separator's period

    convert("mmvet", benchdata / "vlm/mmvet", tmp_path / "mv")
    mv = {s.uid: s for s in ShardReader(tmp_path / "mv")}
    assert (mv["mmvet-v1_1"].answer, mv["mmvet-v1_1"].meta["golds"]) == ("1.25", ["1.25", "=1.25", "5/4"])
    assert mv["mmvet-v1_20"].answer_type == "text" and "mmvet-v1_0" not in mv  # -1<AND>-5: skipped

    convert("imo_answerbench", benchdata / "llm/imo_answerbench", tmp_path / "imo")
    imo = {s.uid: s for s in ShardReader(tmp_path / "imo")}
    floor = imo["imo_answerbench-imo-bench-algebra-002"]
    assert floor.answer == "\\left\\lfloor \\log_{2}a\\right\\rfloor +1" and floor.meta["category"] == "Algebra"
    assert grade("\\boxed{\\lfloor \\log_2 a \\rfloor + 1}", floor.answer, floor.answer_type).reward == 1.0


def test_csv_rows_with_bad_fields_are_skipped_and_counted(benchdata, tmp_path):
    """Real IMO-AnswerBench rows, one with its answer blanked: skipped, counted, named by row (the
    problems hold newlines inside quoted cells, so a row is not a line)."""
    with open(benchdata / "llm/imo_answerbench/answerbench.csv", newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))[:3]
    records[1]["Short Answer"] = " "
    src = tmp_path / "imo"
    src.mkdir()
    with open(src / "answerbench.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    index = convert("imo_answerbench", src, tmp_path / "out")
    assert index["total"] == 2 and index["skipped"] == {"answer: no gold answer": 1}
    assert index["skipped_items"][0]["where"].endswith("answerbench.csv#row1")


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
    return subprocess.run(
        [sys.executable, "-m", "mmzppo.data", *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=300
    )


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
