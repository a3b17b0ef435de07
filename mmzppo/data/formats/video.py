"""Video benchmarks (TGIF-QA) and the generic JSONL / video-QA layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmzppo.data.formats.common import RecordError, gif_frames, infer_answer, safe_uid, with_boxed
from mmzppo.data.sample import Sample

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
    answer, answer_type, choices = infer_answer(
        answer, pick(record, "options", fields), free_type, pick(record, "answer_index", fields)
    )
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
