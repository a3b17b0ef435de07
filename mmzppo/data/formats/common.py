"""Shared pieces of the benchmark layouts (ids, answers, GIF frames) and the first layouts.

Small, one function per layout, each turning one source record into a `Sample`;
`mmzppo.data.convert` walks the source files, skips and counts unusable records, and writes
shards. Uids never hold dots (they are WebDataset keys): `safe_uid` cleans source ids.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmzppo.data.sample import Sample

LETTERS = "ABCDEFGHIJ"

# The real benchmark items beside the repository (`../shared/benchdata`), or under $MMZPPO_SHARED.
DEFAULT_BENCHDATA = Path(os.environ.get("MMZPPO_SHARED", Path(__file__).resolve().parents[4] / "shared")) / "benchdata"


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
