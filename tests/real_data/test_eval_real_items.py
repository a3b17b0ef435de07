"""Scoring and loading fixes found on the real benchmark items of ../shared/benchdata: MM-Vet
<OR>/<AND> golds, the MMLU-Redux error-type filter and ids, DynaMath's two free-form type
names, benchmarks that share a release folder, and the list of verified loaders."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mmzppo.data.sample import Sample
from mmzppo.eval import load_benchmarks, load_items, locate
from mmzppo.eval.__main__ import main
from mmzppo.eval.metrics import judge_prompt, rule_score, score_records
from mmzppo.eval.results import base_record
from mmzppo.eval.suites import EVAL_SUITES


def items_of(name: str, folder: Path, media: Path) -> dict[str, Sample]:
    bench = load_benchmarks()[name]
    return {it.uid: it for it in load_items(bench, folder, media)}


def scored(name: str, item: Sample, response: str) -> float | None:
    bench = load_benchmarks()[name]
    return rule_score({**base_record(item, bench, 0, "x"), "response": response}, bench)[0]


# --------------------------------------------------------------------------- MM-Vet


def test_mmvet_rule_fallback_reads_or_and_golds(benchdata, tmp_path):
    """Without a judge: any <OR> alternative is right, <AND> parts count as the fraction found
    (MM-Vet's grader gives 0.5 for one of two), numbers never match inside other numbers."""
    items = items_of("mmvet", benchdata / "vlm/mmvet", tmp_path / "media")
    assert len(items) == 50 and items["mmvet-v1_0"].answer == "-1<AND>-5"
    cases = {
        "v1_0": [("-1, -5", 1.0), ("x = -5 or x = -1", 1.0), ("-1", 0.5), ("-15", 0.0), ("1, 5", 0.0)],
        "v1_1": [("1.25", 1.0), ("5/4", 1.0), ("d = 1.25", 1.0), ("1.2", 0.0)],  # 1.25<OR>=1.25<OR>5/4
        "v1_13": [("14,8", 1.0), ("14.80", 1.0), ("148", 0.0)],  # 14.8<OR>14,8 (a decimal comma)
        "v1_20": [("top left", 1.0), ("above the man", 1.0), ("below the man", 0.0)],
        "v1_49": [("\\text{oven and dishwasher}", 1.0), ("a dishwasher and a fridge", 0.5)],  # oven<AND>dishwasher
        "v1_36": [("Milk", 1.0), ("milkshake", 0.0)],
        "v1_57": [("2000 and 2012", 1.0), ("20001", 0.0)],  # 2000<AND>2012
    }
    for key, answers in cases.items():
        for answer, expected in answers:
            assert scored("mmvet", items[f"mmvet-{key}"], f"so \\boxed{{{answer}}}") == pytest.approx(expected), (
                key,
                answer,
            )
    # v1_91 lists 9 scene texts: all of them in any order scores 1, four of them 4/9
    v91 = items["mmvet-v1_91"]
    parts = v91.answer.split("<AND>")
    assert scored("mmvet", v91, "\\boxed{" + "; ".join(reversed(parts)) + "}") == 1.0
    assert scored("mmvet", v91, "\\boxed{" + ", ".join(parts[:4]) + "}") == pytest.approx(4 / 9)
    # the benchmark score is the mean; an item counts as correct only at 1.0; the judge sees the raw gold
    bench = load_benchmarks()["mmvet"]
    records = [
        {**base_record(items[f"mmvet-{k}"], bench, i, "x"), "response": r, "error": None}
        for i, (k, r) in enumerate([("v1_0", "\\boxed{-1}"), ("v1_1", "\\boxed{5/4}")])
    ]
    result = score_records(bench, records)
    assert result["score"] == pytest.approx(75.0) and [r["correct"] for r in records] == [False, True]
    assert "| -1<AND>-5 |" in judge_prompt(bench, records[0])


# --------------------------------------------------------------------------- MMLU-Redux


def _github_spellings(table):
    """The error_type column as the GitHub CSVs spell it (SOURCE.md lists "OK", "Ok", ...)."""
    spell = {
        "ok": ["OK", "Ok"],
        "bad_question_clarity": ["Bad Question Clarity", "Bad question clarity"],
        "no_correct_answer": ["No Correct Answer", "No correct answer"],
        "wrong_groundtruth": ["Wrong Groundtruth"],
        "bad_options_clarity": ["Bad options clarity"],
    }
    return [spell[v][i % len(spell[v])] for i, v in enumerate(table.column("error_type").to_pylist())]


def test_mmlu_redux_filter_ignores_spelling_and_ids_are_stable(benchdata, tmp_path):
    """The "ok" filter keeps the same 39 of 50 real items whether error_type reads "ok" (HF 2.0),
    "OK" / "Ok" (GitHub), or the items come as the GitHub ';'-separated CSVs with the choices as a
    list literal; ids are subject + row and do not move when a subject file is left out."""
    src = benchdata / "llm/mmlu_redux"
    hf = items_of("mmlu_redux", src, tmp_path / "m1")
    assert len(hf) == 39 and "mmlu_redux-abstract_algebra-2" in hf and "mmlu_redux-abstract_algebra-0" not in hf
    row = pq.read_table(src / "abstract_algebra/test-00000-of-00001.parquet").to_pylist()[2]
    assert hf["mmlu_redux-abstract_algebra-2"].question == row["question"]

    github = tmp_path / "github"
    github.mkdir()
    for path in sorted(src.glob("*/test-*.parquet")):
        table = pq.read_table(path)
        rows = table.to_pylist()
        for r, label in zip(rows, _github_spellings(table)):
            r.update(error_type=label, choices=str(r["choices"]), answer=str(r["answer"]))
        with open(github / f"mmlu_{path.parent.name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, list(rows[0]), delimiter=";")
            writer.writeheader()
            writer.writerows(rows)
    gh = items_of("mmlu_redux", github, tmp_path / "m2")
    assert {u: (s.question, s.choices, s.answer) for u, s in gh.items()} == {
        u: (s.question, s.choices, s.answer) for u, s in hf.items()
    }
    (github / "mmlu_abstract_algebra.csv").unlink()  # fewer files: the other ids stay the same
    fewer = items_of("mmlu_redux", github, tmp_path / "m3")
    assert set(fewer) == {u for u in hf if not u.startswith("mmlu_redux-abstract_algebra-")}


# --------------------------------------------------------------------------- DynaMath


def test_dynamath_text_and_free_form_are_graded_alike(benchdata, tmp_path):
    """The real "text" items (GitHub trials) and the same items typed "free_form" (the HF name)
    load identically and score the same; both are normalised text, so an edge "EC" is not
    taken for "CE" (a math grader reads them as equal products)."""
    copy = tmp_path / "dynamath" / "data"
    copy.mkdir(parents=True)
    for path in sorted((benchdata / "vlm/dynamath/data").glob("*.parquet")):
        table = pq.read_table(path)
        types = ["free_form" if t == "text" else t for t in table.column("answer_type").to_pylist()]
        pq.write_table(
            table.set_column(table.schema.get_field_index("answer_type"), "answer_type", [types]), copy / path.name
        )
    text = items_of("dynamath", benchdata / "vlm/dynamath", tmp_path / "m1")
    free = items_of("dynamath", copy.parent, tmp_path / "m2")
    assert set(text) == set(free) and len(text) == 50
    texts = [u for u, s in text.items() if s.meta["dynamath_type"] == "text"]
    assert len(texts) == 5 and {free[u].meta["dynamath_type"] for u in texts} == {"free_form"}
    for uid in texts:
        gold = text[uid].answer  # e.g. "CE"
        assert (text[uid].answer_type, free[uid].answer_type) == ("text", "text")
        for response, expected in ((gold, 1.0), (gold.lower(), 1.0), (gold[::-1], 0.0), ("\\text{" + gold + "}", 1.0)):
            got = [scored("dynamath", s[uid], f"\\boxed{{{response}}}") for s in (text, free)]
            assert got == [expected, expected], (uid, response, got)


# --------------------------------------------------------------------------- shared release folders


def test_benchmarks_sharing_a_folder_accept_one_named_after_their_id(benchdata, tmp_path, capsys):
    """OCRBench v2 EN/CN and Video-MME with/without subtitles share a release folder; a folder
    named after the benchmark id is found first, and --list says which folder each one uses.
    (No real items of these exist here: the folders are written in the official layouts.)"""
    from test_eval import craft

    root = tmp_path / "root"
    craft("ocrbench_v2_en", root / "ocrbench_v2", benchdata)  # the shared folder: EN and CN items
    craft("ocrbench_v2_en", root / "ocrbench_v2_en", benchdata)  # EN given a folder of its own
    craft("videomme_sub", root / "videomme_sub", benchdata)  # only the subtitled run has data
    benches = load_benchmarks()
    assert locate(benches["ocrbench_v2_en"], root) == root / "ocrbench_v2_en"
    assert locate(benches["ocrbench_v2_cn"], root) == root / "ocrbench_v2"
    assert locate(benches["videomme_sub"], root) == root / "videomme_sub"
    assert locate(benches["videomme"], root) is None
    items = list(load_items(benches["videomme_sub"], root / "videomme_sub", tmp_path / "media"))
    assert len(items) == 1 and "hello pineapple" in items[0].question

    assert main(["--list", "--data-root", str(root)]) == 0
    rows = {r.split(" | ")[1]: r for r in capsys.readouterr().out.splitlines() if r.startswith("| ")}
    assert f"found: {root / 'ocrbench_v2_en'} |" in rows["ocrbench_v2_en"]
    assert f"found: {root / 'ocrbench_v2'} |" in rows["ocrbench_v2_cn"]
    assert f"found: {root / 'videomme_sub'} |" in rows["videomme_sub"]
    assert f"missing: {root / 'videomme'} |" in rows["videomme"]  # its id and path are the same name
    assert main(["--list", "--data-root", str(tmp_path / "empty")]) == 0
    rows = {r.split(" | ")[1]: r for r in capsys.readouterr().out.splitlines() if r.startswith("| ")}
    empty = tmp_path / "empty"
    assert f"missing: {empty / 'ocrbench_v2'} or {empty / 'ocrbench_v2_cn'} |" in rows["ocrbench_v2_cn"]


# --------------------------------------------------------------------------- verified loaders


def test_readme_lists_the_items_each_verified_loader_ran_on(benchdata, tmp_path):
    """eval_suites/README.md has a row for every benchmark marked verified, and no other; each
    row names its benchdata folder and an item count that its loader yields on that folder."""
    text = (EVAL_SUITES / "README.md").read_text(encoding="utf-8")
    table = text.split("## Verified on real items", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in table.splitlines() if r.startswith("| `")]
    listed = {}
    for r in rows:
        cells = [c.strip() for c in r.strip("|").split("|")]
        listed[cells[0].split("`")[1]] = (cells[1].strip("`"), int(cells[2]))  # "`mmmu` (extra)" -> mmmu
    benches = load_benchmarks()
    verified = {b.name for b in benches.values() if b.verified and b.path is not None}
    assert set(listed) == verified
    for name, (folder, count) in listed.items():
        bench = benches[name]
        assert locate(bench, benchdata) == benchdata / folder, name
        if name not in ("gsm8k", "mmlu", "math500"):  # the big ones are counted in test_eval
            assert len(list(load_items(bench, benchdata / folder, tmp_path / name))) == count, name
    assert {b.name for b in benches.values() if b.verified and b.path is None} == {
        "synthetic_image",
        "synthetic_video",
        "synthetic_text",
    }
