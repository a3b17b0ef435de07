"""Benchmark definitions: one small YAML file per benchmark in `mmzppo/eval/definitions/<suite>/`.

The definitions are package data, so an installed (non-editable) mmzppo finds them as well as
a checkout; `eval_suites/` at the repository root is a link to the same folder, and
$MMZPPO_EVAL_SUITES points elsewhere (a folder of your own definitions).

A definition says where a benchmark's data lives under the data root, which files to read
(`files`: glob patterns, the first one that matches anything wins), which loader in
`mmzppo.eval.loaders` turns its records into `Sample`s, and how it is scored (`metric`,
`judge`, `aggregate`). Everything a loader needs beyond its code (field names, filters,
answer-type maps) is in `fields` / `options`, so most benchmarks share one table loader.

Data lookup: a folder named after the benchmark id (`<data-root>/<name>`), then its `path`
(`<data-root>/<path>`), each also under `<data-root>/<suite>/`, so the shared `benchdata/`
folder (laid out as `{vlm,llm,video}/<name>/`) works as a data root as it is, and benchmarks
that share one release folder (OCRBench v2 EN/CN in `ocrbench_v2/`, Video-MME with and without
subtitles in `videomme/`) can also be given a folder each.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

EVAL_SUITES = Path(os.environ.get("MMZPPO_EVAL_SUITES") or Path(__file__).resolve().parent / "definitions")
SUITES = ("vlm", "llm", "video", "synthetic")
PAPER_COUNTS = {"vlm": 16, "llm": 10, "video": 5}  # benchmarks per suite in the paper's macro averages
METRICS = ("accuracy", "anls", "ocr", "and_or", "judge_only")


@dataclass(frozen=True)
class Benchmark:
    """One benchmark as declared in its YAML file (field meanings in mmzppo/eval/definitions/README.md)."""

    name: str  # short id, also the output file name
    title: str  # the name the paper uses
    suite: str  # vlm | llm | video | synthetic
    loader: str  # key of mmzppo.eval.loaders.LOADERS
    layout: str  # the expected local layout, in words (shown by --list)
    path: str | None = None  # folder under the data root; None: built in (synthetic)
    files: tuple[str, ...] = ()  # glob patterns inside the folder, in order of preference
    split: str = "test"  # the split the paper's number is on
    hf: str = ""  # the official Hugging Face dataset (or repository) the layout follows
    metric: str = "accuracy"  # accuracy (mmzppo.grading.grader.grade) | anls | ocr | and_or | judge_only
    answer_type: str | None = None  # fixed answer type for every item; None: per item
    aggregate: str = "mean"  # mean | worst_case (mmzppo.eval.metrics.AGGREGATES)
    prompt: str = "plain"  # plain (mmzppo.prompting.builders.plain) | conversation
    judge: bool = False  # graded by an LLM judge when one is given (rule-only otherwise)
    judge_output: str = "yes_no"  # how the judge answers: yes_no | score | criteria
    judge_prompt: str = ""  # Jinja template: question, gold, response, criteria
    extra: bool = False  # not one of the paper's 31: left out of the macro average
    verified: bool = False  # the loader has been run on real items of this benchmark
    fields: dict[str, Any] = field(default_factory=dict)  # record field names for the table loader
    options: dict[str, Any] = field(default_factory=dict)  # loader options
    notes: str = ""
    source_file: str = ""  # the YAML file (filled in when loaded)

    def __post_init__(self):
        def bad(why):
            raise ValueError(f"benchmark {self.name!r} ({self.source_file or 'definition'}): {why}")

        if self.suite not in SUITES:
            bad(f"suite {self.suite!r} is not one of {SUITES}")
        if self.metric not in METRICS:
            bad(f"metric {self.metric!r} is not one of {METRICS}")
        if self.judge_output not in ("yes_no", "score", "criteria"):
            bad(f"judge_output {self.judge_output!r} is not yes_no, score or criteria")
        if self.judge and not self.judge_prompt.strip():
            bad("judge: true needs a judge_prompt")
        if self.path is not None and not self.files:
            bad("a benchmark with a data path needs `files` patterns")

    @property
    def paper(self) -> bool:
        """One of the paper's 31 benchmarks (counted in the suite's macro average)."""
        return self.suite in PAPER_COUNTS and not self.extra


def _from_yaml(path: Path) -> Benchmark:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of benchmark fields")
    known = {f.name for f in dataclasses.fields(Benchmark)} - {"source_file"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    raw["files"] = tuple(raw.get("files") or ())
    suite = raw.get("suite")
    if suite != path.parent.name:
        raise ValueError(f"{path}: suite {suite!r} but the file is in {path.parent.name}/")
    return Benchmark(**raw, source_file=str(path))


@lru_cache(maxsize=4)
def load_benchmarks(folder: str | Path = EVAL_SUITES) -> dict[str, Benchmark]:
    """Every definition under `folder`, keyed by name: suite by suite, the paper's benchmarks
    before the extras, by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"benchmark definitions not found at {folder} (set MMZPPO_EVAL_SUITES)")
    out: dict[str, Benchmark] = {}
    for suite in SUITES:
        for bench in sorted(map(_from_yaml, (folder / suite).glob("*.yaml")), key=lambda b: (b.extra, b.name)):
            path = bench.source_file
            if bench.name in out:
                raise ValueError(
                    f"{path}: benchmark name {bench.name!r} already defined in {out[bench.name].source_file}"
                )
            out[bench.name] = bench
    return out


def select(benchmarks: dict[str, Benchmark], suite: str = "all", tasks: list[str] | None = None) -> list[Benchmark]:
    """The benchmarks of `suite` ("all": every suite), narrowed to `tasks` when given."""
    if suite != "all" and suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose one of all, {', '.join(SUITES)}")
    chosen = [b for b in benchmarks.values() if suite == "all" or b.suite == suite]
    if tasks:
        names = {b.name for b in chosen}
        unknown = [t for t in tasks if t not in names]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown} for suite {suite!r}; valid: {', '.join(sorted(names))}")
        chosen = [b for b in chosen if b.name in tasks]
    return chosen


def folder_names(bench: Benchmark) -> list[str]:
    """The folder names looked for under the data root: the benchmark id, then its `path`."""
    return list(dict.fromkeys([bench.name, bench.path])) if bench.path is not None else []


def expected_path(bench: Benchmark, data_root: str | Path | None) -> str:
    """Where the data is looked for, in words: "<root>/<path>" (+ " or <root>/<name>")."""
    if bench.path is None:
        return "(built in)"
    root = Path(data_root or "<data-root>")
    names = [bench.path] + [n for n in folder_names(bench) if n != bench.path]
    return " or ".join(str(root / name) for name in names)


def data_files(bench: Benchmark, folder: Path) -> list[Path]:
    """The files of the first `files` pattern that matches anything in `folder` (sorted)."""
    for pattern in bench.files:
        found = sorted(p for p in folder.glob(pattern) if p.is_file() or p.is_dir())
        if found:
            return found
    return []


def locate(bench: Benchmark, data_root: str | Path | None) -> Path | None:
    """The benchmark's data folder under the data root, or None when it is missing."""
    if bench.path is None:
        return Path(".")  # built in: always found
    if data_root is None:
        return None
    root = Path(data_root)
    for name in folder_names(bench):
        for folder in (root / name, root / bench.suite / name):
            if folder.is_dir() and data_files(bench, folder):
                return folder
    return None
