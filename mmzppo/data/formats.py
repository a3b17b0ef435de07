"""Real benchmark records -> `Sample`, for the layouts in the official releases.

Small, one function per layout. The Data issue builds its converters on these.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from mmzppo.data.sample import Sample

LETTERS = "ABCDEFGHIJ"


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
