"""WebDataset shards of synthetic text samples: writer checks, splitting over ranks and workers,
resampling, resume (real images and videos, damaged input: tests/real_data/test_shards_real_media.py)."""

from __future__ import annotations

import pytest
import torch
from helpers import text_samples

from mmzppo.data import Sample, SampleError
from mmzppo.data.shards import (
    NotEnoughShardsError,
    ShardReader,
    ShardWriter,
    sample_to_record,
    write_shards,
)


def uids(samples) -> list[str]:
    return sorted(s.uid for s in samples)


def loader(reader, workers: int):
    return torch.utils.data.DataLoader(reader, batch_size=None, num_workers=workers)


def test_writer_rejects_bad_uids_and_duplicates(tmp_path):
    with pytest.raises(SampleError, match="dot"):
        sample_to_record(Sample(uid="mathvision.4", question="q", answer="1"))
    with ShardWriter(tmp_path / "s") as writer:
        writer.write(Sample(uid="a", question="q", answer="1"))
        with pytest.raises(SampleError, match="duplicate"):
            writer.write(Sample(uid="a", question="q", answer="1"))
    with pytest.raises(FileExistsError):
        ShardWriter(tmp_path / "s")


# --------------------------------------------------------------------------- splitting


@pytest.mark.timeout(120)
def test_each_sample_once_over_workers_and_ranks(tmp_path):
    samples = text_samples(26)
    write_shards(samples, tmp_path / "s", maxcount=3)  # 9 shards, the last one short
    everything = uids(samples)
    assert uids(loader(ShardReader(tmp_path / "s"), 2)) == everything
    assert uids(loader(ShardReader(tmp_path / "s", shuffle=5, seed=3), 2)) == everything
    for workers in (0, 2):
        per_rank = [list(loader(ShardReader(tmp_path / "s", rank=r, world_size=2), workers)) for r in (0, 1)]
        assert not set(uids(per_rank[0])) & set(uids(per_rank[1]))
        assert uids(per_rank[0] + per_rank[1]) == everything
    # shuffling changes the order by epoch but never the set
    reader = ShardReader(tmp_path / "s", shuffle=8, seed=1)
    first = [s.uid for s in reader]
    reader.set_epoch(1)
    second = [s.uid for s in reader]
    assert first != second and sorted(first) == sorted(second) == everything


@pytest.mark.timeout(60)
def test_more_readers_than_shards(tmp_path):
    write_shards(text_samples(6), tmp_path / "s", maxcount=3)  # 2 shards
    with pytest.raises(NotEnoughShardsError, match="resample=True"):
        ShardReader(tmp_path / "s", rank=0, world_size=2).check_readers(num_workers=2)
    with pytest.raises(NotEnoughShardsError, match=r"2 shard\(s\) for 4 readers"):
        next(iter(loader(ShardReader(tmp_path / "s", rank=1, world_size=2), 2)))
    with pytest.raises(NotEnoughShardsError):
        next(iter(ShardReader(tmp_path / "s", rank=2, world_size=3)))
    for rank in (0, 1):  # resample: exactly epoch_length per rank, whatever the reader count
        reader = ShardReader(tmp_path / "s", rank=rank, world_size=2, resample=True, epoch_length=11, seed=rank)
        got = list(loader(reader, 2))
        assert len(got) == 11 and set(uids(got)) <= set(uids(text_samples(6)))
    assert len(list(ShardReader(tmp_path / "s", resample=True))) == 6  # default: index total / world size


@pytest.mark.timeout(60)
def test_resampling_only_bad_samples_stops(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not an image")
    write_shards([Sample(uid=f"b{i}", question="q", answer="1", images=[bad]) for i in range(3)], tmp_path / "s")
    with pytest.raises(RuntimeError, match="unusable samples in a row"):
        list(ShardReader(tmp_path / "s", resample=True, epoch_length=5))


def test_resume_from_state_dict(tmp_path):
    write_shards(text_samples(12), tmp_path / "s", maxcount=4)
    reader = ShardReader(tmp_path / "s", shuffle=4, seed=7)
    reader.set_epoch(2)
    full = [s.uid for s in reader]
    it = iter(reader)
    head = [next(it).uid for _ in range(5)]
    state = reader.state_dict()
    assert state["epoch"] == 2 and state["consumed"] == 5 and head == full[:5]
    resumed = ShardReader(tmp_path / "s", shuffle=4)
    resumed.load_state_dict(state)
    assert [s.uid for s in resumed] == full[5:]
