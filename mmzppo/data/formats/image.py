"""Image benchmarks: LogicVista, PuzzleVQA, DynaMath, MM-Vet, WE-MATH, MMMU (embedded images)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from mmzppo.data.formats.common import LETTERS, RecordError, infer_answer, safe_uid, with_boxed
from mmzppo.data.sample import Sample

# --------------------------------------------------------------------------- image benchmarks


def logicvista_sample(key: str, record: dict[str, Any], root: str | Path) -> Sample:
    """LogicVista (dataset.json keyed by id): options live in the image or the question text, so
    the gold letter is graded without a choice list. An empty answer (v1_382) is a SampleError."""
    return Sample(
        uid=f"logicvista-{safe_uid(key)}",
        question=record["question"],
        answer=record["answer"],
        answer_type="choice",
        images=[str(Path(root) / "images" / record["imagename"])],
        solution=with_boxed(record.get("reasoning"), record["answer"]) if str(record["answer"]).strip() else None,
        source="logicvista",
        meta={"skill": record.get("skill"), "capability": record.get("specific_capability")},
    )


def puzzlevqa_sample(record: dict[str, Any], root: str | Path) -> Sample:
    """PuzzleVQA: `answer` is the text of one of `options` (ints or strs); graded as its letter,
    since a numeric gold like "3" would otherwise read as an option index."""
    options = [str(o) for o in record["options"]]
    if str(record["answer"]) not in options:
        raise RecordError("answer", "not one of the options")
    letter = LETTERS[options.index(str(record["answer"]))]
    reasoning = " ".join(str(record.get(k) or "") for k in ("explanation", "deduction")).strip()
    return Sample(
        uid=f"puzzlevqa-{safe_uid(Path(record['image']).stem)}",
        question=record["question"],
        answer=letter,
        answer_type="choice",
        images=[str(Path(root) / record["image"])],
        choices=options,
        solution=with_boxed(reasoning, letter),
        source="puzzlevqa",
        meta={"puzzle": Path(record["image"]).parent.name, "caption": record.get("caption")},
    )


# DynaMath `answer_type` -> ours. "text" (the GitHub trials) and "free_form" (the Hugging Face
# name, as the issue reports it; not checked here) are the same kind of answer (an edge name, a
# short expression) and are graded alike, as normalised text: a math grader would take "EC" for
# "CE" (a product of two symbols).
DYNAMATH_ANSWER_TYPES = {"float": "number", "multiple choice": "choice", "text": "text", "free_form": "text"}


def dynamath_variant(path: str | Path) -> str:
    """The variant of a DynaMath_Sample file or folder (`sample_variant3-...`): "3"; "1" when
    the path names none."""
    return (re.search(r"variant(\d+)", str(path)) or [None, "1"])[1]


def dynamath_sample(record: dict[str, Any], variant: str, image: str | None) -> Sample:
    """DynaMath_Sample row of variant `variant`: `ground_truth`, `answer_type` (mapped by
    DYNAMATH_ANSWER_TYPES; an unknown one is a RecordError), options inside the question (the
    gold is a letter). The seed question id is the group: a question counts in the worst-case
    score only if all its variants are right."""
    kind = str(record.get("answer_type") or "").strip().lower()
    if kind not in DYNAMATH_ANSWER_TYPES:
        known = ", ".join(DYNAMATH_ANSWER_TYPES)
        raise RecordError("answer_type", f"{record.get('answer_type')!r} is not one of {known}")
    qid = safe_uid(record["id"])
    return Sample(
        uid=f"dynamath-v{variant}-{qid}",
        question=str(record["question"]),
        answer=str(record["ground_truth"]),
        answer_type=DYNAMATH_ANSWER_TYPES[kind],
        images=[image] if image else [],
        source="dynamath",
        meta={
            "group": str(record["id"]),
            "variant": int(variant),
            "subject": record.get("subject"),
            "knowledge_level": record.get("knowledge_level"),
            "dynamath_type": kind,
        },
    )


def mmvet_golds(answer: str) -> list[list[str]]:
    """An MM-Vet gold as alternatives of required parts: "a<AND>b<OR>c" -> [["a", "b"], ["c"]]
    (`<OR>`: any alternative is right; `<AND>`: every part must be in the answer)."""
    alternatives = [[p.strip() for p in alt.split("<AND>") if p.strip()] for alt in str(answer).split("<OR>")]
    return [alt for alt in alternatives if alt]


def mmvet_sample(key: str, record: dict[str, Any], root: str | Path) -> Sample:
    """MM-Vet v1 (mm-vet.json keyed v1_N + images/), as a training sample. The training grader
    takes one gold: an `<OR>` gold becomes its first alternative (all kept in meta "golds"); an
    `<AND>` gold (every part required, any order) cannot be one answer and is a RecordError,
    so the converter skips and counts it. Evaluation keeps every item (`mmzppo.eval`)."""
    golds = mmvet_golds(record["answer"])
    if not golds:
        raise RecordError("answer", "empty")
    if any(len(alt) > 1 for alt in golds):
        raise RecordError("answer", "an <AND> gold (all parts required) has no single training answer")
    answer, answer_type, _ = infer_answer(golds[0][0], None, free_type="text")
    return Sample(
        uid=f"mmvet-{safe_uid(key)}",
        question=str(record["question"]),
        answer=answer,
        answer_type=answer_type,
        images=[str(Path(root) / "images" / record["imagename"])],
        source="mmvet",
        meta={"golds": [alt[0] for alt in golds], "capability": record.get("capability")},
    )


_WEMATH_OPTION = re.compile(r"(?:^|;)\s*([A-Z])\.\s*")


def wemath_options(text: str) -> list[str]:
    """WE-MATH's one-string options, "A. 300, 400;B. 400, 300; E. No correct answer", as a list
    (labels must run A, B, C, ...; anything else is a RecordError naming `option`)."""
    parts = _WEMATH_OPTION.split(str(text).strip())
    labels, texts = parts[1::2], [t.strip().rstrip(";").strip() for t in parts[2::2]]
    if parts[0].strip() or len(labels) < 2 or labels != list(LETTERS[: len(labels)]) or not all(texts):
        raise RecordError("option", f"cannot be read as 'A. ...; B. ...' options: {str(text)[:80]!r}")
    return [t.removesuffix(".").rstrip() for t in texts]  # "D. 62.8 cm." -> "62.8 cm"


def wemath_sample(record: dict[str, Any], root: str | Path, image: str | None = None) -> Sample:
    """We-Math testmini record (testmini.json + <image_path>, or an HF row with the image given
    as `image`): `option` split into choices, `answer` a letter."""
    choices = wemath_options(record["option"])
    answer = str(record["answer"]).strip().upper()
    if answer not in LETTERS[: len(choices)]:
        raise RecordError("answer", f"{record['answer']!r} is not one of the option letters")
    return Sample(
        uid=f"wemath-{safe_uid(record['ID'])}",
        question=str(record["question"]),
        answer=answer,
        answer_type="choice",
        images=[image or str(Path(root) / record["image_path"])],
        choices=choices,
        source="wemath",
        meta={"key": record.get("key"), "concept": record.get("knowledge concept")},
    )


_MMMU_TAG = re.compile(r"<image (\d+)>")


def image_suffix(data: bytes, name: str | None = None) -> str:
    """File extension of embedded image bytes: the stored name's, else the detected format
    (a RecordError naming `image` when the bytes are not an image)."""
    suffix = Path(name or "").suffix.lower().lstrip(".")
    if suffix in ("jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff"):
        return suffix
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return {"jpeg": "jpg"}.get(im.format.lower(), im.format.lower())
    except Exception as e:
        raise RecordError("image", f"embedded image is not decodable ({e})") from None


def write_embedded(image: dict | None, media_dir: str | Path, stem: str) -> str | None:
    """An HF embedded image ({bytes, path}) written to `media_dir/<stem>.<ext>` with its
    original bytes; None when the struct holds no bytes."""
    if not image or not image.get("bytes"):
        return None
    path = Path(media_dir) / f"{stem}.{image_suffix(image['bytes'], image.get('path'))}"
    path.write_bytes(image["bytes"])
    return str(path)


def mmmu_sample(record: dict[str, Any], media_dir: str | Path, subject: str = "", split: str = "") -> Sample:
    """HF MMMU/MMMU parquet row. Embedded images ({bytes, path} in image_1..image_7) are written
    to `media_dir` so the Sample keeps their original bytes; `options` is a string holding a
    Python list; `<image n>` placeholders (question and options) become "[image n]", because
    media go before the text and an option may itself be an image."""
    uid = f"mmmu-{safe_uid(record['id'])}"
    images = [p for k in range(1, 8) if (p := write_embedded(record.get(f"image_{k}"), media_dir, f"{uid}-{k}"))]
    try:
        options = ast.literal_eval(record.get("options") or "[]")
    except (ValueError, SyntaxError):
        raise RecordError("options", "not a Python list literal") from None
    tag = lambda s: _MMMU_TAG.sub(lambda m: f"[image {m[1]}]", str(s))  # noqa: E731
    options = [tag(o) for o in options]
    if record.get("question_type") == "multiple-choice" and len(options) >= 2:
        answer, answer_type, choices = infer_answer(record["answer"], options)
    else:
        answer, answer_type, choices = infer_answer(record["answer"], None, free_type="text")
    return Sample(
        uid=uid,
        question=tag(record["question"]),
        answer=answer,
        answer_type=answer_type,
        images=images,
        choices=choices,
        solution=with_boxed(record.get("explanation"), answer),
        source="mmmu",
        meta={
            "subject": subject,
            "split": split,
            "subfield": record.get("subfield"),
            "difficulty": record.get("topic_difficulty"),
            "img_type": record.get("img_type"),
        },
    )


def mmmu_file_sample(record: dict[str, Any], path: Path, media_dir: str | Path) -> Sample:
    """A row of an MMMU/MMMU parquet shard `<Subject>/<split>-*.parquet`: the subject is the
    folder's name, the split the file name's first part."""
    return mmmu_sample(record, media_dir, subject=path.parent.name, split=path.name.split("-")[0])
