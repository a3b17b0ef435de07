"""Real benchmark records -> `Sample`, for the layouts in the official releases.

Small, one function per layout, each turning one source record into a `Sample`;
`mmzppo.data.convert` walks the source files, skips and counts unusable records, and writes
shards. Uids never hold dots (they are WebDataset keys): `safe_uid` cleans source ids.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from mmzppo.data.sample import Sample

LETTERS = "ABCDEFGHIJ"

# The real benchmark items beside the repository (`../shared/benchdata`), or under $MMZPPO_SHARED.
DEFAULT_BENCHDATA = Path(os.environ.get("MMZPPO_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "benchdata"


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: bad JSON ({e.msg})") from e


def mathvision_sample(record: dict[str, Any], root: str | Path) -> Sample:
    """MathLLMs/MathVision (testmini.jsonl + images/): letter answers when `options` is set."""
    options = record.get("options") or []
    question = re.sub(r"\s*<image\d+>\s*", "\n", record["question"]).strip()
    return Sample(
        uid=f"mathvision-{record['id']}",
        question=question,
        answer=record["answer"],
        answer_type="choice" if options else "latex",
        images=[str(Path(root) / record["image"])],
        choices=options or None,
        solution=record.get("solution"),
        source="mathvision",
        meta={"level": record.get("level"), "subject": record.get("subject")},
    )


def mmlu_sample(record: dict[str, Any], index: int) -> Sample:
    """cais/mmlu: four `choices`, `answer` an index 0-3 (graded as its letter)."""
    return Sample(
        uid=f"mmlu-{index}",
        question=record["question"],
        answer=LETTERS[int(record["answer"])],
        answer_type="choice",
        choices=list(record["choices"]),
        source="mmlu",
        meta={"subject": record.get("subject")},
    )


def gsm8k_sample(record: dict[str, Any], index: int) -> Sample:
    """openai/gsm8k: the gold number follows '####' at the end of the rationale."""
    rationale, _, final = record["answer"].rpartition("####")
    final = final.strip().replace(",", "")
    return Sample(
        uid=f"gsm8k-{index}",
        question=record["question"],
        answer=final,
        answer_type="number",
        solution=f"{re.sub(r'<<[^>]*>>', '', rationale).strip()}\n\\boxed{{{final}}}",
        source="gsm8k",
    )


def tempcompass_sample(record: dict[str, Any], root: str | Path, index: int) -> Sample:
    """TempCompass QA on an mp4 clip: options are inside the question; yes/no has none."""
    options = record.get("options") or []
    is_yesno = record["task_type"] == "yes_no"
    return Sample(
        uid=f"tempcompass-{record['video_id']}-{index}",
        question=record["question"],
        answer=record["answer"],
        answer_type="yesno" if is_yesno else "choice",
        video=str(Path(root) / record["video_mp4"]),
        choices=options or None,
        source="tempcompass",
        meta={"task_type": record["task_type"], "dimension": record.get("dimension")},
    )


# --------------------------------------------------------------------------- shared helpers
#
# The functions below extend the original four layouts to every benchmark folder in
# ../shared/benchdata plus two generic layouts (`generic_sample`: a JSON/JSONL file of image
# or video questions). `mmzppo.data.convert` drives them and writes shards.


class RecordError(ValueError):
    """A source record that cannot become a Sample; names the field (the converter skips it)."""

    def __init__(self, field_name: str, problem: str):
        self.field, self.problem = field_name, problem
        super().__init__(f"{field_name}: {problem}")


_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_YES_NO = ("yes", "no")


def safe_uid(text: str) -> str:
    """A shard key from a source id: WebDataset keys cannot hold dots (and we keep them to
    letters, digits, '_' and '-'), so 'test/precalculus/807.json' -> 'test-precalculus-807-json'."""
    return re.sub(r"[^A-Za-z0-9_\-]+", "-", str(text)).strip("-")


def with_boxed(solution: str | None, answer: str) -> str | None:
    """A worked solution that ends in \\boxed{answer}, as `Sample.solution` promises."""
    if not solution or not str(solution).strip():
        return None
    solution = str(solution).strip()
    return solution if "\\boxed" in solution else f"{solution}\n\\boxed{{{answer}}}"


def infer_answer(answer: Any, options: list | None, free_type: str = "latex", index: Any = None):
    """(gold answer, answer_type, choices) from a raw answer and option list.

    With options the gold becomes a letter (A = first option) when it is a letter, the index
    given in `index`, or the text of an option, so that numeric option texts are never mistaken
    for option indices by the grader. Without options: yes/no, a plain number, else
    `free_type` ("latex" for math items, "text" for short free answers).
    """
    choices = [str(o) for o in options or []] or None
    text = "" if answer is None else str(answer).strip()
    if choices and len(choices) >= 2:
        n = min(len(choices), len(LETTERS))
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < n:
            return LETTERS[index], "choice", choices
        if len(text) == 1 and text.upper() in LETTERS[:n]:
            return text.upper(), "choice", choices
        for i, c in enumerate(choices[:n]):
            if c.strip() == text:
                return LETTERS[i], "choice", choices
        return text, "choice", choices
    if text.lower() in _YES_NO:
        return text.lower(), "yesno", None
    if _NUMBER.fullmatch(text.replace(",", "")):
        return text, "number", None
    return text, free_type, None


def gif_frames(path: str | Path) -> tuple[list, float]:
    """A GIF as (RGB frames, fps): decord cannot read GIFs, so they travel as frame lists."""
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        frames, durations = [], []
        for frame in ImageSequence.Iterator(im):
            frames.append(frame.convert("RGB"))
            durations.append(frame.info.get("duration") or 100)
    return frames, 1000.0 / (sum(durations) / len(durations))


# --------------------------------------------------------------------------- text benchmarks


def aime_sample(record: dict[str, Any], index: int, source: str = "aime25") -> Sample:
    """AIME (opencompass/AIME2025 `question`, or `problem` as in the AIME 2026 harness copy): an
    integer answer 0-999. The sources have no problem ids, so the uid is the line index."""
    question = record.get("question") or record.get("problem")
    if not question:
        raise RecordError("question", "missing (neither `question` nor `problem`)")
    return Sample(uid=f"{source}-{index}", question=str(question), answer=str(record["answer"]),
                  answer_type="number", source=source)  # fmt: skip


def aime25_sample(record: dict[str, Any], index: int) -> Sample:
    """AIME 2025 (opencompass fields)."""
    return aime_sample(record, index, "aime25")


_MATH_SPAN = re.compile(r"\$([^$]+)\$")


def clean_short_answer(text: str) -> str:
    """A short LaTeX answer without the markup around it: "$\\frac{1}{2}$." -> "\\frac{1}{2}".
    Only an answer that is one whole `$...$` span (plus a trailing period) is unwrapped; prose
    with several spans ("$n=1$ and $n=3$") is kept as written."""
    text = str(text).strip()
    inner = text.rstrip(".").strip()
    return m[1].strip() if (m := _MATH_SPAN.fullmatch(inner)) else text


def imo_answerbench_sample(record: dict[str, Any], index: int) -> Sample:
    """IMO-AnswerBench (google-deepmind/superhuman answerbench CSV): `Problem ID`, `Problem`,
    `Short Answer` (LaTeX or words; graded by math equivalence, the official grader is an LLM)."""
    raw_id = record.get("Problem ID") or index
    answer = clean_short_answer(record["Short Answer"] or "")
    return Sample(
        uid=f"imo_answerbench-{safe_uid(raw_id)}",
        question=str(record["Problem"]).strip(),
        answer=answer,
        answer_type="latex",
        source="imo_answerbench",
        meta={k.lower(): record.get(k) for k in ("Category", "Subcategory", "Source")},
    )


# MMLU-Redux error labels: the HF 2.0 release writes "ok", "wrong_groundtruth", ...; the GitHub
# CSVs write "OK", "Ok", "Wrong Groundtruth", "No correct answer", "No Correct Answers" ...
def redux_error_type(value: Any) -> str:
    """An MMLU-Redux `error_type` in the HF 2.0 spelling (lower case, underscores); "" if unset."""
    label = re.sub(r"[\s\-]+", "_", str(value or "").strip().lower())
    return {"no_correct_answers": "no_correct_answer"}.get(label, label)


def mmlu_redux_sample(record: dict[str, Any], subject: str, row: int) -> Sample:
    """edinburgh-dawg/mmlu-redux-2.0 row: `choices` (4), `answer` (0-based index of the original
    MMLU gold), `error_type`. The uid is subject + row index in the subject's file, so an id
    never moves when the error-type filter or the set of subject files changes. Only rows
    annotated "ok" are usable (the others have a wrong, missing or unclear gold):
    a RecordError names the label otherwise."""
    error_type = redux_error_type(record.get("error_type"))
    if error_type != "ok":
        raise RecordError("error_type", f"annotated {error_type or 'without a label'}, not ok")
    choices = record["choices"]
    if isinstance(choices, str):  # the GitHub CSVs hold a Python list literal
        try:
            choices = ast.literal_eval(choices)
        except (ValueError, SyntaxError):
            raise RecordError("choices", "not a list literal") from None
    answer, _, choices = infer_answer(None, list(choices), index=int(record["answer"]))
    if answer == "":
        raise RecordError("answer", f"index {record['answer']!r} is not an option")
    return Sample(
        uid=f"mmlu_redux-{safe_uid(subject)}-{row}",
        question=str(record["question"]),
        answer=answer,
        answer_type="choice",
        choices=choices,
        source="mmlu_redux",
        meta={"subject": subject, "row": row, "error_type": error_type},
    )


def math500_sample(record: dict[str, Any], index: int) -> Sample:
    """HuggingFaceH4/MATH-500: LaTeX answer; the solution already ends in \\boxed{}."""
    uid = safe_uid(str(record.get("unique_id") or index).removeprefix("test/").removesuffix(".json"))
    return Sample(
        uid=f"math500-{uid}",
        question=record["problem"],
        answer=record["answer"],
        answer_type="latex",
        solution=with_boxed(record.get("solution"), record["answer"]),
        source="math500",
        meta={"subject": record.get("subject"), "level": record.get("level")},
    )


def mmlu_pro_sample(record: dict[str, Any], index: int) -> Sample:
    """TIGER-Lab/MMLU-Pro: 3-10 `options`, `answer` a letter A-J."""
    answer, _, choices = infer_answer(record["answer"], record["options"], index=record.get("answer_index"))
    return Sample(
        uid=f"mmlu_pro-{safe_uid(record.get('question_id') or index)}",
        question=record["question"],
        answer=answer,
        answer_type="choice",
        choices=choices,
        solution=with_boxed(record.get("cot_content"), answer),
        source="mmlu_pro",
        meta={"category": record.get("category"), "src": record.get("src")},
    )


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
        meta={"group": str(record["id"]), "variant": int(variant), "subject": record.get("subject"),
              "knowledge_level": record.get("knowledge_level"), "dynamath_type": kind},
    )  # fmt: skip


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


def _image_suffix(data: bytes, name: str | None) -> str:
    """File extension of embedded image bytes: the stored name's, else the detected format."""
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
    path = Path(media_dir) / f"{stem}.{_image_suffix(image['bytes'], image.get('path'))}"
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
        meta={"subject": subject, "split": split, "subfield": record.get("subfield"),
              "difficulty": record.get("topic_difficulty"), "img_type": record.get("img_type")},
    )  # fmt: skip


# --------------------------------------------------------------------------- video benchmarks


def tgifqa_sample(record: dict[str, Any], root: str | Path) -> Sample:
    """TGIF-QA (benchdata layout): action/transition with 5 options (gold = `answer_index`),
    count (a number), frameqa and option-less transition (one short text answer)."""
    answer, answer_type, choices = infer_answer(
        record["answer"], record.get("options"), free_type="text", index=record.get("answer_index")
    )
    return Sample(
        uid=f"tgifqa-{safe_uid(Path(record['video']).stem)}",
        question=record["question"],
        answer=answer,
        answer_type=answer_type,
        video=str(Path(root) / record["video_mp4"]),
        choices=choices,
        source="tgifqa",
        meta={k: record.get(k) for k in ("task", "source_id", "match", "attention_overlay")},
    )


# --------------------------------------------------------------------------- generic layouts

# Where the generic layouts look for each Sample field, first match wins. `fields` overrides
# (e.g. {"question": "prompt", "answer": "label"}).
GENERIC_FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("id", "uid", "question_id", "qid", "idx"),
    "question": ("question", "problem", "prompt", "query"),
    "answer": ("answer", "gold", "label", "final_answer"),
    "options": ("options", "choices", "candidates"),
    "images": ("images", "image", "image_path", "image_paths", "img"),
    "video": ("video_mp4", "video", "video_path"),
    "solution": ("solution", "explanation", "rationale"),
    "answer_type": ("answer_type",),
    "answer_index": ("answer_index",),
}


def pick(record: dict[str, Any], name: str, fields: dict[str, str] | None = None) -> Any:
    """The record's value for Sample field `name` under the generic mapping (None if absent)."""
    keys = (fields[name],) if fields and name in fields else GENERIC_FIELDS[name]
    return next((record[k] for k in keys if k in record and record[k] not in (None, "", [])), None)


def generic_sample(
    record: dict[str, Any],
    root: str | Path,
    index: int,
    *,
    source: str,
    fields: dict[str, str] | None = None,
    free_type: str = "latex",
) -> Sample:
    """One record of a generic JSON/JSONL question file; media paths are relative to `root`.

    Required: a question and an answer (missing -> RecordError, the converter skips and
    counts it). Optional: id (else `<source>-<index>`), options, image(s), video (a GIF
    becomes a frame list), solution, answer_type (else inferred by `infer_answer`).
    """
    question, answer = pick(record, "question", fields), pick(record, "answer", fields)
    if question is None:
        raise RecordError("question", "missing")
    if answer is None:
        raise RecordError("answer", "missing")
    raw_id = pick(record, "id", fields)
    answer, answer_type, choices = infer_answer(answer, pick(record, "options", fields), free_type,
                                                pick(record, "answer_index", fields))  # fmt: skip
    given_type = pick(record, "answer_type", fields)
    images = pick(record, "images", fields) or []
    images = [str(Path(root) / p) for p in ([images] if isinstance(images, str) else images)]
    video, video_fps = pick(record, "video", fields), None
    if video is not None:
        video = str(Path(root) / video)
        if video.lower().endswith(".gif"):
            if not Path(video).is_file():
                raise RecordError("video", f"file not found: {video}")
            video, video_fps = gif_frames(video)
    return Sample(
        uid=f"{safe_uid(source)}-{safe_uid(raw_id) if raw_id is not None else index}",
        question=str(question),
        answer=answer,
        answer_type=given_type or answer_type,
        images=images,
        video=video,
        video_fps=video_fps,
        choices=choices,
        solution=with_boxed(pick(record, "solution", fields), answer),
        source=source,
    )
