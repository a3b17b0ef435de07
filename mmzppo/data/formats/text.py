"""Text benchmarks: AIME, IMO-AnswerBench, MMLU-Redux, MATH-500, MMLU-Pro."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from mmzppo.data.formats.common import RecordError, infer_answer, safe_uid, with_boxed
from mmzppo.data.sample import Sample

# --------------------------------------------------------------------------- text benchmarks


def aime_sample(record: dict[str, Any], index: int, source: str = "aime25") -> Sample:
    """AIME (opencompass/AIME2025 `question`, or `problem` as in the AIME 2026 harness copy): an
    integer answer 0-999. The sources have no problem ids, so the uid is the line index."""
    question = record.get("question") or record.get("problem")
    if not question:
        raise RecordError("question", "missing (neither `question` nor `problem`)")
    return Sample(
        uid=f"{source}-{index}",
        question=str(question),
        answer=str(record["answer"]),
        answer_type="number",
        source=source,
    )


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


def redux_subject(path: Path) -> str:
    """The subject of an MMLU-Redux data file: the folder of an HF parquet shard
    (`<subject>/test-*.parquet`), else the name of a GitHub CSV (`mmlu_<subject>.csv`)."""
    return path.parent.name if path.suffix == ".parquet" else path.stem.removeprefix("mmlu_")


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
