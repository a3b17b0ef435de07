"""The prompt inspector: the HTML report of a real tiny run and of shards, escaping, tokens."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser

import pytest
from conftest import REPO
from helpers import batch, make_tiny_run

import mmzppo.tools.inspector as inspector
from mmzppo.data.formats import mathvision_sample, read_jsonl, tempcompass_sample
from mmzppo.prompting.builders import bcq, ncq, plain, question_text

GRPO = ("use_bcq=false", "use_ncq=false", "use_buffer=false", "teacher_kind=none")


@pytest.fixture(scope="module")
def zppo_run(tiny_xs_dir, tmp_path_factory):
    return make_tiny_run(tmp_path_factory, tiny_xs_dir, "zppo")


class Page(HTMLParser):
    """The parts of a report the tests look at, per card (one card per prompt)."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: Counter = Counter()
        self.cards: list[dict] = []
        self.data: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        self.tags[tag] += 1
        if "mz-card" in classes:
            self.cards.append({"imgs": [], "labels": [], "rewards": []})
        elif self.cards and tag == "img":
            self.cards[-1]["imgs"].append(a["src"])
        elif self.cards and "mz-cand" in classes:
            self.cards[-1]["labels"].append(a["data-label"])
        elif self.cards and "mz-reward" in classes:
            self.cards[-1]["rewards"].append(next(c for c in classes if c in ("mz-pos", "mz-neg", "mz-mid")))

    def handle_data(self, data):
        self.data.append(data)


def expected_pictures(record: dict) -> int:
    """Pictures a record's card must show: each image, and each frame of its video strip."""
    video = record.get("video")
    frames = 0
    if isinstance(video, list):
        frames = min(len(video), inspector.MAX_STRIP)
    elif video:
        import decord

        frames = min(len(decord.VideoReader(video)), inspector.VIDEO_FRAMES)
    return len(record.get("images") or []) + frames


def test_report_of_a_tiny_run(zppo_run, tmp_path):
    out = inspector.main([str(zppo_run), "--out", str(tmp_path / "report.html")])
    text = out.read_text()
    page = Page(text)
    records = [json.loads(line) for line in open(zppo_run / "samples.jsonl")]
    kinds = Counter(r["kind"] for r in records)
    assert kinds["bcq"] and kinds["ncq"] and kinds["plain"]  # the run formed both reformulations
    assert any(isinstance(r["video"], list) for r in records) and any(r["images"] for r in records)
    assert len(page.cards) == len(records)
    for card, record in zip(page.cards, records):
        assert len(card["imgs"]) == expected_pictures(record), record["uid"]
        assert all(src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for src in card["imgs"])
        assert card["labels"] == [c["label"] for c in record["candidates"]]
        assert card["rewards"] == ["mz-pos" if x["reward"] >= 1 else "mz-neg" for x in record["responses"]]
        if record["kind"] == "bcq":
            assert sorted(card["labels"]) == ["student_wrong", "teacher_correct"]
        if record["kind"] == "ncq":
            assert set(card["labels"]) == {"student_wrong"}
    shown = "".join(page.data)
    assert "teacher-correct" in shown and "student-wrong" in shown
    assert page.tags["script"] == 0 and "http://" not in text and "https://" not in text  # no external assets
    # --kind and --n select prompts
    out = inspector.main([str(zppo_run), "--out", str(tmp_path / "bcq.html"), "--kind", "bcq", "--n", "1"])
    assert len(Page(out.read_text()).cards) == 1


def test_report_escapes_text_and_decodes_mp4(zppo_run, tmp_path):
    """A prompt holding <script> is shown, not run; an mp4 becomes a strip of frames; media
    paths relative to the run folder are found."""
    run = tmp_path / "run"
    shutil.copytree(zppo_run / "media", run / "media")
    image = next(p for p in sorted((run / "media").iterdir()) if "img0" in p.name)
    mp4 = next((zppo_run.parent / "shard-media").glob("*motion_direction*.mp4"))  # a real libx264 clip
    evil = "<script>alert(1)</script>"
    record = {
        "step": 0,
        "uid": "evil",
        "kind": "bcq",
        "source": "test",
        "images": [str(image.relative_to(run))],
        "video": str(mp4),
        "video_fps": None,
        "gold": "4 & <b>5</b>",
        "prompt": f"How many? {evil}\n\n<candidate>\nright </pre> \\boxed{{4}}\n</candidate>\n\n"
        "<candidate>\nwrong <img src=x onerror=alert(2)> \\boxed{3}\n</candidate>",
        "candidates": [
            {"label": "teacher_correct", "text": "right </pre> \\boxed{4}"},
            {"label": "student_wrong", "text": "wrong <img src=x onerror=alert(2)> \\boxed{3}"},
        ],
        "wrong_answers": [],
        "responses": [
            {"text": f"{evil} \\boxed{{4}}", "parsed": "4", "reward": 1.0},
            {"text": "\x16 \\boxed{3}", "parsed": "3", "reward": 0.0},
        ],
    }
    (run / "samples.jsonl").write_text(json.dumps(record) + "\n")
    text = inspector.main([str(run), "--out", str(tmp_path / "r.html")]).read_text()
    page = Page(text)
    assert "<script" not in text.lower() and page.tags["script"] == 0
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert evil in "".join(page.data)  # shown as text
    (card,) = page.cards
    assert len(card["imgs"]) == expected_pictures(record | {"images": [image], "video": str(mp4)})
    assert all(src.startswith("data:image/") for src in card["imgs"])  # the injected <img> is text
    assert card["labels"] == ["teacher_correct", "student_wrong"]
    assert card["rewards"] == ["mz-pos", "mz-neg"]
    assert "\u2416" in text and "\x16" not in text  # control characters made visible


def test_report_of_shards_with_teacher_responses(tmp_path):
    from mmzppo.data.shards import ShardReader, write_shards
    from mmzppo.data.synthetic import generate_suite

    samples = list(generate_suite(["count_color", "motion_direction", "arith_chain"], 1, 0, "train", tmp_path / "m"))
    samples[0].meta["teacher"] = [
        {"response": "<b>two</b> \\boxed{2}", "reward": 1.0, "parsed": "2"},
        {"response": "\\boxed{9}", "reward": 0.0, "parsed": "9"},
    ]
    samples[2].question = "What is <script>alert(1)</script> 2 + 2?"
    write_shards(samples, tmp_path / "shards")
    out = tmp_path / "shards.html"
    cmd = [sys.executable, "-m", "mmzppo.tools.inspector", "--shards", str(tmp_path / "shards"), "--out", str(out)]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    text = out.read_text()
    page = Page(text)
    read = list(ShardReader(tmp_path / "shards", vision=inspector.REPORT_VISION))
    assert [len(c["imgs"]) for c in page.cards] == [len(s.images) + len(s.video or []) for s in read]
    assert len(read[1].video) >= 2  # the video shows as a strip of frames
    assert page.cards[0]["rewards"] == ["mz-pos", "mz-neg"]  # the teacher responses
    shown = "".join(page.data)
    assert "teacher responses: 1/2 correct" in shown and "<b>two</b>" in shown
    assert plain(read[0]).text.splitlines()[-1] in shown  # the plain prompt's closer
    assert "<script" not in text.lower() and "&lt;script&gt;" in text


@pytest.mark.parametrize("where", ["run", "shards"])
def test_folder_without_samples_is_a_one_line_error(where, tmp_path):
    """A run folder without samples.jsonl (or a missing shard folder): one line naming it, no traceback."""
    (tmp_path / "empty-run").mkdir()
    target = ["--shards", str(tmp_path / "no-shards")] if where == "shards" else [str(tmp_path / "empty-run")]
    cmd = [sys.executable, "-m", "mmzppo.tools.inspector", *target, "--out", str(tmp_path / "r.html")]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and target[-1] in lines[0], r.stderr
    assert not (tmp_path / "r.html").exists()


def test_mp4_frames_of_a_real_clip(benchdata):
    frames, idx, total, fps = inspector.mp4_frames(benchdata / "video/tempcompass/1021488277.mp4", 6)
    assert total == 65 and len(frames) == 6 and idx[0] == 0 and idx[-1] == 64 and fps > 0
    assert frames[0].size[0] > 0


def test_token_counts_and_sequence(tiny_xs, benchdata):
    processor, vision, tok = tiny_xs.processor, tiny_xs.vision, tiny_xs.tokenizer
    root = benchdata / "vlm/mathvision"
    s = mathvision_sample(next(read_jsonl(root / "testmini.jsonl")), root)
    p = bcq(s, "the digits are 0 3 5 7 8 9 \\boxed{6}", "I see four \\boxed{4}", random.Random(0))
    ids = batch(processor, [p], vision)["input_ids"][0].tolist()
    pads = ids.count(tok.convert_tokens_to_ids("<|image_pad|>"))
    counts = inspector.token_counts(processor, p, vision, s)
    assert counts["total"] == len(ids) == sum(v for k, v in counts.items() if k != "total")
    assert counts["media"] == pads + 2  # the pads and <|vision_start|> <|vision_end|>
    assert abs(counts["question"] - len(tok(question_text(s), add_special_tokens=False)["input_ids"])) <= 1
    assert counts["candidates"] >= sum(len(tok(c.text)["input_ids"]) for c in p.candidates)
    runs = inspector.token_runs(processor, p, vision)
    assert sum(n for _, n in runs) == len(ids) and ("<|image_pad|>", pads) in runs
    assert f"[<|image_pad|>x{pads}]" in inspector.format_tokens(runs)
    assert "mz-run" in inspector.tokens_html(runs)

    # a video: the frames shown are the frames the processor encodes; timestamps count as media
    root = benchdata / "video/tempcompass"
    v = tempcompass_sample(next(read_jsonl(root / "test.jsonl")), root, 0)
    p = ncq(v, ["It rotates. \\boxed{C}"])
    inputs = batch(processor, [p], vision)
    counts = inspector.token_counts(processor, p, vision, v)
    assert counts["total"] == inputs["input_ids"].shape[1]
    assert counts["media"] > int((inputs["input_ids"] == tok.convert_tokens_to_ids("<|video_pad|>")).sum())
    (block,) = inspector.record_from_prompt(p, v, vision=vision)["media"]
    assert len(block["frames"]) == int(inputs["video_grid_thw"][0, 0]) * 2  # temporal patch size 2
    card = inspector.render_record(inspector.record_from_prompt(p, v, vision=vision))
    assert card.count("<img ") == len(block["frames"]) and "student-wrong" in card
