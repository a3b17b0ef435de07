"""Evaluation: benchmark definitions, loaders (real items and crafted official layouts), scoring
(rule, ANLS, judge up and down), output files, resume, rescore and the CLI end to end."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmzppo.data.sample import Sample
from mmzppo.eval import Failed, anls, load_benchmarks, load_items, ocr_match
from mmzppo.eval.__main__ import main
from mmzppo.eval.metrics import rule_score
from mmzppo.eval.results import base_record, read_samples
from mmzppo.eval.suites import PAPER_COUNTS, locate

REPO = Path(__file__).resolve().parents[2]
PAPER = {  # zppo-spec.md section 7
    "vlm": [
        "AI2D",
        "BabyVision",
        "CharXiv",
        "DynaMath",
        "EmbSpatial-Bench",
        "InfographicVQA",
        "MathVerse (testmini)",
        "MathVision",
        "MathVista (testmini)",
        "MMMU-Pro",
        "MM-Vet",
        "OCRBench v2 (English)",
        "OCRBench v2 (Chinese)",
        "VisualPuzzles",
        "VLMs-are-Blind",
        "WeMath",
    ],
    "llm": [
        "AIME25",
        "AIME26",
        "C-Eval",
        "GPQA-Diamond",
        "HLE",
        "IMO-AnswerBench",
        "MMLU",
        "MMLU-Pro",
        "MMLU-Redux",
        "MultiChallenge",
    ],
    "video": ["MMVU", "MVBench", "Video-MME (w/o subtitles)", "Video-MME (w/ subtitles)", "Video-MMMU"],
}
LOCAL = {
    "mathvision",
    "mmmu",
    "logicvista",
    "puzzlevqa",
    "aime25",
    "gsm8k",
    "math500",
    "mmlu",
    "mmlu_pro",
    "tempcompass",
    "tgifqa",
    "aime26",
    "imo_answerbench",
    "mmlu_redux",
    "multichallenge",
    "dynamath",
    "mmvet",
    "wemath",
}
TINY = ["--greedy", "--max-new-tokens", "16", "--vision", "tiny", "--no-progress"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The tiny model's ops are so small that a second thread only adds contention (15x slower
    on a busy 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_eval(*args: str) -> int:
    return main([*map(str, args)])


def summary_rows(output: Path) -> dict[str, dict]:
    return {e["benchmark"]: e for e in json.loads((output / "summary.json").read_text())["benchmarks"]}


def boxed_gold(record: dict) -> str:
    return "<think>easy</think> \\boxed{" + (record["golds"] or [record["gold"]])[0] + "}"


# --------------------------------------------------------------------------- definitions and listing


def test_definitions_cover_the_papers_31_benchmarks():
    benches = load_benchmarks()
    for suite, titles in PAPER.items():
        paper = [b for b in benches.values() if b.suite == suite and b.paper]
        assert sorted(b.title for b in paper) == sorted(titles) and len(paper) == PAPER_COUNTS[suite]
    extras = {b.name for b in benches.values() if b.extra}
    assert extras == {"gsm8k", "math500", "logicvista", "puzzlevqa", "mmmu", "tempcompass", "tgifqa"}
    assert {b.name for b in benches.values() if b.suite == "synthetic"} == {
        f"synthetic_{m}" for m in ("image", "video", "text")
    }
    assert {b.name for b in benches.values() if b.judge} == {"mmvet", "charxiv", "hle", "multichallenge", "mmvu"}
    assert {b.name for b in benches.values() if b.verified} == LOCAL | {
        f"synthetic_{m}" for m in ("image", "video", "text")
    }
    from mmzppo.eval.loaders import LOADERS

    assert all(b.loader in LOADERS for b in benches.values())


def test_list_shows_every_benchmark_with_found_or_missing(benchdata, capsys):
    assert run_eval("--list", "--data-root", benchdata) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and not ln.startswith("| suite")]
    assert len(rows) == 31 + 7 + 3
    found = {r.split(" | ")[1] for r in rows if "found: " in r}
    assert found == LOCAL
    assert f"missing: {benchdata / 'ai2d'}" in out and "31 paper benchmarks (vlm 16, llm 10, video 5), 7 extras" in out
    assert f"data found for {len(LOCAL)}" in out


def test_anls_and_ocr_match():
    assert anls("Twelve ", ["twelve"]) == 1.0
    assert anls("twelv", ["twelve"]) == pytest.approx(1 - 1 / 6)
    assert anls("abc", ["xyz"]) == 0.0  # NL = 1 >= 0.5
    assert anls("12%", ["twelve", "12%"]) == 1.0  # best accepted answer
    assert ocr_match("the sign says STOP here", ["stop"]) == 1.0  # short gold contained
    assert ocr_match("a b c d e f", ["a b c d e g"]) == pytest.approx(1 - 1 / 11)


# --------------------------------------------------------------------------- real items: loaders


def test_real_benchmark_folders_load_every_item(benchdata, tmp_path):
    """Every local benchmark yields all its SOURCE.md items (MMMU: the 150 validation rows;
    MMLU-Redux: the 39 of 50 annotated ok); LogicVista's v1_382 (empty question and gold) is a
    failed item, not dropped; every other item's own gold, boxed, scores 1 (MM-Vet: the first
    <OR> alternative, <AND> parts listed with commas; MultiChallenge has no rule score)."""
    counts = {
        "mathvision": 304,
        "mmmu": 150,
        "logicvista": 161,
        "puzzlevqa": 100,
        "aime25": 30,
        "gsm8k": 1319,
        "math500": 500,
        "mmlu": 3018,
        "mmlu_pro": 300,
        "tempcompass": 32,
        "tgifqa": 12,
        "aime26": 30,
        "imo_answerbench": 52,
        "mmlu_redux": 39,
        "multichallenge": 50,
        "dynamath": 50,
        "mmvet": 50,
        "wemath": 50,
    }
    assert set(counts) == LOCAL
    benches = load_benchmarks()
    for name, count in counts.items():
        bench = benches[name]
        items = list(load_items(bench, locate(bench, benchdata), tmp_path / name))
        failed = [it for it in items if isinstance(it, Failed)]
        assert len(items) == count and len({it.uid for it in items}) == count, name
        assert [f.uid for f in failed] == (["logicvista-v1_382"] if name == "logicvista" else []), name
        for it in items:
            if isinstance(it, Sample):
                gold = it.answer.split("<OR>")[0].replace("<AND>", ", ")
                record = {**base_record(it, bench, 0, "x"), "response": "\\boxed{" + gold + "}"}
                assert rule_score(record, bench)[0] == (None if bench.metric == "judge_only" else 1.0), it.uid


# --------------------------------------------------------------------------- crafted official layouts


def _image_bytes(benchdata: Path) -> bytes:
    return (benchdata / "vlm/mathvision/images/4.jpg").read_bytes()


def _parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def _json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest)


# fmt: off
def craft(name: str, d: Path, benchdata: Path) -> int:
    """Write a few items of benchmark `name` in its official layout into folder `d`; returns
    how many items the loader should yield."""
    img = {"bytes": _image_bytes(benchdata), "path": "x.jpg"}
    jpg, mp4 = benchdata / "vlm/mathvision/images/4.jpg", benchdata / "video/tempcompass/1021488277.mp4"
    if name == "ai2d":
        _parquet(d / "data/test-00000-of-00001.parquet", [
            {"question": "Which part is the leaf?", "options": ["root", "leaf", "stem", "flower"], "answer": "1",
             "image": img},
            {"question": "Which stage comes first?", "options": ["egg", "larva", "pupa", "adult"], "answer": "0",
             "image": img}])
        return 2
    if name == "infovqa":
        _parquet(d / "InfographicVQA/validation-00000-of-00001.parquet", [
            {"questionId": 7, "question": "What share is shown?", "answers": ["12%", "twelve percent"], "image": img}])
        return 1
    if name == "mmvet":
        _copy(jpg, d / "images/v1_0.jpg")
        _json(d / "mm-vet.json", {"v1_0": {"imagename": "v1_0.jpg", "question": "How many digits?", "answer": "6",
                                           "capability": ["ocr"]}})
        return 1
    if name == "gpqa_diamond":
        _csv(d / "gpqa_diamond.csv", [{"Record ID": "rec1", "Question": "Spin of an electron?",
                                       "Correct Answer": "1/2", "Incorrect Answer 1": "1", "Incorrect Answer 2": "0",
                                       "Incorrect Answer 3": "3/2"}])
        return 1
    if name == "ceval":
        _csv(d / "val/computer_network_val.csv", [{"id": 0, "question": "TCP 属于哪一层?", "A": "应用层", "B": "传输层",
                                                   "C": "网络层", "D": "链路层", "answer": "B", "explanation": ""}])
        return 1
    if name == "hle":
        uri = "data:image/jpeg;base64," + base64.b64encode(_image_bytes(benchdata)).decode()
        _parquet(d / "data/test-00000-of-00001.parquet", [
            {"id": "a1", "question": "What is 2^10?", "image": "", "answer": "1024", "answer_type": "exactMatch"},
            {"id": "a2", "question": "Pick one.\nA. x\nB. y", "image": "", "answer": "B",
             "answer_type": "multipleChoice"},
            {"id": "a3", "question": "Read the image.", "image": uri, "answer": "6", "answer_type": "exactMatch"}])
        return 2  # the image item is left out (text-only suite)
    if name == "multichallenge":
        d.mkdir(parents=True)
        (d / "benchmark_questions.jsonl").write_text(json.dumps({
            "QUESTION_ID": "q1", "AXIS": "INSTRUCTION_RETENTION", "PASS_CRITERIA": "YES",
            "TARGET_QUESTION": "Does the reply avoid the letter e?",
            "CONVERSATION": [{"role": "user", "content": "Never use the letter e."},
                             {"role": "assistant", "content": "OK."}, {"role": "user", "content": "Say hi."}]}) + "\n")
        return 1
    if name == "mvbench":
        _copy(mp4, d / "video/ssv2_video/clip.mp4")
        _json(d / "json/action_antonym.json", [{"video": "clip.mp4", "question": "What happens?",
                                                "candidates": ["push", "pull", "rotate"], "answer": "rotate"}])
        return 1
    if name in ("videomme", "videomme_sub"):
        _copy(mp4, d / "data/abc.mp4")
        (d / "subtitle").mkdir()
        (d / "subtitle/abc.srt").write_text("1\n00:00:00,000 --> 00:00:02,000\n<i>hello pineapple</i>\n")
        _parquet(d / "videomme/test-00000-of-00001.parquet", [
            {"videoID": "abc", "question_id": "001-1", "question": "What fruit?", "duration": "short",
             "options": ["A. apple", "B. pineapple", "C. pear", "D. plum"], "answer": "B"}])
        return 1
    if name == "dynamath":
        for v, gt in (("1", "3"), ("2", "4")):
            _parquet(d / f"sample_variant{v}/test.parquet", [
                {"id": "12", "question": "What is the value?", "decoded_image": img, "ground_truth": gt,
                 "answer_type": "float"},
                {"id": "13", "question": "Which? A: x B: y", "decoded_image": img, "ground_truth": "A",
                 "answer_type": "multiple choice"}])
        return 4
    if name == "mmmu_pro":
        options = str(["1", "2", "3"])
        _parquet(d / "standard (10 options)/test-00000-of-00001.parquet", [
            {"id": "q1", "question": "<image 1> Which is bigger?", "options": options, "answer": "C", "image_1": img,
             "explanation": ""}])
        _parquet(d / "vision/test-00000-of-00001.parquet", [{"id": "q1", "image": img, "options": options,
                                                             "answer": "C"}])
        return 2
    if name == "ocrbench_v2_en":
        _copy(jpg, d / "EN_part/a.jpg")
        _json(d / "OCRBench_v2.json", [
            {"id": 0, "type": "text recognition en", "question": "What text?", "answers": ["STOP"],
             "image_path": "EN_part/a.jpg"},
            {"id": 1, "type": "text recognition cn", "question": "什么字?", "answers": ["停"],
             "image_path": "CN_part/b.jpg"}])
        return 1
    if name == "embspatial":
        _json(d / "embspatial_bench.json", [
            {"question_id": "e1", "question": "Where is the cup?", "answer": 1,
             "answer_options": ["left of the bowl", "right of the bowl"],
             "image": base64.b64encode(_image_bytes(benchdata)).decode()}])
        return 1
    if name == "mathvista":
        _copy(jpg, d / "images/1.jpg")
        _json(d / "testmini.json", {
            "1": {"pid": "1", "question": "How many?", "image": "images/1.jpg", "choices": None, "answer": "6",
                  "question_type": "free_form"},
            "2": {"pid": "2", "question": "Which?", "image": "images/1.jpg", "choices": ["red", "blue"],
                  "answer": "blue"}})
        return 2
    raise AssertionError(name)
# fmt: on


CRAFTED = [
    "ai2d",
    "infovqa",
    "mmvet",
    "gpqa_diamond",
    "ceval",
    "hle",
    "multichallenge",
    "mvbench",
    "videomme",
    "videomme_sub",
    "dynamath",
    "mmmu_pro",
    "ocrbench_v2_en",
    "embspatial",
    "mathvista",
]


@pytest.mark.parametrize("name", CRAFTED)
def test_official_layout_loaders_on_crafted_items(name, benchdata, tmp_path):
    """Not real items (those are not available here): each loader reads a folder written in
    the official layout, every item becomes a Sample with its media on disk, and its own gold,
    boxed, scores 1."""
    bench = load_benchmarks()[name]
    n = craft(name, tmp_path / "root" / bench.path, benchdata)
    folder = locate(bench, tmp_path / "root")
    assert folder is not None
    items = list(load_items(bench, folder, tmp_path / "media"))
    assert len(items) == n and all(isinstance(it, Sample) for it in items), items
    assert len({it.uid for it in items}) == n
    for it in items:
        for m in it.images + ([it.video] if isinstance(it.video, str) else []):
            assert Path(m).is_file(), m
        record = {**base_record(it, bench, 0, "x")}
        record["response"] = boxed_gold(record)
        score, _, _ = rule_score(record, bench)
        assert score == (None if bench.metric == "judge_only" else 1.0), (it.uid, record)
    if name == "videomme_sub":
        assert "hello pineapple" in items[0].question and "<i>" not in items[0].question
    if name == "videomme":
        assert items[0].choices == ["apple", "pineapple", "pear", "plum"] and items[0].answer == "B"
    if name == "dynamath":
        assert {it.meta["group"] for it in items} == {"12", "13"} and items[1].answer_type == "choice"
        assert len({it.images[0] for it in items}) == 4  # each variant keeps its own image file
    if name == "gpqa_diamond":
        assert items[0].choices[ord(items[0].answer) - ord("A")] == "1/2"
    if name == "multichallenge":
        from mmzppo.eval.runner import conversation_prompt

        assert [m["role"] for m in conversation_prompt(items[0]).messages] == ["user", "assistant", "user"]


# --------------------------------------------------------------------------- real items, tiny model


def test_real_items_vlm_results_and_logs(benchdata, tiny_xs_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        run_eval(
            "--suite",
            "vlm",
            "--tasks",
            "mathvision,mmmu",
            "--model",
            tiny_xs_dir,
            "--data-root",
            benchdata,
            "--limit",
            3,
            "--batch-size",
            3,
            "--output",
            out,
            *TINY,
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "| vlm | mathvision | scored |" in printed and "covers 1 of the suite's 16" in printed
    for name in ("mathvision", "mmmu"):
        result = json.loads((out / f"{name}.json").read_text())
        assert (result["n"], result["n_failed"], result["status"], result["limit"]) == (3, 0, "scored", 3)
        s = result["settings"]
        assert s["decoding"]["greedy"] and s["decoding"]["max_new_tokens"] == 16
        assert s["vision"]["max_pixels"] == 128 * 128 and re.fullmatch(r"[0-9a-f]{16}", s["prompt_template_sha256"])
        assert s["model"] == str(tiny_xs_dir) and result["judged"] is False
        records = [json.loads(ln) for ln in (out / f"{name}.samples.jsonl").read_text().splitlines()]
        assert len(records) == 3 and all(r["response"] is not None and r["error"] is None for r in records)
        assert all(r["prompt"].rstrip().endswith("inside \\boxed{}.") for r in records)
        assert all(Path(m).is_file() for r in records for m in r["media"])
    assert json.loads((out / "mathvision.json").read_text())["data_files"] == ["testmini.jsonl"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["suites"]["vlm"]["covered"] == 1 and summary["suites"]["vlm"]["of"] == 16
    assert (out / "summary.md").read_text().startswith("| suite | benchmark |")


def test_synthetic_suites_run_offline(tiny_xs_dir, tmp_path):
    out = tmp_path / "out"
    assert run_eval("--suite", "synthetic", "--model", tiny_xs_dir, "--limit", 2, "--output", out, *TINY) == 0
    rows = summary_rows(out)
    assert {n: (r["status"], r["n"], r["n_failed"]) for n, r in rows.items()} == {
        f"synthetic_{m}": ("scored", 2, 0) for m in ("image", "video", "text")
    }


def test_rescore_matches_an_independent_count(benchdata, tmp_path, capsys):
    """Known-right and known-wrong predictions written into a crafted output folder score
    exactly the fraction an independent count gives (failed items count as wrong)."""
    out = tmp_path / "out"
    out.mkdir()
    benches = load_benchmarks()
    expected = {}
    for name in ("mathvision", "mmlu", "mmlu_pro", "gsm8k", "math500", "aime25", "tgifqa", "puzzlevqa"):
        bench = benches[name]
        items = list(load_items(bench, locate(bench, benchdata), tmp_path / "media"))[:12]
        records, right = [], 0
        for i, it in enumerate(items):
            r = base_record(it, bench, i, "crafted")
            if i % 5 == 4:  # a failed item
                r.update(response=None, error="MediaError: crafted", failure="MediaError: crafted")
            elif i % 3 == 0:  # a right answer, then a wrong one after it: the last box counts
                r.update(response="\\boxed{999999} so finally \\boxed{" + it.answer + "}", error=None)
                right += 1
            else:
                r.update(
                    response="no box here" if i % 3 == 1 else "\\boxed{" + it.answer + "}\\boxed{999999}", error=None
                )
            records.append(r)
        (out / f"{name}.samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        expected[name] = (100.0 * right / len(items), len(items), sum(1 for i in range(len(items)) if i % 5 == 4))
    assert run_eval("--rescore", out) == 0
    rows = summary_rows(out)
    for name, (score, n, failed) in expected.items():
        assert rows[name]["score"] == pytest.approx(score) and (rows[name]["n"], rows[name]["n_failed"]) == (n, failed)
        assert json.loads((out / f"{name}.json").read_text())["rescored"] is True
    llm = [expected[n][0] for n in ("mmlu", "mmlu_pro", "aime25")]
    assert json.loads((out / "summary.json").read_text())["suites"]["llm"]["macro"] == pytest.approx(
        sum(llm) / 3, abs=0.01
    )
    assert "llm | **macro** | 3 of 10" in capsys.readouterr().out


def test_resume_after_interruption_gives_the_same_summary(benchdata, tiny_xs_dir, tmp_path, monkeypatch):
    from mmzppo.eval import runner

    generated = []
    original = runner.Generator.run
    monkeypatch.setattr(
        runner.Generator,
        "run",
        lambda self, prompts: generated.extend(p.uid for p in prompts) or original(self, prompts),
    )
    out = tmp_path / "out"
    args = [
        "--suite",
        "llm",
        "--tasks",
        "aime25,gsm8k",
        "--model",
        tiny_xs_dir,
        "--data-root",
        benchdata,
        "--limit",
        4,
        "--batch-size",
        2,
        "--output",
        out,
        *TINY,
    ]
    assert run_eval(*args) == 0
    first = summary_rows(out)
    first_records = (out / "gsm8k.samples.jsonl").read_text().splitlines()
    # interrupt gsm8k: its result never written, the log cut in the middle of its third line
    # (the first batch of 2 done, so the resumed run forms the same second batch: same responses)
    (out / "gsm8k.json").unlink()
    lines = (out / "gsm8k.samples.jsonl").read_text().splitlines(keepends=True)
    (out / "gsm8k.samples.jsonl").write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2])
    aime_mtime = (out / "aime25.json").stat().st_mtime_ns
    generated.clear()
    assert run_eval(*args, "--resume") == 0
    assert generated == ["gsm8k-2", "gsm8k-3"]  # only the unfinished samples were generated
    assert (out / "aime25.json").stat().st_mtime_ns == aime_mtime  # finished benchmark skipped
    strip = lambda rows: {n: {k: v for k, v in r.items() if k != "finished_at"} for n, r in rows.items()}  # noqa: E731
    assert strip(summary_rows(out)) == strip(first)
    assert (out / "gsm8k.samples.jsonl").read_text().splitlines() == first_records  # greedy: same responses
    assert list(read_samples(out / "gsm8k.samples.jsonl")) == [f"gsm8k-{i}" for i in range(4)]


def test_corrupt_image_is_a_failed_sample(benchdata, tiny_xs_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(benchdata / "vlm/mathvision", root / "mathvision")
    first = [json.loads(ln) for ln in (root / "mathvision/testmini.jsonl").read_text().splitlines()[:3]]
    (root / "mathvision" / first[1]["image"]).write_bytes(b"\xff\xd8 this is not a jpeg")
    out = tmp_path / "out"
    assert (
        run_eval(
            "--suite",
            "vlm",
            "--tasks",
            "mathvision",
            "--model",
            tiny_xs_dir,
            "--data-root",
            root,
            "--limit",
            3,
            "--batch-size",
            3,
            "--output",
            out,
            *TINY,
        )
        == 0
    )
    result = json.loads((out / "mathvision.json").read_text())
    assert (result["n"], result["n_failed"]) == (3, 1)
    assert result["failures"] == {"MediaError: cannot decode image": 1}
    records = [json.loads(ln) for ln in (out / "mathvision.samples.jsonl").read_text().splitlines()]
    bad = [r for r in records if r["error"]]
    assert [r["uid"] for r in bad] == [f"mathvision-{first[1]['id']}"] and "cannot decode image" in bad[0]["error"]
    assert bad[0]["score"] == 0.0 and all(r["response"] is not None for r in records if not r["error"])
    assert "failures: {'MediaError: cannot decode image': 1}" in (out / "summary.md").read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_judge_down_then_up(benchdata, tiny_xs_dir, tmp_path, capsys):
    """A dead judge: the judged benchmark keeps a rule-only score flagged NOT JUDGED and the run
    goes on; rescoring with a live (fake) judge then grades it with the judge's scores."""
    root = tmp_path / "data"
    craft("mmvet", root / "mmvet", benchdata)
    (root / "mathvision").symlink_to(benchdata / "vlm/mathvision")
    out = tmp_path / "out"
    assert (
        run_eval(
            "--suite",
            "vlm",
            "--tasks",
            "mmvet,mathvision",
            "--model",
            tiny_xs_dir,
            "--data-root",
            root,
            "--limit",
            2,
            "--output",
            out,
            "--judge",
            f"http://127.0.0.1:{free_port()}",
            "--judge-model",
            "judge-x",
            "--judge-timeout",
            5,
            *TINY,
        )
        == 0
    )
    rows = summary_rows(out)
    assert rows["mmvet"]["status"] == "scored" and rows["mmvet"]["judged"] is False
    assert "failed" in rows["mmvet"]["judge_error"] and rows["mathvision"]["n"] == 2
    assert "| vlm | mmvet | scored | 0.0 | 1 | 0 | and_or | NOT JUDGED (rule-only) |" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["suites"]["vlm"]["rule_only"] == ["mmvet"]

    prompts = []

    class FakeJudge(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompts.append((self.path, body["model"], body["messages"][0]["content"]))
            reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": "0.7"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), FakeJudge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    live = ["--judge", f"http://127.0.0.1:{server.server_port}/v1", "--judge-model", "judge-x"]
    try:
        assert run_eval("--rescore", out, *live) == 0
        rows = summary_rows(out)
        assert rows["mmvet"]["judged"] is True and rows["mmvet"]["score"] == pytest.approx(70.0)
        assert rows["mmvet"]["judge"]["model"] == "judge-x" and rows["mathvision"]["judged"] is False
        assert len(prompts) == 1 and prompts[0][:2] == ("/v1/chat/completions", "judge-x")
        assert "How many digits? | 6 |" in prompts[0][2]  # the MM-Vet grader table row
        # a run resumed with a judge re-scores a benchmark that was finished unjudged
        assert run_eval("--rescore", out) == 0  # no judge: back to rule-only
        assert summary_rows(out)["mmvet"]["judged"] is False
        assert (
            run_eval(
                "--suite",
                "vlm",
                "--tasks",
                "mmvet,mathvision",
                "--model",
                tiny_xs_dir,
                "--data-root",
                root,
                "--limit",
                2,
                "--output",
                out,
                "--resume",
                *live,
                *TINY,
            )
            == 0
        )
        assert summary_rows(out)["mmvet"]["judged"] is True and len(prompts) == 2
    finally:
        server.shutdown()


def test_preset_conflicts_and_vision_mismatch_are_clear_errors(benchdata, tiny_xs_dir, capsys):
    for flags, named in ((["--greedy"], "temperature"), (["--max-new-tokens", 8], "max_new_tokens")):
        assert run_eval("--suite", "llm", "--model", tiny_xs_dir, "--preset", "paper", *flags) == 2
        assert f"preset 'paper' fixes {named}" in capsys.readouterr().err
    assert (
        run_eval(
            "--suite",
            "vlm",
            "--tasks",
            "mathvision",
            "--model",
            tiny_xs_dir,
            "--data-root",
            benchdata,
            "--limit",
            1,
            "--vision",
            "tiny",
            "--vision",
            "patch_size=14",
        )
        == 2
    )
    assert "patch_size" in capsys.readouterr().err


# --------------------------------------------------------------------------- the CLI end to end


def cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mmzppo.eval", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("suite", ["video", "llm"])
def test_cli_end_to_end(suite, benchdata, tiny_xs_dir, tmp_path):
    out = tmp_path / "out"
    p = cli("--suite", suite, "--model", tiny_xs_dir, "--data-root", benchdata, "--limit", 3, "--output", out, *TINY)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = summary_rows(out)
    benches = [b for b in load_benchmarks().values() if b.suite == suite]
    assert set(rows) == {b.name for b in benches}
    for b in benches:
        if b.name in LOCAL:
            status = "not_judged" if b.metric == "judge_only" else "scored"  # MultiChallenge without a judge
            assert (rows[b.name]["status"], rows[b.name]["n"], rows[b.name]["n_failed"]) == (status, 3, 0)
            assert f"| {suite} | {b.name}{' (extra)' if b.extra else ''} | {status} |" in p.stdout
        else:
            assert rows[b.name]["status"] == "missing" and rows[b.name]["score"] is None
            assert f"missing: {benchdata / b.path}" in p.stdout
    covered = {"video": 0, "llm": 6}[suite]  # aime25, aime26, imo_answerbench, mmlu, mmlu_pro, mmlu_redux
    assert f"| {suite} | **macro** | {covered} of {PAPER_COUNTS[suite]} |" in p.stdout
