"""WebDataset shards of real media (a MathVision JPEG, TGIF-QA and TempCompass mp4s): round trip,
frames under the vision settings, PyAV against decord, damaged members skipped and counted."""

from __future__ import annotations

import io
import logging
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import text_samples, worker_loader
from PIL import Image

from mmzppo.data import Sample
from mmzppo.data.shards import (
    ShardReader,
    read_index,
    sample_to_record,
    write_shards,
)
from mmzppo.data.vision import TINY_VISION

TEACHER = [
    {"response": "<think>six digits</think> \\boxed{6}", "reward": 1.0, "parsed": "6"},
    {"response": "no box", "reward": 0.0, "parsed": None},
]


@pytest.fixture
def media_samples(benchdata) -> list[Sample]:
    """An image file + a PIL image, an mp4, a frame list, and teacher responses."""
    rng = np.random.default_rng(0)
    pil = Image.fromarray(rng.integers(0, 255, (24, 40, 3), dtype=np.uint8))
    frames = [Image.fromarray(np.full((48, 80, 3), 25 * i, dtype=np.uint8)) for i in range(9)]
    return [
        Sample(
            uid="img",
            question="How many digits?",
            answer="6",
            answer_type="number",
            source="mathvision",
            images=[benchdata / "vlm/mathvision/images/4.jpg", pil],
            solution="\\boxed{6}",
            meta={"level": 1, "teacher": TEACHER},
        ),
        Sample(
            uid="mp4",
            question="How many times does the cat lick?",
            answer="7",
            answer_type="number",
            video=str(benchdata / "video/tgifqa/1.mp4"),
            source="tgifqa",
            choices=None,
        ),
        Sample(
            uid="frames",
            question="Which way?",
            answer="A",
            answer_type="choice",
            choices=["up", "down"],
            video=frames,
            video_fps=4.0,
            source="synthetic",
        ),
    ]


# --------------------------------------------------------------------------- round trip


def test_round_trip_fields_pixels_and_video(media_samples, tmp_path):
    index = write_shards(media_samples, tmp_path / "s", maxcount=2)
    assert index["total"] == 3 and [s["count"] for s in index["shards"]] == [2, 1]
    assert index["counts"]["modality"] == {"image": 1, "video": 2} and index["with_teacher"] == 1
    assert read_index(tmp_path / "s") == index

    read = {s.uid: s for s in ShardReader(tmp_path / "s")}  # no VisionSettings: every frame, full size
    for orig in media_samples:
        got = read[orig.uid]
        for name in ("question", "answer", "answer_type", "choices", "solution", "source", "meta"):
            assert getattr(got, name) == getattr(orig, name), name
    img = read["img"]
    assert img.meta["teacher"] == TEACHER
    with Image.open(media_samples[0].images[0]) as original:
        assert img.images[0].format == "JPEG" and np.array_equal(np.asarray(img.images[0]), np.asarray(original))
    assert np.array_equal(np.asarray(img.images[1]), np.asarray(media_samples[0].images[1]))  # PIL -> PNG, exact
    assert len(read["mp4"].video) == 45 and read["mp4"].video_fps == pytest.approx(50 / 3, rel=1e-3)
    assert len(read["frames"].video) == 9 and read["frames"].video_fps == 4.0
    assert np.array_equal(np.asarray(read["frames"].video[5]), np.asarray(media_samples[2].video[5]))
    # a read sample writes back (decoded images as PNG, teacher.json from meta["teacher"])
    again = next(iter(ShardReader(tmp_path / "again"))) if write_shards([img], tmp_path / "again") else None
    assert again.meta == img.meta and np.array_equal(np.asarray(again.images[0]), np.asarray(img.images[0]))


def test_video_frames_follow_vision_settings(media_samples, tmp_path, tiny_xs):
    """Frames sampled at read time give the model the same video grid as the mp4 file would."""
    from helpers import batch

    from mmzppo.prompting.builders import plain

    write_shards(media_samples, tmp_path / "s")
    read = {s.uid: s for s in ShardReader(tmp_path / "s", vision=TINY_VISION)}
    # TINY_VISION: fps 2, frames 2..8, even. 45 frames at 16.67 fps = 2.7 s -> 4 frames.
    assert len(read["mp4"].video) == 4 and read["mp4"].video_fps == pytest.approx(4 / 45 * 50 / 3, rel=1e-3)
    assert len(read["frames"].video) == 4 and read["frames"].video_fps == pytest.approx(4 / 9 * 4)
    from_file = batch(tiny_xs.processor, [plain(media_samples[1])], TINY_VISION)
    from_shard = batch(tiny_xs.processor, [plain(read["mp4"])], TINY_VISION)
    assert torch.equal(from_file["video_grid_thw"], from_shard["video_grid_thw"])
    assert from_file["input_ids"].shape == from_shard["input_ids"].shape
    both = batch(tiny_xs.processor, [plain(read["img"]), plain(read["frames"])], TINY_VISION)
    assert both["image_grid_thw"].shape[0] == 2 and both["video_grid_thw"].shape[0] == 1


def test_selected_frames_equal_decord(benchdata):
    """The fast PyAV path returns decord's pixels for every benchdata mp4 (x264 4:2:0 and 4:4:4)."""
    import decord

    from mmzppo.data.shards import decode_frames

    for path in sorted(benchdata.glob("video/*/*.mp4")):
        data = path.read_bytes()
        reader = decord.VideoReader(io.BytesIO(data), num_threads=1)
        for k in (3, 8):
            indices = torch.linspace(0, len(reader) - 1, k).round().long().tolist()
            expected = reader.get_batch(indices).asnumpy()
            for selective in (True, False):
                got = decode_frames(data, indices, selective)
                assert np.array_equal(np.stack([np.asarray(got[i]) for i in indices]), expected), (path.name, k)


# --------------------------------------------------------------------------- damaged input


def raw_tar(path: Path, records: list[dict[str, bytes]]) -> None:
    """A shard with hand-made members (to damage on purpose)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for record in records:
            key = record["__key__"]
            for name, data in record.items():
                if name != "__key__":
                    info = tarfile.TarInfo(f"{key}.{name}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))


def member_data_offset(path: Path, name: str) -> int:
    with tarfile.open(path) as tar:
        return tar.getmember(name).offset_data


@pytest.mark.timeout(300)
def test_damaged_samples_are_skipped_and_counted(media_samples, tmp_path, caplog):
    good = text_samples(4, "ok")
    img, mp4 = sample_to_record(media_samples[0]), sample_to_record(media_samples[1])
    corrupt_image = {**img, "__key__": "corrupt_img", "img0.jpg": img["img0.jpg"][:2000]}
    truncated_mp4 = {**mp4, "__key__": "truncated_mp4", "mp4": mp4["mp4"][: len(mp4["mp4"]) // 2]}
    missing_json = {k: v for k, v in img.items() if k != "json"} | {"__key__": "no_json"}
    missing_image = {k: v for k, v in img.items() if k != "img1.png"} | {"__key__": "no_img1"}
    bad_json = {"__key__": "bad_json", "json": b'{"question": "q", "answer": '}
    bad_teacher = {**sample_to_record(good[0]), "__key__": "bad_teacher", "teacher.json": b"[{]"}
    folder = tmp_path / "s"
    folder.mkdir()
    raw_tar(folder / "shard-000000.tar", [sample_to_record(good[0]), corrupt_image, truncated_mp4, img, missing_json])
    raw_tar(folder / "shard-000001.tar", [bad_json, sample_to_record(good[1]), missing_image, mp4, bad_teacher])
    # truncated inside a member of the last sample: the samples before the cut survive
    raw_tar(tmp_path / "whole.tar", [sample_to_record(s) for s in text_samples(5, "cut")] + [img])
    cut = member_data_offset(tmp_path / "whole.tar", "img.img0.jpg") + 1000
    (folder / "shard-000002.tar").write_bytes((tmp_path / "whole.tar").read_bytes()[:cut])
    # truncated exactly before a member's header: tarfile reads it without error; the missing
    # end-of-archive marker gives it away
    raw_tar(tmp_path / "two.tar", [sample_to_record(good[2]), sample_to_record(good[3])])
    cut = member_data_offset(tmp_path / "two.tar", "ok003.json") - 512
    (folder / "shard-000003.tar").write_bytes((tmp_path / "two.tar").read_bytes()[:cut])
    (folder / "shard-000004.tar").write_bytes(b"not a tar file " * 100)

    expected = {"ok000", "ok001", "ok002", "img", "mp4", "cut000", "cut001", "cut002", "cut003", "cut004"}
    reasons = Counter(
        {
            "corrupt image": 1,
            "corrupt video": 1,
            "missing member": 2,
            "bad json": 2,
            "truncated tar": 2,
            "unreadable shard": 1,
        }
    )
    with caplog.at_level(logging.WARNING, logger="mmzppo.data.shards"):
        reader = ShardReader(folder, vision=TINY_VISION)
        assert {s.uid for s in reader} == expected
    assert reader.skipped == reasons
    log = caplog.text
    for key, reason in [
        ("corrupt_img", "corrupt image"),
        ("truncated_mp4", "corrupt video"),
        ("no_json", "missing member"),
        ("no_img1", "img1.png"),
        ("bad_json", "bad json"),
        ("shard-000002.tar", "truncated tar"),
        ("shard-000003.tar", "end-of-archive"),
        ("shard-000004.tar", "unreadable shard"),
    ]:
        assert key in log and reason in log, (key, reason)
    assert "skipped" in caplog.records[-1].getMessage()  # the end-of-iteration summary

    workers = ShardReader(folder, vision=TINY_VISION)  # counts from DataLoader workers reach this process
    assert {s.uid for s in worker_loader(workers, 2)} == expected and workers.skipped == reasons
