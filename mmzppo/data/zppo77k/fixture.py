"""Small corpora in the exact layouts of Vero-600k and MMFineReason, for tests and benchmarks.

Column names, nested structs and embedded image bytes (PNG and JPEG alternately) are the real
ones (../shared/zppo77k.md); the rows are made up. Each row has a kind: "good" (or "judge",
"tolerance", "ppm": usable rows of a special sort), or the one thing wrong with it (the
builder must drop it for that reason). `VERO` and `MMFINEREASON` list
the kinds per Vero config and per MMFineReason source; `make_corpora` writes them, `scale`
times as many good rows, in row groups of `row_group_size`:

    vero/<config>/train-00000-of-00001.parquet   every config in VERO
    vero/<config>/val-00000-of-00001.parquet     two good rows per mapped config (not used)
    mmfinereason/data/train-0000N-of-00002.parquet   file 0: image structs; file 1: image lists

One MMR1 row repeats a Vero geo170k row exactly (image bytes and question): a cross-source
duplicate. Vero configs stem-ai2d_merged and stem-raven have MMFineReason counterparts
(FineVision-ai2d_merged, FineVision-raven): those sub-datasets are taken from Vero.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

# Vero config -> row kinds. stem-geomverse stores ground_truth as a list (every row: non-string
# answer); spatial_action-walk is excluded by the recipe; knowledge_recognition-mystery is unmapped.
VERO = {
    "stem-ai2d_merged": ["good"] * 8 + ["no_image", "bad_image"],
    "stem-geo170k": ["good"] * 4
    + ["judge", "tolerance", "empty_answer", "long_answer", "small_image"]
    + ["grounding", "two_markers", "null_question"],
    "chart_ocr-CoSyn_400k_chart": ["good"] * 3 + ["long_prompt"],
    "stem-raven": ["good"] * 4,
    "counting_grounding_search-tallyqa": ["good"] * 5 + ["bad_image"],
    "stem-geomverse": ["non_string_answer"] * 3,
    "spatial_action-walk": ["good"] * 2,
    "knowledge_recognition-mystery": ["good"] * 2,
}
# MMFineReason source -> row kinds, per file (file 1 stores images as lists).
MMFINEREASON = [
    {
        "FineVision-ai2d_merged": ["good"] * 4,
        "MMR1": ["good"] * 5
        + ["duplicate", "high_pass_rate", "no_marker", "two_markers", "empty_answer"]
        + ["long_answer", "null_pass_rate"],
        "Euclid30K": ["good"] * 3 + ["ppm", "small_image", "long_prompt", "no_image"],
        "GameQA-140K": ["good"] * 2,
        "Mystery-Source": ["good"] * 2,
    },
    {
        "VisualSphinx": ["good"] * 4 + ["image_list", "no_image", "bad_image"],
        "FineVision-raven": ["good"] * 2,
    },
]
UNUSED = {
    "vero": ["spatial_action-walk", "knowledge_recognition-mystery"],
    "mmfinereason": ["GameQA-140K", "Mystery-Source"],
}

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
VERO_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("image", IMAGE),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        (
            "extra_info",
            pa.struct(
                [
                    ("index", pa.int64()),
                    ("question", pa.string()),
                    ("answer", pa.string()),
                    ("reward_type", pa.string()),
                    ("tolerance", pa.float64()),
                ]
            ),
        ),
    ]
)


def mmfinereason_schema(image_type: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("source", pa.string()),
            ("question", pa.string()),
            ("answer", pa.string()),
            ("original_answer", pa.string()),
            ("ori_question", pa.string()),
            ("image", image_type),
            ("caption", pa.string()),
            ("qwen3vl_235b_thinking_response", pa.string()),
            ("pass_rate", pa.float64()),
            ("is_consistent", pa.bool_()),
            ("consistency_analysis", pa.string()),
        ]
    )


def image(rng: random.Random, fmt: str, side: tuple[int, int] = (100, 160), size: tuple | None = None) -> bytes:
    """A small picture (a few shapes on a colour) as PNG or JPEG bytes."""
    w, h = size or (rng.randint(*side), rng.randint(*side))
    im = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(im)
    for _ in range(3):
        x, y = rng.randrange(w), rng.randrange(h)
        draw.ellipse((x, y, x + w // 3, y + h // 3), fill=tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def long_question(rng: random.Random) -> str:
    """A question far over 4,096 tokens under any tokenizer (4,000 random words)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return " ".join("".join(rng.choice(letters) for _ in range(7)) for _ in range(4000))


class _Rows:
    """Makes the rows of one corpus; each row's content follows from (name, index) and the seed."""

    def __init__(self, seed: int, side: tuple[int, int]):
        self.rng, self.side, self.n = random.Random(seed), side, 0
        self.shared: tuple[bytes, str] | None = None  # the Vero row an MMR1 row repeats

    def picture(self, kind: str) -> bytes | None:
        self.n += 1
        fmt = "PNG" if self.n % 2 else "JPEG"
        if kind == "no_image":
            return None
        if kind == "bad_image":
            return image(self.rng, fmt, self.side)[:60]  # truncated: the header reads, the pixels do not
        if kind == "ppm":  # decodable, but not a format shards store: the builder stores it as PNG
            return image(self.rng, "PPM", self.side)
        if kind == "small_image":
            return image(self.rng, fmt, size=(80, 140))
        return image(self.rng, fmt, self.side)

    def question(self, name: str, i: int, kind: str) -> str:
        if kind == "long_prompt":
            return long_question(self.rng)
        return f"In the figure of {name} item {i}, how many circles are there? Count them."

    def answer(self, kind: str, i: int) -> str | None:
        return {"empty_answer": "", "long_answer": "x" * 600, "judge": "a red circle"}.get(kind, str(i % 7 + 1))


def vero_rows(config: str, kinds: list[str], make: _Rows) -> list[dict]:
    rows = []
    for i, kind in enumerate(kinds):
        data, question = make.picture(kind), make.question(config, i, kind)
        if kind == "two_markers":
            question = f"<image> {question} <image>"
        if config == "stem-geo170k" and make.shared is None:
            make.shared = (data, question)
        reward_type = {"judge": "llm_judge", "grounding": "grounding", "tolerance": "numeric"}.get(
            kind, ("numeric", "multiple_choice", "exact_match")[i % 3]
        )
        answer = make.answer(kind, i)
        if reward_type == "multiple_choice" and kind == "good":
            answer = "ABCD"[i % 4]
        if kind == "grounding":
            answer = "[[10, 10, 50, 50]]"
        rows.append(
            {
                "id": f"{config}-{i}",
                "data_source": config.split("-", 1)[1],
                "prompt": [{"role": "user", "content": f"<image>{question}"}],
                "image": None if data is None else {"bytes": data, "path": f"{config}-{i}.img"},
                "ability": config.split("-", 1)[0],
                "reward_model": {"style": "rule", "ground_truth": answer},
                "extra_info": {
                    "index": i,
                    "question": None if kind == "null_question" else question,
                    "answer": answer,
                    "reward_type": reward_type,
                    "tolerance": 0.01 if kind == "tolerance" else None,
                },
            }
        )
    return rows


def mmfinereason_rows(source: str, kinds: list[str], make: _Rows, as_list: bool) -> list[dict]:
    rows = []
    for i, kind in enumerate(kinds):
        data, question = make.picture(kind), make.question(source, i, kind)
        if kind == "duplicate":
            data, question = make.shared
        marked = {"no_marker": question, "two_markers": f"<image>{question}\n<image>"}.get(kind, f"<image>\n{question}")
        struct = None if data is None else {"bytes": data, "path": None}
        image_value = struct
        if as_list:
            image_value = [] if data is None else [struct, struct] if kind == "image_list" else [struct]
        rows.append(
            {
                "id": f"{source}-{i}",
                "source": source,
                "question": marked,
                "answer": make.answer(kind, i),
                "original_answer": "A long worked answer.",
                "ori_question": question,
                "image": image_value,
                "caption": "A picture.",
                "qwen3vl_235b_thinking_response": "<think>...</think> \\boxed{1}",
                "pass_rate": {"high_pass_rate": 0.75, "null_pass_rate": None}.get(kind, (0.0, 0.25, 0.5)[i % 3]),
                "is_consistent": True,
                "consistency_analysis": "",
            }
        )
    return rows


def scaled(kinds: list[str], scale: int) -> list[str]:
    """`scale` times the good rows; the others once."""
    return [k for k in kinds for _ in range(scale if k == "good" else 1)]


def make_corpora(
    root: str | Path, scale: int = 1, row_group_size: int = 8, seed: int = 0, side: tuple[int, int] = (100, 160)
) -> dict[str, Path]:
    """Write both corpora under `root`; returns {"vero": folder, "mmfinereason": folder}."""
    root, make = Path(root), _Rows(seed, side)
    for config, kinds in VERO.items():
        folder = root / "vero" / config
        folder.mkdir(parents=True, exist_ok=True)
        schema = VERO_SCHEMA
        if config == "stem-geomverse":  # this config stores its gold as a list
            reward = pa.struct([("style", pa.string()), ("ground_truth", pa.list_(pa.string()))])
            schema = schema.set(schema.get_field_index("reward_model"), pa.field("reward_model", reward))
        rows = vero_rows(config, scaled(kinds, scale), make)
        if config == "stem-geomverse":
            for r in rows:
                r["reward_model"]["ground_truth"] = [r["reward_model"]["ground_truth"]]
        pq.write_table(
            pa.Table.from_pylist(rows, schema), folder / "train-00000-of-00001.parquet", row_group_size=row_group_size
        )
        if config not in UNUSED["vero"]:
            val = vero_rows(config, ["good"] * 2, make)
            pq.write_table(pa.Table.from_pylist(val, VERO_SCHEMA), folder / "val-00000-of-00001.parquet")
    data = root / "mmfinereason" / "data"
    data.mkdir(parents=True, exist_ok=True)
    for n, sources in enumerate(MMFINEREASON):
        as_list = n == 1
        rows = [
            r
            for source, kinds in sources.items()
            for r in mmfinereason_rows(source, scaled(kinds, scale), make, as_list)
        ]
        random.Random(seed + n).shuffle(rows)  # sources interleave in the real files
        schema = mmfinereason_schema(pa.list_(IMAGE) if as_list else IMAGE)
        name = f"train-{n:05d}-of-{len(MMFINEREASON):05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema), data / name, row_group_size=row_group_size)
    return {"vero": root / "vero", "mmfinereason": root / "mmfinereason"}
