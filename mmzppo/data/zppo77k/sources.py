"""Reading the two corpora: their parquet files found in the Hugging Face layouts, cut into row
groups, and one row made into the fields a sample needs, or the reason it cannot be one.

Layouts (../shared/zppo77k.md):
- Vero-600k: one folder per config holding its parquet files, `<config>/<split>-*.parquet` or
  `<config>/<split>/*.parquet` (a `data/` level above is allowed). The config is the nearest
  folder that is not a split name or `data`; the split comes from a folder or the file name's
  first word. Only the recipe's `vero_split` (train) is read; the rows of `val` and of files
  whose split cannot be told are counted from the files' metadata and listed, not used.
- MMFineReason: `data/train-*.parquet` (any parquet below the folder; `train` split only).

Memory does not grow with a file: a file is read one row group at a time (`read_group`), and
a group's image column only when one of its rows still needs its image.

What a row needs, per side (a row that lacks it is dropped with a reason, `Drop`):
- Vero: `extra_info.question` (at most one `<image>` marker, removed), the gold
  `reward_model.ground_truth` (else `extra_info.answer`), `extra_info.reward_type` (mapped to
  an answer type by the recipe; a row without one gets the type its answer reads as) and
  `extra_info.tolerance` (a float >= 0, else none, as Vero's own loader reads it), `image`.
- MMFineReason: `source`, `question` with exactly one `<image>` marker (the image goes there;
  the marker leaves the text), `answer`, `pass_rate`, `image` (a struct, or a list of one).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmzppo.data.formats.common import infer_answer
from mmzppo.data.zppo77k.recipe import EXCLUDED, UNMAPPED, Recipe

SPLITS = ("train", "val", "validation", "test")
MARKER = "<image>"
# Columns read before the images (a row's image is read only if the row passes everything else).
TEXT_COLUMNS = {
    "vero": ["id", "reward_model", "extra_info", "ability"],
    "mmfinereason": ["id", "source", "question", "answer", "pass_rate"],
}


class Drop(Exception):
    """A row that is not used; `reason` is what the manifest counts it under."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class BadFile(Exception):
    """A parquet file that cannot be read; the message is one line naming it."""


@dataclass(frozen=True)
class SourceFile:
    """One parquet file of a corpus, from its metadata only."""

    side: str  # "vero" or "mmfinereason"
    path: str
    group: str  # Vero: the config; MMFineReason: "" (each row names its source)
    split: str  # train / val / ... / "unknown"
    group_rows: tuple[int, ...]  # rows of each row group
    columns: frozenset[str]  # top-level column names

    @property
    def rows(self) -> int:
        return sum(self.group_rows)


@dataclass
class Row:
    """The fields of one usable row (its image is read separately, by `image_bytes`)."""

    group: str  # Vero config or MMFineReason source
    rid: str  # the row's `id` ("" when it has none)
    question: str  # without the <image> marker
    answer: str
    answer_type: str
    reward_type: str | None = None  # Vero's; "llm_judge" rows are for the judge
    tolerance: float | None = None  # Vero's numeric tolerance (relative)
    image_at: int | None = None  # MMFineReason: where the marker was, in characters of `question`
    pass_rate: float | None = None
    ability: str | None = None


# --------------------------------------------------------------------------- files


def split_of(path: Path, root: Path) -> str:
    """The split a file belongs to: a folder named like a split, else its name's first word."""
    parts = path.relative_to(root).parts
    for part in parts[:-1]:
        if part in SPLITS:
            return part
    head = re.split(r"[-_.]", path.name, maxsplit=1)[0]
    return head if head in SPLITS else "unknown"


def config_of(path: Path, root: Path) -> str:
    """A Vero file's config: the nearest folder above it that is not a split name or `data`."""
    folders = [p for p in path.relative_to(root).parts[:-1] if p not in SPLITS and p != "data"]
    return folders[-1] if folders else ""


def open_file(side: str, path: Path, root: Path) -> SourceFile:
    """A file's metadata (footer only); a file that is not readable parquet is a BadFile."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        columns = frozenset(meta.schema.to_arrow_schema().names)
        group_rows = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    except Exception as e:  # ArrowInvalid, OSError, ...: the file itself is broken
        raise BadFile(f"{path}: not a readable parquet file ({type(e).__name__}: {e})") from None
    group = config_of(path, root) if side == "vero" else ""
    if side == "vero" and not group:
        raise BadFile(f"{path}: a Vero file must lie in its config's folder (<config>/<split>-*.parquet)")
    return SourceFile(side, str(path), group, split_of(path, root), group_rows, columns)


def find_files(side: str, root: str | Path, skip_bad: bool) -> tuple[list[SourceFile], list[dict]]:
    """Every parquet file below `root`, sorted; unreadable ones raise BadFile, or with
    `skip_bad` are returned apart as {path, error}."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{side} folder {root} does not exist")
    paths = sorted(root.rglob("*.parquet"))
    if not paths:
        raise FileNotFoundError(f"{root}: no .parquet files (expected the {side} layout, see --help)")
    files, bad = [], []
    for path in paths:
        try:
            files.append(open_file(side, path, root))
        except BadFile as e:
            if not skip_bad:
                raise
            bad.append({"path": str(path), "error": str(e)})
    return files, bad


@dataclass
class Plan:
    """What the inputs hold and what will be scanned."""

    files: list[SourceFile]
    units: list[tuple[int, int]]  # (file index, row group) to scan, in priority order
    from_vero: frozenset[str]  # sub-datasets with Vero rows in the input (MMFineReason's are not used)
    not_used: dict[str, dict[str, dict]] = field(default_factory=dict)  # side -> name -> {status, rows}
    bad_files: list[dict] = field(default_factory=list)


def plan_inputs(recipe: Recipe, vero: Path, mmfinereason: Path, skip_bad_files: bool) -> Plan:
    vero_files, bad = find_files("vero", vero, skip_bad_files)
    mmfr_files, bad_mmfr = find_files("mmfinereason", mmfinereason, skip_bad_files)
    plan = Plan(vero_files + mmfr_files, [], frozenset(), {"vero": {}, "mmfinereason": {}}, bad + bad_mmfr)
    from_vero = set()

    def not_used(side: str, name: str, status: str, rows: int) -> None:
        entry = plan.not_used[side].setdefault(name, {"status": status, "rows": 0})
        entry["rows"] += rows

    for i, f in enumerate(plan.files):
        if f.side == "vero":
            if f.split != recipe.vero_split:
                not_used("vero", f"{f.group} [{f.split}]", f"{f.split} split", f.rows)
                continue
            name = recipe.classify("vero", f.group)
            if name in (EXCLUDED, UNMAPPED):
                not_used("vero", f.group, name, f.rows)
                continue
            from_vero |= {name} if f.rows else set()
        elif f.split != "train":
            not_used("mmfinereason", Path(f.path).name, f"{f.split} split", f.rows)
            continue
        plan.units += [(i, g) for g in range(len(f.group_rows))]
    plan.from_vero = frozenset(from_vero)
    return plan


def read_group(file: SourceFile, index: int, columns: list[str]):
    """One row group as a pyarrow Table of the `columns` this file has (an absent column is
    missing from every row, which the row functions report by name)."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(file.path).read_row_group(index, columns=[c for c in columns if c in file.columns])
    except Exception as e:  # damaged pages inside a file whose footer reads
        raise BadFile(f"{file.path}: row group {index} is not readable ({type(e).__name__}: {e})") from None


# --------------------------------------------------------------------------- rows


def _text(value: Any, column: str) -> str:
    if value is None:
        raise Drop(f"missing column {column}")
    if not isinstance(value, str):
        raise Drop(f"non-string {column}")
    return value


def _answer(value: Any, recipe: Recipe) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Drop("empty answer")
    if not isinstance(value, str):
        raise Drop("non-string answer")
    answer = value.strip()
    if len(answer) > recipe.max_answer_chars:
        raise Drop(f"answer over {recipe.max_answer_chars} characters")
    return answer


def _without_marker(question: str, required: bool) -> tuple[str, int | None]:
    """The question without its `<image>` marker, and where the marker was."""
    n = question.count(MARKER)
    if n > 1:
        raise Drop("several <image> markers")
    if n == 0:
        if required:
            raise Drop("no <image> marker")
        return question.strip(), None
    at = question.index(MARKER)
    before, after = question[:at].rstrip(" \t"), question[at + len(MARKER) :].lstrip(" \t")
    glue = " " if before and after and not before.endswith("\n") and not after.startswith("\n") else ""
    return (before + glue + after).strip(), len(before.lstrip())


def _tolerance(value: Any) -> float | None:
    """Vero's tolerance: a float >= 0, else none (how Vero's own loader reads it)."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        return None
    return t if math.isfinite(t) and t >= 0 else None


def vero_row(record: dict, group: str, recipe: Recipe) -> Row:
    """A Vero row's fields, or Drop naming what is wrong."""
    extra = record.get("extra_info")
    if not isinstance(extra, dict):
        raise Drop("missing column extra_info")
    question, image_at = _without_marker(_text(extra.get("question"), "extra_info.question"), required=False)
    if not question:
        raise Drop("empty question")
    kind = extra.get("reward_type") or None
    if kind is not None and kind not in recipe.reward_types:
        raise Drop(f"reward type {kind} (not in the recipe)")
    if kind is not None and recipe.reward_types[kind] is None:
        raise Drop(f"reward type {kind} (not gradable)")
    reward = record.get("reward_model") if isinstance(record.get("reward_model"), dict) else {}
    gold = reward.get("ground_truth")
    if gold is None or (isinstance(gold, str) and not gold.strip()):
        gold = extra.get("answer")
    answer = _answer(gold, recipe)
    if kind is None:  # no reward type: graded as its answer reads (a number, yes/no, else text)
        answer, answer_type, _ = infer_answer(answer, None, free_type="text")
    else:
        answer_type = recipe.reward_types[kind]
    return Row(
        group=group,
        rid=str(record.get("id") or extra.get("index") or ""),
        question=question,
        answer=answer,
        answer_type=answer_type,
        reward_type=kind,
        tolerance=_tolerance(extra.get("tolerance")),
        image_at=image_at,
        ability=record.get("ability") if isinstance(record.get("ability"), str) else None,
    )


def mmfinereason_row(record: dict, recipe: Recipe) -> Row:
    """An MMFineReason row's fields, or Drop naming what is wrong (pass_rate filter included)."""
    question, image_at = _without_marker(_text(record.get("question"), "question"), required=True)
    if not question:
        raise Drop("empty question")
    answer = _answer(record.get("answer"), recipe)
    pass_rate = record.get("pass_rate")
    if pass_rate is None:
        raise Drop("missing column pass_rate")
    try:
        pass_rate = float(pass_rate)
    except (TypeError, ValueError):
        raise Drop("non-numeric pass_rate") from None
    if pass_rate > recipe.max_pass_rate:
        raise Drop(f"pass_rate over {recipe.max_pass_rate}")
    answer, answer_type, _ = infer_answer(answer, None, free_type="latex")
    return Row(
        group=str(record.get("source")),
        rid=str(record.get("id") or ""),
        question=question,
        answer=answer,
        answer_type=answer_type,
        image_at=image_at,
        pass_rate=pass_rate,
    )


def image_bytes(value: Any) -> bytes:
    """The bytes of a row's one image (a Hugging Face Image struct {bytes, path}, or a list
    holding exactly one), or Drop."""
    if isinstance(value, list):
        if len(value) > 1:
            raise Drop("image list")
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("bytes")
    if not value:
        raise Drop("missing image")
    if not isinstance(value, (bytes, bytearray)):
        raise Drop("missing image")
    return bytes(value)
