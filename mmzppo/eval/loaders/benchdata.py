"""Loaders for the layouts of ../shared/benchdata (and the official HF layouts where they
differ): each reuses the record -> Sample function of `mmzppo.data.formats` that the training
converters of `mmzppo.data.convert` use, so a benchmark item is the same Sample in a shard and
in an evaluation; what is left here is how the evaluation finds the records (the YAML's
`files`), unpacks embedded media and names the items that fail."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

from mmzppo.data import formats as F
from mmzppo.data.sample import Sample
from mmzppo.eval.loaders.common import guarded, media_path, records


def _mathvision_sample(record: dict, folder: Path, media_dir: Path) -> Sample:
    if not (folder / str(record.get("image", ""))).is_file() and record.get("decoded_image"):
        image = media_path(record["decoded_image"], folder, media_dir, f"mathvision-{record['id']}")
        record = {**record, "image": image}
    return F.mathvision_sample(record, folder)


def mathvision(bench, folder, media_dir):
    """MathLLMs/MathVision: JSONL + images/ (GitHub) or parquet with `decoded_image` (HF)."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"mathvision-{record.get('id', i)}", where, _mathvision_sample, record, folder, media_dir)


def mmmu(bench, folder, media_dir):
    """MMMU/MMMU parquet shards (<Subject>/<split>-*.parquet, images embedded)."""
    for i, (where, path, record) in enumerate(records(bench, folder)):
        uid = f"mmmu-{F.safe_uid(record.get('id', i))}"
        yield guarded(uid, where, F.mmmu_file_sample, record, path, media_dir)


def logicvista(bench, folder, media_dir):
    for where, _, record in records(bench, folder):
        key = str(record["id"])
        yield guarded(f"logicvista-{F.safe_uid(key)}", where, F.logicvista_sample, key, record, folder)


def puzzlevqa(bench, folder, media_dir):
    for i, (where, _, record) in enumerate(records(bench, folder)):
        uid = f"puzzlevqa-{F.safe_uid(Path(str(record.get('image', i))).stem)}"
        yield guarded(uid, where, F.puzzlevqa_sample, record, folder)


def tempcompass(bench, folder, media_dir):
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"tempcompass-{i}", where, F.tempcompass_sample, record, folder, i)


def tgifqa(bench, folder, media_dir):
    for i, (where, _, record) in enumerate(records(bench, folder)):
        uid = f"tgifqa-{F.safe_uid(Path(str(record.get('video', i))).stem)}"
        yield guarded(uid, where, F.tgifqa_sample, record, folder)


_TEXT_FORMATS = {"gsm8k": F.gsm8k_sample, "math500": F.math500_sample, "mmlu_pro": F.mmlu_pro_sample}


def text_format(bench, folder, media_dir):
    """GSM8K / MATH-500 / MMLU-Pro (JSONL as in benchdata, or the HF parquet with the same fields)."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        if bench.loader == "mmlu_pro" and record.get("options") is not None:  # HF parquet pads with "N/A"
            record = {**record, "options": [o for o in record["options"] if o != "N/A"]}
        yield guarded(f"{bench.name}-{i}", where, _TEXT_FORMATS[bench.loader], record, i)


def _mmlu_sample(record: dict, index: int, name: str) -> Sample:
    return dataclasses.replace(F.mmlu_sample(record, index), uid=f"{name}-{index}", source=name)


def mmlu(bench, folder, media_dir):
    """cais/mmlu fields (question, subject, choices, answer index), JSONL or parquet."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"{bench.name}-{i}", where, _mmlu_sample, record, i, bench.name)


def aime(bench, folder, media_dir):
    """AIME (opencompass/AIME2025 `question`, or `problem` as in AIME 2026): an integer 0-999."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        yield guarded(f"{bench.name}-{i}", where, F.aime_sample, record, i, bench.name)


def imo_answerbench(bench, folder, media_dir):
    """google-deepmind/superhuman answerbench CSV: `Problem ID`, `Problem`, `Short Answer`."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        uid = f"imo_answerbench-{F.safe_uid(record.get('Problem ID') or i)}"
        yield guarded(uid, where, F.imo_answerbench_sample, record, i)


def mmlu_redux(bench, folder, media_dir):
    """edinburgh-dawg/mmlu-redux-2.0 (<subject>/test-*.parquet) or the GitHub CSVs
    (mmlu_<subject>.csv): only rows annotated "ok", whatever their spelling ("OK", "Ok"). The
    uid is subject + row in the subject's file, so it does not move with the filter or with
    the set of subject files read."""
    rows: dict[Path, int] = defaultdict(int)
    for where, path, record in records(bench, folder):
        row = rows[path]
        rows[path] += 1
        if F.redux_error_type(record.get("error_type")) != "ok":
            continue  # not part of the benchmark (unclear question, wrong or no correct gold)
        subject = F.redux_subject(path)
        yield guarded(f"mmlu_redux-{F.safe_uid(subject)}-{row}", where, F.mmlu_redux_sample, record, subject, row)


def _dynamath_sample(record: dict, variant: str, uid: str, folder: Path, media_dir: Path) -> Sample:
    image = media_path(record.get("decoded_image") or record.get("image"), folder, media_dir, uid)
    return F.dynamath_sample(record, variant, image)


def dynamath(bench, folder, media_dir):
    """DynaMath/DynaMath_Sample: one folder (or file) per variant, the same question ids in each;
    the variant comes from the path (`sample_variant3...`), the group is the question id. The
    answer types "text" and "free_form" are graded alike (`mmzppo.data.formats.DYNAMATH_ANSWER_TYPES`)."""
    for where, path, record in records(bench, folder):
        variant = F.dynamath_variant(path.relative_to(folder))
        uid = f"dynamath-v{variant}-{F.safe_uid(record.get('id', where))}"
        yield guarded(uid, where, _dynamath_sample, record, variant, uid, folder, media_dir)


def _wemath_sample(record: dict, uid: str, folder: Path, media_dir: Path) -> Sample:
    image = media_path(record.get("image") or record.get("image_path"), folder, media_dir, uid)
    return F.wemath_sample(record, folder, image)


def wemath(bench, folder, media_dir):
    """We-Math testmini: testmini.json + images at `image_path`, or HF parquet with the image
    embedded; the one-string `option` becomes the choices."""
    for i, (where, _, record) in enumerate(records(bench, folder)):
        uid = f"wemath-{F.safe_uid(record.get('ID') or i)}"
        yield guarded(uid, where, _wemath_sample, record, uid, folder, media_dir)
