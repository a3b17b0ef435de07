"""Benchmark loaders: a benchmark folder -> `Sample`s, plus the few benchmark-specific pieces.

`LOADERS[bench.loader](bench, folder, media_dir)` yields, in the benchmark's own order, a
`Sample` per record, or a `Failed` item for a record that cannot become one (an empty gold
answer, an undecodable embedded image, ...), so that it is counted as failed instead of
silently dropped. Media embedded in the data (parquet image bytes, base64 strings) are
written to `media_dir`.

Most benchmarks go through `table`: any JSON / JSONL / parquet / CSV file whose records name
their question, answer, options and media under the field names given in the YAML
(`fields`), with declarative options (filters, answer-type maps, index answers). Loaders
with their own function are the layouts a field mapping cannot say: the local benchdata
layouts (reusing `mmzppo.data.formats`), multi-config folders (MMMU-Pro, MVBench,
Video-MMMU), subtitles (Video-MME), shuffled options (GPQA), conversations (MultiChallenge)
and the synthetic suite.

`PROMPTS` holds prompt builders other than `mmzppo.prompts.plain`; `AGGREGATES` holds
benchmark scores other than the mean of per-item scores (DynaMath's worst case).
"""

from __future__ import annotations

import ast
import base64
import csv
import dataclasses
import hashlib
import io
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzppo.data import formats as F
from mmzppo.data.convert import json_records
from mmzppo.data.sample import ANSWER_TYPES, Sample, SampleError
from mmzppo.eval.suites import Benchmark, data_files
from mmzppo.prompts import Prompt

LETTERS = F.LETTERS


@dataclass
class Failed:
    """An item that could not be turned into a Sample; scored as failed with `reason`."""

    uid: str
    reason: str  # the full message (file and record named)
    failure: str = ""  # the short reason counted in the summary


Item = Sample | Failed
Loader = Callable[[Benchmark, Path, Path], Iterator[Item]]
LOADERS: dict[str, Loader] = {}


def loader(name: str):
    def register(fn: Loader) -> Loader:
        LOADERS[name] = fn
        return fn

    return register


def load_items(bench: Benchmark, folder: Path, media_dir: Path) -> Iterator[Item]:
    """The benchmark's items with unique uids (a repeated uid gets a `-2`, `-3` ... suffix)."""
    if bench.loader not in LOADERS:
        raise ValueError(f"benchmark {bench.name!r}: unknown loader {bench.loader!r}; known: {sorted(LOADERS)}")
    media_dir.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = defaultdict(int)
    for item in LOADERS[bench.loader](bench, folder, media_dir):
        seen[item.uid] += 1
        if seen[item.uid] > 1:
            item = dataclasses.replace(item, uid=f"{item.uid}-{seen[item.uid]}")
        yield item


# --------------------------------------------------------------------------- reading files


def read_table(path: Path) -> Iterator[tuple[str, dict]]:
    """(where, record) of a .jsonl / .json / .parquet / .csv / .tsv file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        row = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
            for record in batch.to_pylist():
                yield f"{path}#row{row}", record
                row += 1
    elif suffix in (".csv", ".tsv"):
        with open(path, newline="", encoding="utf-8") as f:
            for n, record in enumerate(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","), 2):
                yield f"{path}:{n}", record
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


def _image_suffix(data: bytes) -> str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return {"jpeg": "jpg"}.get(im.format.lower(), im.format.lower())
    except Exception as e:
        raise F.RecordError("image", f"embedded image is not decodable ({e})") from None


def _write_media(data: bytes, media_dir: Path, stem: str) -> str:
    path = media_dir / f"{F.safe_uid(stem)}.{_image_suffix(data)}"
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
        uid=uid, question=str(question), answer=answer, answer_type=answer_type,
        images=[p for p in image_paths if p], video=video, choices=choices, source=bench.name, meta=meta,
    )  # fmt: skip
    values.update(override)
    return Sample(**values)


@loader("table")
def table(bench: Benchmark, folder: Path, media_dir: Path) -> Iterator[Item]:
    index = 0
    for where, _, record in records(bench, folder):
        if keep(bench, record):
            yield guarded(f"{bench.name}-{index}", where, table_sample, bench, record, index, folder, media_dir)
            index += 1


# --------------------------------------------------------------------------- local benchdata layouts
# (mmzppo.data.formats record -> Sample functions; also the official HF layouts where they differ)


def _mathvision_sample(record: dict, folder: Path, media_dir: Path) -> Sample:
    if not (folder / str(record.get("image", ""))).is_file() and record.get("decoded_image"):
        image = media_path(record["decoded_image"], folder, media_dir, f"mathvision-{record['id']}")
        record = {**record, "image": image}
    return F.mathvision_sample(record, folder)


@loader("mathvision")
def mathvision(bench, folder, media_dir):
    """MathLLMs/MathVision: JSONL + images/ (GitHub) or parquet with `decoded_image` (HF)."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"mathvision-{record.get('id', i)}", where, _mathvision_sample, record, folder, media_dir)


@loader("mmmu")
def mmmu(bench, folder, media_dir):
    """MMMU/MMMU parquet shards (<Subject>/<split>-*.parquet, images embedded)."""
    for i, (where, path, record) in enumerate(records(bench, folder)):
        uid = f"mmmu-{F.safe_uid(record.get('id', i))}"
        split = path.name.split("-")[0]
        yield guarded(uid, where, F.mmmu_sample, record, media_dir, subject=path.parent.name, split=split)


@loader("logicvista")
def logicvista(bench, folder, media_dir):
    for where, _, record in records(bench, folder):
        key = str(record["id"])
        yield guarded(f"logicvista-{F.safe_uid(key)}", where, F.logicvista_sample, key, record, folder)


@loader("puzzlevqa")
def puzzlevqa(bench, folder, media_dir):
    for i, (where, _, record) in enumerate(records(bench, folder)):
        uid = f"puzzlevqa-{F.safe_uid(Path(str(record.get('image', i))).stem)}"
        yield guarded(uid, where, F.puzzlevqa_sample, record, folder)


@loader("tempcompass")
def tempcompass(bench, folder, media_dir):
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"tempcompass-{i}", where, F.tempcompass_sample, record, folder, i)


@loader("tgifqa")
def tgifqa(bench, folder, media_dir):
    for i, (where, _, record) in enumerate(records(bench, folder)):
        uid = f"tgifqa-{F.safe_uid(Path(str(record.get('video', i))).stem)}"
        yield guarded(uid, where, F.tgifqa_sample, record, folder)


_TEXT_FORMATS = {"gsm8k": F.gsm8k_sample, "math500": F.math500_sample, "mmlu_pro": F.mmlu_pro_sample}


@loader("gsm8k")
@loader("math500")
@loader("mmlu_pro")
def text_format(bench, folder, media_dir):
    """GSM8K / MATH-500 / MMLU-Pro (JSONL as in benchdata, or the HF parquet with the same fields)."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        if bench.loader == "mmlu_pro" and record.get("options") is not None:  # HF parquet pads with "N/A"
            record = {**record, "options": [o for o in record["options"] if o != "N/A"]}
        yield guarded(f"{bench.name}-{i}", where, _TEXT_FORMATS[bench.loader], record, i)


def _mmlu_sample(record: dict, index: int, name: str) -> Sample:
    return dataclasses.replace(F.mmlu_sample(record, index), uid=f"{name}-{index}", source=name)


@loader("mmlu")
def mmlu(bench, folder, media_dir):
    """cais/mmlu fields (question, subject, choices, answer index), JSONL or parquet."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"{bench.name}-{i}", where, _mmlu_sample, record, i, bench.name)


def _aime_sample(record: dict, index: int, bench: Benchmark) -> Sample:
    question = pick(record, "question", bench.fields)
    return Sample(uid=f"{bench.name}-{index}", question=str(question or ""), answer=str(record.get("answer", "")),
                  answer_type="number", source=bench.name)  # fmt: skip


@loader("aime")
def aime(bench, folder, media_dir):
    """AIME (opencompass/AIME2025 `question`, or `problem`): an integer answer 0-999."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"{bench.name}-{i}", where, _aime_sample, record, i, bench)


# --------------------------------------------------------------------------- official layouts with own code


def _mmmu_pro_vision(record: dict, uid: str, bench: Benchmark, folder: Path, media_dir: Path) -> Sample:
    """A `vision` row: question and options are inside the screenshot; the gold is a letter."""
    answer, _, _ = F.infer_answer(record["answer"], as_options(record.get("options")))
    return Sample(uid=uid, question=bench.options.get("vision_question", "Answer the question in the image."),
                  answer=answer, answer_type="choice", images=[media_path(record["image"], folder, media_dir, uid)],
                  source=bench.name, meta={"subset": "vision", "subject": record.get("subject")})  # fmt: skip


def _mmmu_pro_standard(record: dict, uid: str, bench: Benchmark, media_dir: Path) -> Sample:
    """A `standard (10 options)` row: an MMMU row (every question is multiple choice)."""
    s = F.mmmu_sample({**record, "question_type": "multiple-choice"}, media_dir)
    return dataclasses.replace(s, uid=uid, source=bench.name, meta={**s.meta, "subset": "standard"})


@loader("mmmu_pro")
def mmmu_pro(bench, folder, media_dir):
    """MMMU/MMMU_Pro: `standard (10 options)` rows are MMMU rows (image_1..7, options string);
    `vision` rows have the question and options inside one screenshot (`image`). Both configs
    have the same 1,730 questions, so accuracy over both = the mean of the two settings."""
    for subset in bench.options.get("subsets", ["standard (10 options)", "vision"]):
        for path in sorted((folder / subset).glob("*.parquet")):
            for where, record in read_table(path):
                tag = "vision" if subset == "vision" else "standard"
                uid = f"mmmu_pro-{tag}-{F.safe_uid(record.get('id') or where)}"
                if subset == "vision":
                    yield guarded(uid, where, _mmmu_pro_vision, record, uid, bench, folder, media_dir)
                else:
                    yield guarded(uid, where, _mmmu_pro_standard, record, uid, bench, media_dir)


@loader("dynamath")
def dynamath(bench, folder, media_dir):
    """DynaMath/DynaMath_Sample: one folder (or file) per variant, the same question ids in each;
    the variant comes from the path (`sample_variant3...`), the group is the question id."""
    for where, path, record in records(bench, folder):
        variant = (re.search(r"variant(\d+)", str(path.relative_to(folder))) or [None, "1"])[1]
        uid = f"dynamath-v{variant}-{F.safe_uid(record.get('id', where))}"
        yield guarded(uid, where, table_sample, bench, record, 0, folder, media_dir, uid=uid)


@loader("ocrbench_v2")
def ocrbench_v2(bench, folder, media_dir):
    """OCRBench v2 (OCRBench_v2.json of the MultimodalOCR repo): the task `type` ends in
    " en" or " cn"; `options.language` keeps one of them."""
    lang = bench.options["language"]
    for i, (where, _, record) in enumerate(records(bench, folder)):
        if str(record.get("type", "")).strip().lower().endswith(f" {lang}"):
            yield guarded(f"{bench.name}-{i}", where, table_sample, bench, record, i, folder, media_dir)


@loader("ceval")
def ceval(bench, folder, media_dir):
    """ceval/ceval-exam: <subject>/val-*.parquet (HF) or val/<subject>_val.csv (zip); options in
    columns A-D. The test split has no public answers, so the paper-style number is on val."""
    for where, path, record in records(bench, folder):
        subject = path.parent.name if path.suffix == ".parquet" else path.stem.removesuffix("_val")
        uid = f"ceval-{F.safe_uid(subject)}-{record.get('id', where)}"
        record = {**record, "options": [record.get(k) for k in "ABCD"]}
        yield guarded(uid, where, table_sample, bench, record, 0, folder, media_dir, uid=uid, meta={"subject": subject})


def _gpqa_sample(record: dict, index: int, bench: Benchmark) -> Sample:
    rid = str(record.get("Record ID") or index)
    options = [record["Correct Answer"]] + [record[f"Incorrect Answer {k}"] for k in (1, 2, 3)]
    order = list(range(4))
    random.Random(int(hashlib.sha256(rid.encode()).hexdigest()[:8], 16)).shuffle(order)
    return Sample(uid=f"gpqa-{F.safe_uid(rid)}", question=str(record["Question"]).strip(),
                  answer=LETTERS[order.index(0)], answer_type="choice",
                  choices=[str(options[k]).strip() for k in order], source=bench.name,
                  meta={"order": order, "domain": record.get("High-level domain")})  # fmt: skip


@loader("gpqa")
def gpqa(bench, folder, media_dir):
    """Idavidrein/gpqa CSV: the correct and three incorrect answers, shuffled with a seed taken
    from the record id (stable across runs and machines; the order is recorded in meta)."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"gpqa-{i}", where, _gpqa_sample, record, i, bench)


@loader("hle")
def hle(bench, folder, media_dir):
    """cais/hle: `image` is '' for text-only questions; `options.text_only` keeps those (the
    LLM suite). Multiple-choice options are inside the question; the gold is a letter."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        if not (bench.options.get("text_only") and record.get("image")):
            yield guarded(f"hle-{i}", where, table_sample, bench, record, i, folder, media_dir)


@loader("vlms_are_blind")
def vlms_are_blind(bench, folder, media_dir):
    """XAI/vlmsareblind: `prompt`, `ground_truth` (a number or word, sometimes in braces), `task`."""
    yield from table(dataclasses.replace(bench, options={**bench.options, "strip_braces": True}), folder, media_dir)


def _multichallenge_sample(record: dict, index: int, bench: Benchmark) -> Sample:
    turns = [{"role": t["role"], "content": str(t["content"])} for t in record["CONVERSATION"]]
    last_user = next((t["content"] for t in reversed(turns) if t["role"] == "user"), "")
    return Sample(uid=f"multichallenge-{F.safe_uid(record.get('QUESTION_ID', index))}", question=last_user,
                  answer=str(record["PASS_CRITERIA"]).upper(), answer_type="text", source=bench.name,
                  meta={"conversation": turns, "criteria": record["TARGET_QUESTION"],
                        "axis": record.get("AXIS")})  # fmt: skip


@loader("multichallenge")
def multichallenge(bench, folder, media_dir):
    """ScaleAI MultiChallenge benchmark_questions.jsonl: a conversation to continue, judged
    against TARGET_QUESTION with the expected verdict PASS_CRITERIA (YES/NO)."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"multichallenge-{i}", where, _multichallenge_sample, record, i, bench)


# MVBench task file -> (video folder under video/, is it a folder of frames). From the
# official MVBench evaluation notebook's data_list (tvqa is stored as 3 fps frame folders).
MVBENCH_TASKS = {
    "action_sequence": ("star/Charades_v1_480", False), "action_prediction": ("star/Charades_v1_480", False),
    "action_antonym": ("ssv2_video", False), "fine_grained_action": ("Moments_in_Time_Raw/videos", False),
    "unexpected_action": ("FunQA_test/test", False), "object_existence": ("clevrer/video_validation", False),
    "object_interaction": ("star/Charades_v1_480", False), "object_shuffle": ("perception/videos", False),
    "moving_direction": ("clevrer/video_validation", False), "action_localization": ("sta/sta_video", False),
    "scene_transition": ("scene_qa/video", False), "action_count": ("perception/videos", False),
    "moving_count": ("clevrer/video_validation", False), "moving_attribute": ("clevrer/video_validation", False),
    "state_change": ("perception/videos", False), "fine_grained_pose": ("nturgbd", False),
    "character_order": ("perception/videos", False), "egocentric_navigation": ("vlnqa", False),
    "episodic_reasoning": ("tvqa/frames_fps3_hq", True),
    "counterfactual_inference": ("clevrer/video_validation", False),
}  # fmt: skip


def _mvbench_sample(record: dict, uid: str, task: str, folder: Path, bench: Benchmark) -> Sample:
    sub, frames = MVBENCH_TASKS.get(task, ("", False))
    video: Any = str(folder / "video" / sub / record["video"])
    fps = None
    if frames:  # a folder of 3 fps frames
        video = sorted(str(p) for p in Path(video).glob("*.jpg")) or video
        fps = 3.0 if isinstance(video, list) else None
    answer, answer_type, choices = F.infer_answer(record["answer"], record["candidates"], "text")
    return Sample(uid=uid, question=record["question"], answer=answer, answer_type=answer_type, video=video,
                  video_fps=fps, choices=choices, source=bench.name,
                  meta={"task": task, "start": record.get("start"), "end": record.get("end")})  # fmt: skip


@loader("mvbench")
def mvbench(bench, folder, media_dir):
    """OpenGVLab/MVBench: json/<task>.json lists of {video, question, candidates, answer[, start,
    end]}; videos under video/<source folder>/. Clip bounds (start/end) are kept in meta but
    not applied (the whole clip is sampled: a deviation for the 5 bounded tasks)."""
    for where, path, record in records(bench, folder):
        uid = f"mvbench-{path.stem}-{where.rsplit('[', 1)[-1].rstrip(']')}"
        yield guarded(uid, where, _mvbench_sample, record, uid, path.stem, folder, bench)


def srt_text(path: Path) -> str:
    """The spoken lines of an .srt file (numbers, timestamps and markup dropped)."""
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = re.sub(r"<[^>]+>", "", line).strip()
        if line and not line.isdigit() and "-->" not in line:
            lines.append(line)
    return "\n".join(lines)


def _videomme_sample(record: dict, bench: Benchmark, folder: Path, media_dir: Path) -> Sample:
    question = record["question"]
    srt = folder / "subtitle" / f"{record['videoID']}.srt"
    if bench.options.get("subtitles") and srt.is_file():
        question = f"This video's subtitles are listed below:\n{srt_text(srt)}\n\n{question}"
    video = str(folder / "data" / f"{record['videoID']}.mp4")
    return table_sample(bench, record, 0, folder, media_dir, question=question, video=video,
                        uid=f"{bench.name}-{F.safe_uid(record['question_id'])}")  # fmt: skip


@loader("videomme")
def videomme(bench, folder, media_dir):
    """lmms-lab/Video-MME: videomme/test-*.parquet, videos data/<videoID>.mp4, subtitles
    subtitle/<videoID>.srt. With `options.subtitles` the whole subtitle text goes before the
    question (the official protocol keeps the lines at the sampled frames: a deviation)."""
    for where, _, record in records(bench, folder):
        uid = f"{bench.name}-{F.safe_uid(record.get('question_id') or where)}"
        yield guarded(uid, where, _videomme_sample, record, bench, folder, media_dir)


def _videommmu_sample(record: dict, uid: str, track: str, bench: Benchmark, folder: Path, media_dir: Path) -> Sample:
    name = f"{record['id']}.mp4"
    places = (folder / track / name, folder / "videos" / name, folder / "videos" / track / name)
    video = next((str(p) for p in places if p.is_file()), str(places[0]))
    return table_sample(bench, record, 0, folder, media_dir, uid=uid, video=video,
                        meta={"track": track, "question_type": record.get("question_type")})  # fmt: skip


@loader("videommmu")
def videommmu(bench, folder, media_dir):
    """lmms-lab/VideoMMMU: <Track>/test-*.parquet for Perception, Comprehension, Adaptation;
    videos <Track>/<id>.mp4 or videos/<id>.mp4. Adaptation's extra question image is not passed
    (a deviation)."""
    for track in bench.options.get("tracks", ["Perception", "Comprehension", "Adaptation"]):
        for path in sorted((folder / track).glob("*.parquet")):
            for where, record in read_table(path):
                uid = f"videommmu-{F.safe_uid(record.get('id') or where)}"
                yield guarded(uid, where, _videommmu_sample, record, uid, track, bench, folder, media_dir)


@loader("synthetic")
def synthetic(bench, folder, media_dir):
    """The built-in synthetic test split (mmzppo.data.synthetic), one modality per benchmark."""
    from mmzppo.data.synthetic import TASKS, generate_suite

    o = bench.options
    names = o.get("tasks") or [t.name for t in TASKS.values() if t.modality == o["modality"]]
    media = None if o["modality"] == "text" else media_dir
    yield from generate_suite(names, int(o.get("n", 20)), int(o.get("seed", 0)), "test", media, o.get("levels"))


# --------------------------------------------------------------------------- prompts and aggregates


def conversation_prompt(sample: Sample) -> Prompt:
    """MultiChallenge: the conversation as it stands; the model writes the next assistant turn
    (no closer: the answer is free text for the judge, not a boxed value)."""
    messages = [{"role": t["role"], "content": [{"type": "text", "text": t["content"]}]}
                for t in sample.meta["conversation"]]  # fmt: skip
    return Prompt(sample.uid, "plain", messages)


PROMPTS: dict[str, Callable[[Sample], Prompt]] = {"conversation": conversation_prompt}


def worst_case(records: list[dict], scores: list[float]) -> float:
    """DynaMath worst-case accuracy: a question counts only if every variant of it is correct."""
    groups: dict[str, list[float]] = defaultdict(list)
    for record, score in zip(records, scores):
        groups[str(record.get("group") or record["uid"])].append(score)
    return sum(min(v) for v in groups.values()) / len(groups) if groups else 0.0


AGGREGATES: dict[str, Callable[[list[dict], list[float]], float]] = {"worst_case": worst_case}
