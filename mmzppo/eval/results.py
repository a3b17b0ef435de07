"""What an evaluation writes, and re-grading it: per-sample logs, results, summaries, tables.

Output folder (`--output DIR`):

    run.json                 settings of the latest run (model, decoding, vision, template hashes)
    <bench>.samples.jsonl    one line per item (`base_record` + response + score), appended as
                             soon as its batch finishes
    <bench>.json             the benchmark's result (`finalize`), written as soon as it finishes
    summary.json / summary.md  every selected benchmark (scored or missing) and suite macros

A per-sample line carries everything scoring needs, so `rescore` re-grades a folder (with or
without a judge) from its logs alone, without the data or the model.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from mmzppo.data.sample import Sample
from mmzppo.eval.loaders import Failed, Item
from mmzppo.eval.metrics import Judge, score_records
from mmzppo.eval.suites import PAPER_COUNTS, Benchmark, data_files, expected_path, load_benchmarks
from mmzppo.prompting.builders import question_text

# --------------------------------------------------------------------------- per-sample log


def base_record(item: Item, bench: Benchmark, index: int, settings_sha: str) -> dict[str, Any]:
    """The per-sample fields known before generation (what scoring needs besides the response)."""
    if isinstance(item, Failed):
        return {
            "uid": item.uid,
            "index": index,
            "settings_sha": settings_sha,
            "question": "",
            "gold": "",
            "answer_type": "text",
            "choices": None,
            "golds": None,
        }
    s: Sample = item
    media = [str(m) for m in s.images if isinstance(m, (str, Path))]
    if s.video is not None:
        media.append(s.video if isinstance(s.video, str) else f"<{len(s.video)} frames>")
    return {
        "uid": s.uid,
        "index": index,
        "settings_sha": settings_sha,
        "question": question_text(s),
        "media": media,
        "gold": s.answer,
        "golds": s.meta.get("golds"),
        "answer_type": s.answer_type,
        "choices": s.choices,
        "group": s.meta.get("group"),
        "criteria": s.meta.get("criteria"),
    }


def read_samples(path: Path, settings_sha: str | None = None) -> dict[str, dict]:
    """The records of a per-sample log by uid. A cut-off last line (an interrupted write) is
    dropped and the file rewritten without it; records of other settings are left out."""
    if not path.is_file():
        return {}
    good, rewrite = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            rewrite = True
            break
    if rewrite:
        write_jsonl(path, good)
    return {r["uid"]: r for r in good if settings_sha is None or r.get("settings_sha") == settings_sha}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Replace `path` atomically with `rows`."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    """Replace `path` atomically with `obj` as indented JSON."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- one benchmark's result


def finalize(
    bench: Benchmark,
    records: list[dict],
    judge: Judge | None,
    settings: dict | None,
    settings_sha: str | None,
    limit: int | None,
    folder: Path | None,
    samples_path: Path | None,
) -> dict:
    """Score the records (judge included), rewrite the per-sample log with the verdicts and
    return the result dict."""
    result = {
        "benchmark": bench.name,
        "title": bench.title,
        "suite": bench.suite,
        "extra": bench.extra,
        "verified": bench.verified,
        "status": "scored",
        "split": bench.split,
        **score_records(bench, records, judge),
        "data": str(folder) if folder is not None and bench.path else None,
        "data_files": [str(p.relative_to(folder)) for p in data_files(bench, folder)][:20]
        if folder and bench.path
        else [],
        "limit": limit,
        "settings": settings,
        "settings_sha": settings_sha,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if result["score"] is None:
        result["status"] = "not_judged" if bench.judge else "no_items"
    if samples_path is not None:
        write_jsonl(samples_path, records)
    return result


def summary_entry(result: dict) -> dict:
    """A benchmark's result as listed in the summary (its settings are the summary's)."""
    return {k: v for k, v in result.items() if k != "settings"}


def missing_entry(bench: Benchmark, data_root: Path | None) -> dict[str, Any]:
    """The summary entry of a benchmark whose data is not there: where it was looked for."""
    where = expected_path(bench, data_root)
    return {
        "benchmark": bench.name,
        "title": bench.title,
        "suite": bench.suite,
        "extra": bench.extra,
        "status": "missing",
        "score": None,
        "expected_path": where,
        "layout": bench.layout,
        "note": f"data not found at {where} (expected: {bench.layout})",
    }


# --------------------------------------------------------------------------- summary


def summarize(entries: list[dict], settings: dict | None) -> dict[str, Any]:
    """Per-suite macro averages over the paper's benchmarks that have a score."""
    suites = {}
    for suite in dict.fromkeys(e["suite"] for e in entries):
        paper = [e for e in entries if e["suite"] == suite and not e["extra"]]
        scored = [e for e in paper if e.get("score") is not None]
        macro = round(sum(e["score"] for e in scored) / len(scored), 2) if scored else None
        suites[suite] = {
            "macro": macro,
            "covered": len(scored),
            "of": PAPER_COUNTS.get(suite, len(paper)),
            "rule_only": [e["benchmark"] for e in scored if e.get("judge_required") and not e.get("judged")],
            "missing": [e["benchmark"] for e in paper if e["status"] == "missing"],
        }
    return {"settings": settings, "benchmarks": entries, "suites": suites}


def judge_cell(e: dict) -> str:
    """How a result was scored, as the table says it: rule, judged (model), or NOT JUDGED."""
    if not e.get("judge_required"):
        return "rule"
    if e.get("judged"):
        return f"judged ({e['judge']['model']})"
    return "NOT JUDGED (rule-only)"


def markdown(summary: dict) -> str:
    """The summary as a markdown table: a row per benchmark, then a macro row per suite."""
    lines = [
        "| suite | benchmark | status | score | n | failed | metric | scoring | note |",
        "|---|---|---|---:|---:|---:|---|---|---|",
    ]
    for e in summary["benchmarks"]:
        score = "-" if e.get("score") is None else f"{e['score']:.1f}"
        name = e["benchmark"] + (" (extra)" if e["extra"] else "")
        if e["status"] == "missing":
            note = f"missing: {e['expected_path']}"
        else:
            note = "; ".join(
                x
                for x in (
                    f"failures: {e['failures']}" if e.get("n_failed") else "",
                    e.get("judge_error") or "" if e.get("judge_required") and not e.get("judged") else "",
                    "" if e.get("verified") else "loader not verified on real items",
                )
                if x
            )
        lines.append(
            f"| {e['suite']} | {name} | {e['status']} | {score} | {e.get('n', '-')} | {e.get('n_failed', '-')}"
            f" | {e.get('metric', '-')} | {judge_cell(e) if e['status'] != 'missing' else '-'} | {note} |"
        )
    for suite, s in summary["suites"].items():
        macro = "-" if s["macro"] is None else f"{s['macro']:.1f}"
        extra = f"; rule-only: {', '.join(s['rule_only'])}" if s["rule_only"] else ""
        lines.append(
            f"| {suite} | **macro** | {s['covered']} of {s['of']} | {macro} | | | mean of scores | |"
            f" covers {s['covered']} of the suite's {s['of']} benchmarks{extra} |"
        )
    return "\n".join(lines)


def write_summary(summary: dict, output: Path | None) -> str:
    """Write summary.json and summary.md into `output` (when given); returns the table."""
    table = markdown(summary)
    if output is not None:
        write_json(output / "summary.json", summary)
        (output / "summary.md").write_text(table + "\n", encoding="utf-8")
    return table


# --------------------------------------------------------------------------- re-grading


def rescore(output: Path, judge: Judge | None = None, benchmarks: dict[str, Benchmark] | None = None) -> dict:
    """Re-grade every saved per-sample log in `output` (no generation); rewrites each
    <bench>.json and the summary. Missing benchmarks of the previous summary stay listed."""
    benchmarks = benchmarks or load_benchmarks()
    output = Path(output)
    logs = sorted(output.glob("*.samples.jsonl"))
    if not logs:
        raise FileNotFoundError(f"{output}: no <benchmark>.samples.jsonl files to rescore")
    previous = json.loads((output / "summary.json").read_text()) if (output / "summary.json").is_file() else {}
    run = json.loads((output / "run.json").read_text()) if (output / "run.json").is_file() else {}
    rescored = {}
    for path in logs:
        name = path.name.removesuffix(".samples.jsonl")
        if name not in benchmarks:
            raise ValueError(f"{path}: no benchmark definition named {name!r}")
        bench = benchmarks[name]
        old = json.loads((output / f"{name}.json").read_text()) if (output / f"{name}.json").is_file() else {}
        records = sorted(read_samples(path).values(), key=lambda r: r.get("index", 0))
        folder = Path(old["data"]) if old.get("data") else None
        result = finalize(
            bench,
            records,
            judge,
            old.get("settings", run.get("settings")),
            old.get("settings_sha", run.get("settings_sha")),
            old.get("limit"),
            folder if folder is not None and folder.is_dir() else None,
            path,
        )
        result["rescored"] = True
        write_json(output / f"{name}.json", result)
        rescored[name] = summary_entry(result)
    order = [e["benchmark"] for e in previous.get("benchmarks", [])]
    order += [n for n in benchmarks if n in rescored and n not in order]
    entries = []
    for name in order:
        if name in rescored:
            entries.append(rescored[name])
        else:
            old = next(e for e in previous["benchmarks"] if e["benchmark"] == name)
            if old["status"] == "missing":
                entries.append(old)
    summary = summarize(entries, previous.get("settings") or run.get("settings"))
    print(write_summary(summary, output))
    return summary
