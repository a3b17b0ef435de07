"""Benchmark folders -> shards: walk the source files, build Samples, skip and count bad records.

Every folder of ../shared/benchdata converts with the format of its name (`gsm8k`, `mmmu`,
`tgifqa`, ...), except `llm/multichallenge`: its items are conversations graded by an LLM judge
against a rubric question, with no gold answer a training reward could check, so it has an
evaluation loader (`mmzppo.eval`) and no training converter. `jsonl` and `videoqa` take any
JSON/JSONL file of image or video questions with the generic field mapping of
`formats.GENERIC_FIELDS`.

Records a benchmark itself marks unusable as training items are skipped and counted like bad
ones: MMLU-Redux rows not annotated "ok", MM-Vet `<AND>` golds (every part required; the
training grader takes one answer).

What happens to bad input (chosen per case):
- a record missing a required field, with an empty question or answer, an answer that is not
  among its options, a media file that does not exist, or a duplicate uid: skipped, counted
  by reason in index.json ("skipped", "skipped_items" with the file and line or row), and
  logged as a warning naming the file and line;
- a JSONL line that is not JSON, or a source folder without the expected file: a clear error
  (ValueError / FileNotFoundError naming the file and line), because the file itself is
  broken or the wrong folder was given, and skipping would hide that.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzppo.data import formats as F
from mmzppo.data.sample import Sample, SampleError
from mmzppo.data.shards import ShardWriter, _quiet

log = logging.getLogger(__name__)

Record = tuple[str, int, Any]  # (where: "file:line", running index, the record)


@dataclass
class Options:
    """What a record -> Sample function may need besides the record."""

    src: Path  # the source folder (or file)
    root: Path  # folder that media paths are relative to
    media_dir: Path  # temporary folder for media that are embedded in the source (MMMU)
    source: str | None = None  # source name for generic layouts
    fields: dict[str, str] | None = None  # generic field mapping overrides


# --------------------------------------------------------------------------- reading source files


def find_file(src: Path, names: tuple[str, ...]) -> Path:
    """The source file: `src` itself, or the first of `names` inside it."""
    if src.is_file():
        return src
    for name in names:
        if (src / name).is_file():
            return src / name
    raise FileNotFoundError(f"{src}: expected one of {', '.join(names)}")


def numbered_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, record) of a JSON Lines file; a bad line is an error naming file:line."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: bad JSON ({e.msg}); fix the file or drop the line") from None


def json_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) of a .jsonl file, or of a .json file holding a list, an object of records
    keyed by id, or (as PuzzleVQA's *.json) JSON Lines."""
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            data = None  # JSON Lines under a .json name
        if isinstance(data, list):
            yield from ((f"{path}[{i}]", r) for i, r in enumerate(data))
            return
        if isinstance(data, dict) and data and all(isinstance(r, dict) for r in data.values()):
            yield from ((f"{path}:{k}", {"id": k, **r}) for k, r in data.items())
            return
        if isinstance(data, dict):  # one record
            yield f"{path}:1", data
            return
    yield from ((f"{path}:{n}", r) for n, r in numbered_jsonl(path))


def records_of(files: list[Path], lines_only: bool = False) -> Iterator[Record]:
    """Records of several files with one running index (`lines_only`: every file is JSON Lines)."""
    i = 0
    for path in files:
        pairs = ((f"{path}:{n}", r) for n, r in numbered_jsonl(path)) if lines_only else json_records(path)
        for where, record in pairs:
            yield where, i, record
            i += 1


def one_file(*names: str) -> Callable[[Path], Iterator[Record]]:
    return lambda src: records_of([find_file(src, names)])


def all_files(*patterns: str, lines_only: bool = False) -> Callable[[Path], Iterator[Record]]:
    """Every file matching the patterns in the folder (sorted), or the file given."""

    def records(src: Path) -> Iterator[Record]:
        files = [src] if src.is_file() else sorted({p for pat in patterns for p in src.glob(pat)})
        if not files:
            raise FileNotFoundError(f"{src}: no {' or '.join(patterns)} files")
        return records_of(files, lines_only)

    return records


def logicvista_records(src: Path) -> Iterator[Record]:
    path = find_file(src, ("dataset.json",))
    data = json.loads(path.read_text(encoding="utf-8"))
    for i, (key, record) in enumerate(data.items()):
        yield f"{path}:{key}", i, (key, record)


def parquet_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(row, record) of a parquet file, read in batches so memory does not grow with the file."""
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
        for record in batch.to_pylist():
            yield row, record
            row += 1


def parquet_records(src: Path) -> Iterator[Record]:
    """(record, file, row in that file) of every parquet file below `src` (HF layouts such as
    <Subject>/<split>-*.parquet)."""
    files = [src] if src.is_file() else sorted(src.rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{src}: no .parquet files")
    i = 0
    for path in files:
        for row, record in parquet_rows(path):
            yield f"{path}#row{row}", i, (record, path, row)
            i += 1


def csv_records(*names: str) -> Callable[[Path], Iterator[Record]]:
    """Rows of a CSV file with a header (IMO-AnswerBench); `where` is file:line."""
    import csv

    def records(src: Path) -> Iterator[Record]:
        path = find_file(src, names)
        with open(path, newline="", encoding="utf-8") as f:
            for i, record in enumerate(csv.DictReader(f)):
                yield f"{path}#row{i}", i, record  # a row, not a line: quoted cells span lines

    return records


def _dynamath(record: tuple[dict, Path, int], o: Options) -> Sample:
    """A DynaMath_Sample row: the variant from the file name, the PNG unpacked to media_dir."""
    row, path, _ = record
    variant = F.dynamath_variant(path.name)
    image = F.write_embedded(row.get("decoded_image"), o.media_dir, f"dynamath-v{variant}-{F.safe_uid(row['id'])}")
    return F.dynamath_sample(row, variant, image or (str(o.root / row["image"]) if row.get("image") else None))


# --------------------------------------------------------------------------- the formats


@dataclass(frozen=True)
class Format:
    """One source layout: how to list its records and how to make a Sample of one."""

    records: Callable[[Path], Iterator[Record]]
    to_sample: Callable[[Any, int, Options], Sample]
    about: str


def _generic(free_type: str) -> Callable[[Any, int, Options], Sample]:
    def to_sample(record: Any, index: int, o: Options) -> Sample:
        source = o.source or (o.src.stem if o.src.is_file() else o.src.name)
        return F.generic_sample(record, o.root, index, source=source, fields=o.fields, free_type=free_type)

    return to_sample


FORMATS: dict[str, Format] = {
    "jsonl": Format(
        all_files("*.jsonl", "*.json"),
        _generic("latex"),
        "generic JSON/JSONL image questions (question/answer/image(s)/options; --field to remap)",
    ),
    "videoqa": Format(
        all_files("*.jsonl"), _generic("text"), "generic video QA JSONL (video_mp4 or video, question, answer, options)"
    ),
    "gsm8k": Format(one_file("test.jsonl"), lambda r, i, o: F.gsm8k_sample(r, i), "GSM8K test.jsonl"),
    "math500": Format(one_file("test.jsonl"), lambda r, i, o: F.math500_sample(r, i), "MATH-500 test.jsonl"),
    "aime25": Format(one_file("test.jsonl"), lambda r, i, o: F.aime25_sample(r, i), "AIME 2025 test.jsonl"),
    "mmlu": Format(one_file("test.jsonl"), lambda r, i, o: F.mmlu_sample(r, i), "MMLU test.jsonl (cais fields)"),
    "mmlu_pro": Format(one_file("test.jsonl"), lambda r, i, o: F.mmlu_pro_sample(r, i), "MMLU-Pro test.jsonl"),
    "mathvision": Format(
        one_file("testmini.jsonl", "test.jsonl"),
        lambda r, i, o: F.mathvision_sample(r, o.root),
        "MATH-Vision *.jsonl + images/",
    ),
    "logicvista": Format(
        logicvista_records, lambda r, i, o: F.logicvista_sample(r[0], r[1], o.root), "LogicVista dataset.json + images/"
    ),
    "puzzlevqa": Format(
        all_files("*.json", lines_only=True),
        lambda r, i, o: F.puzzlevqa_sample(r, o.root),
        "PuzzleVQA <puzzle>.json (JSONL) + images/",
    ),
    "mmmu": Format(
        parquet_records,
        lambda r, i, o: F.mmmu_file_sample(r[0], r[1], o.media_dir),
        "MMMU HF parquet folder (<Subject>/<split>-*.parquet, embedded images)",
    ),
    "aime26": Format(
        one_file("test.jsonl"), lambda r, i, o: F.aime_sample(r, i, "aime26"), "AIME 2026 test.jsonl (problem, answer)"
    ),
    "imo_answerbench": Format(
        csv_records("answerbench.csv", "answerbench_v2.csv"),
        lambda r, i, o: F.imo_answerbench_sample(r, i),
        "IMO-AnswerBench answerbench.csv (Problem ID, Problem, Short Answer, ...)",
    ),
    "mmlu_redux": Format(
        parquet_records,
        lambda r, i, o: F.mmlu_redux_sample(r[0], F.redux_subject(r[1]), r[2]),
        "MMLU-Redux 2.0 HF parquet <subject>/test-*.parquet; rows not annotated ok are skipped",
    ),
    "dynamath": Format(
        parquet_records,
        lambda r, i, o: _dynamath(r, o),
        "DynaMath_Sample HF parquet sample_variant<k>-*.parquet (decoded_image embedded)",
    ),
    "mmvet": Format(
        one_file("mm-vet.json"),
        lambda r, i, o: F.mmvet_sample(r["id"], r, o.root),
        "MM-Vet mm-vet.json + images/; <AND> golds are skipped (no single training answer)",
    ),
    "wemath": Format(
        one_file("testmini.json"),
        lambda r, i, o: F.wemath_sample(r, o.root),
        "WE-MATH testmini.json + <image_path> images",
    ),
    "tempcompass": Format(
        one_file("test.jsonl"),
        lambda r, i, o: F.tempcompass_sample(r, o.root, i),
        "TempCompass test.jsonl + mp4 videos",
    ),
    "tgifqa": Format(
        one_file("test.jsonl"), lambda r, i, o: F.tgifqa_sample(r, o.root), "TGIF-QA test.jsonl + mp4 videos"
    ),
}


# --------------------------------------------------------------------------- converting


def missing_media(sample: Sample) -> str | None:
    """The first media file of a sample that does not exist (a converter skips the record)."""
    paths = [*sample.images, *(sample.video if isinstance(sample.video, list) else [sample.video])]
    return next((str(p) for p in paths if isinstance(p, (str, Path)) and not Path(p).is_file()), None)


def to_sample_or_reason(spec: Format, record: Any, index: int, options: Options) -> Sample | tuple[str, str]:
    """The record's Sample, or (reason, detail) saying why it is skipped."""
    try:
        sample = spec.to_sample(record, index, options)
    except KeyError as e:
        return f"missing field {e}", f"record has no field {e}"
    except (SampleError, F.RecordError) as e:
        return f"{e.field}: {e.problem}", str(e)
    except TypeError as e:  # a field of the wrong type (a number where a list belongs, ...)
        return "wrong field type", str(e)
    if (path := missing_media(sample)) is not None:
        return "missing media file", path
    return sample


def convert(
    fmt: str,
    src: str | Path,
    out: str | Path,
    *,
    maxcount: int = 500,
    maxsize: float = 1e9,
    source: str | None = None,
    fields: dict[str, str] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Convert one source folder (or file) of format `fmt` into shards in `out`; returns index.json.

    The source is only read. Embedded media (MMMU) are unpacked to a temporary folder that
    lives until the shards are written.
    """
    from tqdm import tqdm

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    src = Path(src)
    if not src.exists():
        raise FileNotFoundError(f"source {src} does not exist")
    spec = FORMATS[fmt]
    extra = {"converted_from": {"format": fmt, "src": str(src)}}
    with tempfile.TemporaryDirectory(prefix="mmzppo-media-") as media:
        options = Options(src, src.parent if src.is_file() else src, Path(media), source, fields)
        with ShardWriter(out, maxcount=maxcount, maxsize=maxsize, extra=extra) as writer:
            seen: set[str] = set()
            for where, index, record in tqdm(
                spec.records(src), desc=f"converting {fmt}", unit="record", disable=_quiet(progress)
            ):
                result = to_sample_or_reason(spec, record, index, options)
                if isinstance(result, Sample) and result.uid in seen:
                    result = ("duplicate uid", result.uid)
                if isinstance(result, Sample):
                    seen.add(result.uid)
                    writer.write(result)
                else:
                    log.warning("%s: skipped (%s; %s)", where, *result)
                    writer.skip(where, *result)
    return writer.index()
