"""Every kind of broken shard member: skipped and counted with its key, nothing else lost, no hang.

One shard folder (with an index.json, as the writer makes it) holds each damage of issue 14
deliverable 3 between good samples: corrupt JPEG, corrupt PNG, zero-byte image, truncated mp4,
an mp4 with no decodable frame, bad JSON, a missing json member, an empty gold answer, the
same key twice in a row in one tar (WebDataset would merge the two), the same sample in two
shards, and a tar cut inside its 8th member. It is read in-process, with 2 DataLoader workers,
and as 2 ranks x 2 workers; every way must hand out exactly the good samples and count the
rest by reason.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers import worker_loader
from PIL import Image

from mmzppo.data import Sample
from mmzppo.data.shards import ShardReader, iter_shard, sample_to_record
from mmzppo.data.vision import TINY_VISION

REPO = Path(__file__).resolve().parents[2]


def write_tar(path: Path, records: list[dict[str, bytes]]) -> None:
    """A shard with hand-made members, in order (to damage on purpose)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for record in records:
            for name, data in record.items():
                if name != "__key__":
                    info = tarfile.TarInfo(f"{record['__key__']}.{name}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))


def text(uid: str, answer: str = "2") -> dict[str, bytes]:
    return sample_to_record(Sample(uid=uid, question=f"What is 1 + 1? ({uid})", answer=answer, answer_type="number"))


def with_png(uid: str) -> dict[str, bytes]:
    """A sample with one small PNG: two members (json, img0.png)."""
    pixels = np.random.default_rng(len(uid)).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    return sample_to_record(Sample(uid=uid, question="Which colour?", answer="red", images=[Image.fromarray(pixels)]))


def zero_mdat(mp4: bytes) -> bytes:
    """The same mp4 with every byte of its media data zeroed: a valid container, no decodable frame."""
    i = mp4.find(b"mdat")
    size = int.from_bytes(mp4[i - 4 : i], "big")
    return mp4[: i + 4] + bytes(size - 8) + mp4[i - 4 + size :]


GOOD = {
    "good0",
    "good1",
    "good2",
    "good3",
    "good4",
    "good5",
    "good6",
    "good7",
    "good8",
    "good9",
    "video_ok",
    "cut0",
    "cut1",
    "cut2",
}
SKIPS = Counter(
    {
        "corrupt image": 3,
        "corrupt video": 2,
        "bad json": 1,
        "missing member": 1,
        "empty answer": 1,
        "duplicate key": 2,
        "truncated tar": 4,
    }
)
# (key, reason, words the log line must hold): every skip names its key (or its shard)
LOGGED = [
    ("corrupt_jpeg", "corrupt image", "img0.jpg (2,000 bytes)"),
    ("corrupt_png", "corrupt image", "img0.png"),
    ("zero_byte", "corrupt image", "0 bytes"),
    ("truncated_mp4", "corrupt video", ""),
    ("no_frame_mp4", "corrupt video", ""),
    ("bad_json", "bad json", ""),
    ("no_json", "missing member", "no json member"),
    ("empty_answer", "empty answer", "answer is ''"),
    ("good6", "duplicate key", "second sample with key good6"),
    ("good2", "duplicate key", "another shard"),
    ("cut3", "truncated tar", "4 sample(s) lost"),
]


@pytest.fixture(scope="module")
def broken(benchdata, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("broken")
    jpeg_sample = Sample(uid="x", question="How many?", answer="6", images=[benchdata / "vlm/mathvision/images/4.jpg"])
    mp4 = (benchdata / "video/tgifqa/1.mp4").read_bytes()
    video = sample_to_record(
        Sample(uid="video_ok", question="How many licks?", answer="7", video=str(benchdata / "video/tgifqa/1.mp4"))
    )
    jpeg = sample_to_record(jpeg_sample)
    png = with_png("corrupt_png")
    shards = [
        [
            text("good0"),
            {**jpeg, "__key__": "corrupt_jpeg", "img0.jpg": jpeg["img0.jpg"][:2000]},
            text("good1"),
            {**png, "img0.png": png["img0.png"][:40] + b"\x00" * 200},
            text("good2"),
        ],
        [
            text("good3"),
            {**jpeg, "__key__": "zero_byte", "img0.jpg": b""},
            {**video, "__key__": "truncated_mp4", "mp4": mp4[: len(mp4) // 2]},
            video,
            {**video, "__key__": "no_frame_mp4", "mp4": zero_mdat(mp4)},
        ],
        [
            {"__key__": "bad_json", "json": b'{"question": "q", "answer": '},
            text("good4"),
            {k: v for k, v in jpeg.items() if k != "json"} | {"__key__": "no_json"},
            text("empty_answer", answer="x"),
            text("good5"),
        ],
        [text("good6"), text("good6"), text("good7")],  # the same key twice in a row
        None,  # shard 4: cut inside its 8th member (below)
        [text("good8"), text("good2"), text("good9")],  # good2 again: shard 0 holds it too
    ]
    # an empty answer cannot be written through Sample; edit the json as a converter bug would
    info = json.loads(shards[2][3]["json"])
    shards[2][3]["json"] = json.dumps({**info, "answer": ""}).encode()
    counts = []
    for i, records in enumerate(shards):
        name = f"shard-{i:06d}.tar"
        if records is None:  # 7 samples of 2 members; the cut falls in member 8 (cut3.json)
            records = [with_png(f"cut{j}") for j in range(7)]
            write_tar(folder / "whole.tar", records)
            with tarfile.open(folder / "whole.tar") as tar:
                eighth = tar.getmembers()[7]
                assert eighth.name == "cut3.json"  # members: cutN.img0.png, cutN.json
                cut = eighth.offset_data + eighth.size // 2
            (folder / name).write_bytes((folder / "whole.tar").read_bytes()[:cut])
            (folder / "whole.tar").unlink()
        else:
            write_tar(folder / name, records)
        counts.append({"name": name, "count": len(records)})
    index = {"format": "mmzppo-shards", "version": 1, "shards": counts, "total": sum(c["count"] for c in counts)}
    (folder / "index.json").write_text(json.dumps(index))
    return folder


def check_log(text: str, entries=LOGGED) -> None:
    for key, reason, words in entries:
        line = next((ln for ln in text.splitlines() if f"skipped {key} " in ln and reason in ln), None)
        assert line is not None, (key, reason, text)
        assert words in line, (words, line)
        assert "BytesIO" not in line, line


@pytest.mark.timeout(300)
def test_reader_skips_and_counts_every_broken_member(broken, caplog):
    with caplog.at_level(logging.WARNING, logger="mmzppo.data.shards"):
        reader = ShardReader(broken, vision=TINY_VISION)
        got = [s.uid for s in reader]
    assert sorted(got) == sorted(GOOD)  # each good sample exactly once, nothing else lost
    assert reader.skipped == SKIPS
    assert len(got) == len(GOOD) and len(got) + sum(SKIPS.values()) == 28  # every sample in the shards accounted for
    check_log(caplog.text)


@pytest.mark.timeout(300)
def test_two_dataloader_workers_and_two_ranks(broken):
    """The duplicate pair (shards 0 and 5) falls on different workers: their shared key set catches it."""
    reader = ShardReader(broken, vision=TINY_VISION)
    got = [s.uid for s in worker_loader(reader, 2)]
    assert sorted(got) == sorted(GOOD) and reader.skipped == SKIPS
    again = [s.uid for s in worker_loader(reader, 2)]  # a second pass starts a fresh key set
    assert sorted(again) == sorted(GOOD)
    per_rank, skipped = [], Counter()
    for rank in (0, 1):
        reader = ShardReader(broken, vision=TINY_VISION, rank=rank, world_size=2)
        per_rank.append([s.uid for s in worker_loader(reader, 2)])
        skipped += reader.skipped
    assert not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == sorted(GOOD) and skipped == SKIPS


def test_truncated_tar_without_index_says_the_count_is_unknown(broken, tmp_path):
    (tmp_path / "shard-000004.tar").write_bytes((broken / "shard-000004.tar").read_bytes())
    events = [e for e in iter_shard(str(tmp_path / "shard-000004.tar")) if not hasattr(e, "members")]
    assert len(events) == 1 and events[0].key == "cut3" and "unknown" in events[0].detail
    with_index = [e for e in iter_shard(str(broken / "shard-000004.tar")) if not hasattr(e, "members")]
    assert [e.key for e in with_index] == ["cut3", "", "", ""]  # the one being read, then three more


@pytest.mark.timeout(300)
def test_inspect_check_reports_the_damage(broken):
    """`python -m mmzppo.data inspect --check` names each skip, the sample repeated in another
    shard included."""
    out = subprocess.run(
        [sys.executable, "-m", "mmzppo.data", "inspect", str(broken), "--check", "--n", "0"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    check_log(out.stdout)
    assert f"skipped while reading: {sum(SKIPS.values())} " in out.stdout, out.stdout[-1500:]


def test_resume_after_broken_members_continues_where_it_stopped(broken):
    """A reader stopped after k good samples and resumed from its state hands out exactly the
    samples an uninterrupted reader hands out after those k: the broken members before the
    stop are passed again, not counted as good samples (nor re-read as new ones)."""
    whole = [s.uid for s in ShardReader(broken, vision=TINY_VISION)]
    for k in (1, 3, 7, len(whole) - 1):
        first = ShardReader(broken, vision=TINY_VISION)
        it = iter(first)
        head = [next(it).uid for _ in range(k)]
        state = first.state_dict()
        second = ShardReader(broken, vision=TINY_VISION)
        second.load_state_dict(state)
        assert head + [s.uid for s in second] == whole, k
