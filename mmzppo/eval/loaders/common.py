"""The pieces every evaluation loader shares, and the table layout.

A loader (`LOADERS[bench.loader](bench, folder, media_dir)`, registered in
`mmzppo.eval.loaders`) yields, in the benchmark's own order, a `Sample` per record, or a
`Failed` item for a record that cannot become one (an empty gold answer, an undecodable
embedded image, ...), so that it is counted as failed instead of silently dropped. Media
embedded in the data (parquet image bytes, base64 strings) are written to `media_dir`.

Most benchmarks go through `table`: any JSON / JSONL / parquet / CSV file whose records name
their question, answer, options and media under the field names given in the YAML
(`fields`), with declarative options (filters, answer-type maps, index answers). Layouts a
field mapping cannot say have their own loader in `loaders.benchdata` (the layouts of
../shared/benchdata, which reuse the record -> Sample functions of `mmzppo.data.formats`) or
`loaders.official`.
"""

from __future__ import annotations

import ast
import base64
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzppo.data import formats as F
from mmzppo.data.convert import json_records, parquet_rows
from mmzppo.data.formats import LETTERS
from mmzppo.data.sample import ANSWER_TYPES, Sample, SampleError
from mmzppo.eval.suites import Benchmark, data_files


@dataclass
class Failed:
    """An item that could not be turned into a Sample; scored as failed with `reason`."""

    uid: str
    reason: str  # the full message (file and record named)
    failure: str = ""  # the short reason counted in the summary


Item = Sample | Failed
Loader = Callable[[Benchmark, Path, Path], Iterator[Item]]


# --------------------------------------------------------------------------- reading files


def read_table(path: Path) -> Iterator[tuple[str, dict]]:
    """(where, record) of a .jsonl / .json / .parquet / .csv / .tsv file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from ((f"{path}#row{row}", record) for row, record in parquet_rows(path))
    elif suffix in (".csv", ".tsv"):
        with open(path, newline="", encoding="utf-8") as f:
            header = f.readline()
            f.seek(0)
            # some releases write ';'-separated .csv files (MMLU-Redux on GitHub): read the header
            delimiter = "\t" if suffix == ".tsv" else ";" if header.count(";") > header.count(",") else ","
            for n, record in enumerate(csv.DictReader(f, delimiter=delimiter)):
                yield f"{path}#row{n}", record  # a row, not a line: quoted cells may hold newlines
    else:
        yield from json_records(path)


def records(bench: Benchmark, folder: Path) -> Iterator[tuple[str, Path, dict]]:
    """(where, file, record) over the benchmark's data files."""
    for path in data_files(bench, folder):
        for where, record in read_table(path):
            yield where, path, record


def guarded(uid: str, where: str, make: Callable[..., Sample], /, *args, **kwargs) -> Item:
    """`make(*args, **kwargs)`, or a `Failed` item (uid `uid`) naming why the record is unusable."""
    try:
        return make(*args, **kwargs)
    except (SampleError, F.RecordError) as e:
        reason = f"{e.field}: {e.problem}"
    except KeyError as e:
        reason = f"record has no field {e}"
    except (TypeError, ValueError) as e:
        reason = f"{type(e).__name__}: {e}"
    return Failed(uid=uid, reason=f"bad record ({where}): {reason}", failure=f"bad record: {reason}"[:100])


# --------------------------------------------------------------------------- media


def _write_media(data: bytes, media_dir: Path, stem: str) -> str:
    """Embedded image bytes as `media_dir/<stem>.<detected format>` (kept when already there)."""
    path = media_dir / f"{F.safe_uid(stem)}.{F.image_suffix(data)}"
    if not path.exists() or path.stat().st_size != len(data):
        path.write_bytes(data)
    return str(path)


def media_path(value: Any, folder: Path, media_dir: Path, stem: str, subdir: str = "") -> str | None:
    """A file path for one media field value: a path relative to `folder` (or `folder/subdir`),
    an HF URL whose tail is a local path, or embedded bytes ({bytes, path} struct, raw bytes,
    base64 / data URI), which are written to `media_dir/<stem>.<ext>`."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        if value.get("bytes"):
            return _write_media(value["bytes"], media_dir, stem)
        value = value.get("path")
        if not value:
            return None
    if isinstance(value, (bytes, bytearray)):
        return _write_media(bytes(value), media_dir, stem)
    value = str(value)
    if value.startswith("data:"):
        return _write_media(base64.b64decode(value.split(",", 1)[1]), media_dir, stem)
    if value.startswith(("http://", "https://")):
        tail = value.split("/resolve/main/", 1)[1] if "/resolve/main/" in value else Path(value).name
        value = tail if (folder / tail).exists() else Path(tail).name
    if len(value) > 512:  # no file path is this long: bare base64 data (EmbSpatial-Bench)
        try:
            return _write_media(base64.b64decode(value, validate=True), media_dir, stem)
        except ValueError:
            raise F.RecordError("image", "neither a file path nor base64 image data") from None
    for base in (folder / subdir, folder) if subdir else (folder,):
        if (base / value).exists():
            return str(base / value)
    return str(folder / subdir / value)  # does not exist: the encoder reports it per sample


def as_options(value: Any) -> list[str] | None:
    """Options as a list of strings: a list, a dict {"A": text}, or a string holding a list."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise F.RecordError("options", "not a list literal") from None
        else:
            return None  # options written inside the question text
    if isinstance(value, dict):
        value = [value[k] for k in sorted(value) if value[k] not in (None, "")]
    options = [str(o) for o in value]
    labelled = [re.match(rf"\(?{LETTERS[i]}[.)]\s+", o) for i, o in enumerate(options[: len(LETTERS)])]
    if len(options) <= len(LETTERS) and all(labelled):  # "A. text" (Video-MME): the prompt adds letters
        options = [o[m.end() :] for o, m in zip(options, labelled)]
    return options if len(options) >= 2 else None


# --------------------------------------------------------------------------- the table layout


def pick(record: dict, name: str, fields: dict[str, Any]) -> Any:
    """The record's value for `name`: the YAML's field name(s) for it, else the generic names."""
    given = fields.get(name)
    keys = ([given] if isinstance(given, str) else list(given)) if given else list(F.GENERIC_FIELDS.get(name, (name,)))
    return next((record[k] for k in keys if k in record and record[k] is not None and record[k] != ""), None)


def keep(bench: Benchmark, record: dict) -> bool:
    """The YAML's `options.filter`: {field: value or [values]} every record must match."""
    for key, wanted in (bench.options.get("filter") or {}).items():
        wanted = wanted if isinstance(wanted, list) else [wanted]
        if record.get(key) not in wanted:
            return False
    return True


def table_sample(bench: Benchmark, record: dict, index: int, folder: Path, media_dir: Path, **override) -> Sample:
    """One record of a table layout as a Sample, per the YAML's `fields` and `options`.

    Options: answer_is_index (the answer is a 0-based option index), free_type (type of
    answers without options), answer_type_from + answer_type_map (per-record type),
    image_dir / video_dir / video_ext (where media files are), strip_braces (gold "{3}"),
    append_fields (record fields added to the question), meta (record fields kept).
    `override` replaces computed Sample fields (uid, question, video, meta, ...); the uid also
    names the media files unpacked for the item.
    """
    f, o = bench.fields, bench.options
    raw_id = pick(record, "id", f)
    uid = override.pop("uid", None) or f"{bench.name}-{F.safe_uid(raw_id) if raw_id is not None else index}"
    question = override.pop("question", None) or pick(record, "question", f)
    if question is None:
        raise F.RecordError("question", "missing")
    for extra in o.get("append_fields") or []:  # e.g. WeMath's options string
        if record.get(extra):
            question = f"{question}\n{record[extra]}"
    golds = pick(record, "golds", f) if "golds" in f else None
    answer = golds[0] if golds else pick(record, "answer", f)
    if answer is None:
        raise F.RecordError("answer", "missing")
    if o.get("strip_braces"):
        answer = str(answer).strip().strip("{}").strip()
    options = as_options(pick(record, "options", f))
    index_value = pick(record, "answer_index", f) if "answer_index" in f else None
    if o.get("answer_is_index") and options:
        index_value = int(str(answer).strip())
    answer, answer_type, choices = F.infer_answer(answer, options, o.get("free_type", "latex"), index_value)
    typed = record.get(o["answer_type_from"]) if o.get("answer_type_from") else None
    if typed is not None:
        answer_type = (o.get("answer_type_map") or {}).get(typed, typed)
        if answer_type not in ANSWER_TYPES:
            raise F.RecordError(o["answer_type_from"], f"{typed!r} maps to no answer type")
    answer_type = bench.answer_type or answer_type
    images = pick(record, "images", f)
    images = images if isinstance(images, list) else [images] if images is not None else []
    image_paths = [
        media_path(im, folder, media_dir, f"{uid}-{k}", o.get("image_dir", "")) for k, im in enumerate(images)
    ]
    video = pick(record, "video", f) if "video" in f else None
    if video is not None:
        video = media_path(f"{video}{o.get('video_ext', '')}", folder, media_dir, uid, o.get("video_dir", ""))
    meta = {k: record.get(k) for k in o.get("meta") or [] if k in record}
    if golds:
        meta["golds"] = [str(g) for g in golds]
    if "group" in f:
        meta["group"] = str(pick(record, "group", f))
    values = dict(
        uid=uid,
        question=str(question),
        answer=answer,
        answer_type=answer_type,
        images=[p for p in image_paths if p],
        video=video,
        choices=choices,
        source=bench.name,
        meta=meta,
    )
    values.update(override)
    return Sample(**values)


def table(bench: Benchmark, folder: Path, media_dir: Path) -> Iterator[Item]:
    """The generic layout: every record of the data files kept by `options.filter`, by `table_sample`."""
    index = 0
    for where, _, record in records(bench, folder):
        if keep(bench, record):
            yield guarded(f"{bench.name}-{index}", where, table_sample, bench, record, index, folder, media_dir)
            index += 1
