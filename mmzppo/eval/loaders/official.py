"""Loaders for official layouts a field mapping cannot say: multi-config folders (MMMU-Pro,
Video-MMMU), a language filter (OCRBench v2), options in columns (C-Eval), shuffled options
(GPQA), conversations (MultiChallenge), per-task video folders (MVBench), subtitles
(Video-MME), and the built-in synthetic suite."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
from pathlib import Path
from typing import Any

from mmzppo.data import formats as F
from mmzppo.data.formats import LETTERS
from mmzppo.data.sample import Sample
from mmzppo.eval.loaders.common import as_options, guarded, media_path, read_table, records, table, table_sample
from mmzppo.eval.suites import Benchmark


def _mmmu_pro_vision(record: dict, uid: str, bench: Benchmark, folder: Path, media_dir: Path) -> Sample:
    """A `vision` row: question and options are inside the screenshot; the gold is a letter."""
    answer, _, _ = F.infer_answer(record["answer"], as_options(record.get("options")))
    return Sample(
        uid=uid,
        question=bench.options.get("vision_question", "Answer the question in the image."),
        answer=answer,
        answer_type="choice",
        images=[media_path(record["image"], folder, media_dir, uid)],
        source=bench.name,
        meta={"subset": "vision", "subject": record.get("subject")},
    )


def _mmmu_pro_standard(record: dict, uid: str, bench: Benchmark, media_dir: Path) -> Sample:
    """A `standard (10 options)` row: an MMMU row (every question is multiple choice)."""
    s = F.mmmu_sample({**record, "question_type": "multiple-choice"}, media_dir)
    return dataclasses.replace(s, uid=uid, source=bench.name, meta={**s.meta, "subset": "standard"})


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


def ocrbench_v2(bench, folder, media_dir):
    """OCRBench v2 (OCRBench_v2.json of the MultimodalOCR repo): the task `type` ends in
    " en" or " cn"; `options.language` keeps one of them."""
    lang = bench.options["language"]
    for i, (where, _, record) in enumerate(records(bench, folder)):
        if str(record.get("type", "")).strip().lower().endswith(f" {lang}"):
            yield guarded(f"{bench.name}-{i}", where, table_sample, bench, record, i, folder, media_dir)


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
    return Sample(
        uid=f"gpqa-{F.safe_uid(rid)}",
        question=str(record["Question"]).strip(),
        answer=LETTERS[order.index(0)],
        answer_type="choice",
        choices=[str(options[k]).strip() for k in order],
        source=bench.name,
        meta={"order": order, "domain": record.get("High-level domain")},
    )


def gpqa(bench, folder, media_dir):
    """Idavidrein/gpqa CSV: the correct and three incorrect answers, shuffled with a seed taken
    from the record id (stable across runs and machines; the order is recorded in meta)."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"gpqa-{i}", where, _gpqa_sample, record, i, bench)


def hle(bench, folder, media_dir):
    """cais/hle: `image` is '' for text-only questions; `options.text_only` keeps those (the
    LLM suite). Multiple-choice options are inside the question; the gold is a letter."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        if not (bench.options.get("text_only") and record.get("image")):
            yield guarded(f"hle-{i}", where, table_sample, bench, record, i, folder, media_dir)


def vlms_are_blind(bench, folder, media_dir):
    """XAI/vlmsareblind: `prompt`, `ground_truth` (a number or word, sometimes in braces), `task`."""
    yield from table(dataclasses.replace(bench, options={**bench.options, "strip_braces": True}), folder, media_dir)


def _multichallenge_sample(record: dict, index: int, bench: Benchmark) -> Sample:
    turns = [{"role": t["role"], "content": str(t["content"])} for t in record["CONVERSATION"]]
    last_user = next((t["content"] for t in reversed(turns) if t["role"] == "user"), "")
    return Sample(
        uid=f"multichallenge-{F.safe_uid(record.get('QUESTION_ID', index))}",
        question=last_user,
        answer=str(record["PASS_CRITERIA"]).upper(),
        answer_type="text",
        source=bench.name,
        meta={"conversation": turns, "criteria": record["TARGET_QUESTION"], "axis": record.get("AXIS")},
    )


def multichallenge(bench, folder, media_dir):
    """ScaleAI MultiChallenge benchmark_questions.jsonl: a conversation to continue, judged
    against TARGET_QUESTION with the expected verdict PASS_CRITERIA (YES/NO)."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"multichallenge-{i}", where, _multichallenge_sample, record, i, bench)


# MVBench task file -> (video folder under video/, is it a folder of frames). From the
# official MVBench evaluation notebook's data_list (tvqa is stored as 3 fps frame folders).
MVBENCH_TASKS = {
    "action_sequence": ("star/Charades_v1_480", False),
    "action_prediction": ("star/Charades_v1_480", False),
    "action_antonym": ("ssv2_video", False),
    "fine_grained_action": ("Moments_in_Time_Raw/videos", False),
    "unexpected_action": ("FunQA_test/test", False),
    "object_existence": ("clevrer/video_validation", False),
    "object_interaction": ("star/Charades_v1_480", False),
    "object_shuffle": ("perception/videos", False),
    "moving_direction": ("clevrer/video_validation", False),
    "action_localization": ("sta/sta_video", False),
    "scene_transition": ("scene_qa/video", False),
    "action_count": ("perception/videos", False),
    "moving_count": ("clevrer/video_validation", False),
    "moving_attribute": ("clevrer/video_validation", False),
    "state_change": ("perception/videos", False),
    "fine_grained_pose": ("nturgbd", False),
    "character_order": ("perception/videos", False),
    "egocentric_navigation": ("vlnqa", False),
    "episodic_reasoning": ("tvqa/frames_fps3_hq", True),
    "counterfactual_inference": ("clevrer/video_validation", False),
}


def _mvbench_sample(record: dict, uid: str, task: str, folder: Path, bench: Benchmark) -> Sample:
    sub, frames = MVBENCH_TASKS.get(task, ("", False))
    video: Any = str(folder / "video" / sub / record["video"])
    fps = None
    if frames:  # a folder of 3 fps frames
        video = sorted(str(p) for p in Path(video).glob("*.jpg")) or video
        fps = 3.0 if isinstance(video, list) else None
    answer, answer_type, choices = F.infer_answer(record["answer"], record["candidates"], "text")
    return Sample(
        uid=uid,
        question=record["question"],
        answer=answer,
        answer_type=answer_type,
        video=video,
        video_fps=fps,
        choices=choices,
        source=bench.name,
        meta={"task": task, "start": record.get("start"), "end": record.get("end")},
    )


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
    uid = f"{bench.name}-{F.safe_uid(record['question_id'])}"
    return table_sample(bench, record, 0, folder, media_dir, question=question, video=video, uid=uid)


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
    meta = {"track": track, "question_type": record.get("question_type")}
    return table_sample(bench, record, 0, folder, media_dir, uid=uid, video=video, meta=meta)


def videommmu(bench, folder, media_dir):
    """lmms-lab/VideoMMMU: <Track>/test-*.parquet for Perception, Comprehension, Adaptation;
    videos <Track>/<id>.mp4 or videos/<id>.mp4. Adaptation's extra question image is not passed
    (a deviation)."""
    for track in bench.options.get("tracks", ["Perception", "Comprehension", "Adaptation"]):
        for path in sorted((folder / track).glob("*.parquet")):
            for where, record in read_table(path):
                uid = f"videommmu-{F.safe_uid(record.get('id') or where)}"
                yield guarded(uid, where, _videommmu_sample, record, uid, track, bench, folder, media_dir)


def synthetic(bench, folder, media_dir):
    """The built-in synthetic test split (mmzppo.data.synthetic), one modality per benchmark."""
    from mmzppo.data.synthetic import TASKS, generate_suite

    o = bench.options
    names = o.get("tasks") or [t.name for t in TASKS.values() if t.modality == o["modality"]]
    media = None if o["modality"] == "text" else media_dir
    yield from generate_suite(names, int(o.get("n", 20)), int(o.get("seed", 0)), "test", media, o.get("levels"))
