"""`ShardReader`: samples from shards, split by rank and DataLoader worker, decoded lazily."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import torch

from mmzppo.data.sample import Sample
from mmzppo.data.shards.decode import decode_sample
from mmzppo.data.shards.layout import SKIP_REASONS, SkipSample, read_index, resolve_shards, shard_count
from mmzppo.data.shards.seen import SeenKeys
from mmzppo.data.shards.tar import RawSample, SkipEvent, iter_shard
from mmzppo.data.vision import VisionSettings

log = logging.getLogger(__name__)

_MAX_WORKERS = 64  # rows of the shared skip counter: one per DataLoader worker


class NotEnoughShardsError(RuntimeError):
    """More readers (ranks x DataLoader workers) than shards in non-resample mode."""


def _rank_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """Explicit rank/world size, else torch.distributed's when initialised, else (0, 1)."""
    if rank is not None or world_size is not None:
        if rank is None or world_size is None or not 0 <= rank < world_size:
            raise ValueError(f"give both rank and world_size with 0 <= rank < world_size (got {rank}, {world_size})")
        return rank, world_size
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _worker() -> tuple[int, int]:
    info = torch.utils.data.get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


def _share(total: int, i: int, n: int) -> int:
    """Reader i's part when `total` items are dealt out to n readers as evenly as possible."""
    return total // n + (1 if i < total % n else 0)


class ShardReader(torch.utils.data.IterableDataset):
    """`Sample`s from shards, split by rank and DataLoader worker, decoded lazily.

    urls: a shard folder, file, glob, brace pattern or list (see `resolve_shards`).
    vision: the consumer's VisionSettings; video frames are sampled (and resized) under it.
        None keeps every frame at full size.
    rank, world_size: explicit node split; default torch.distributed's, else a single reader.
    resample=False: each epoch reads every sample exactly once across all ranks and workers
        (shards are dealt to readers). With fewer shards than readers (world_size x workers)
        iteration raises NotEnoughShardsError at once (a reader without data would make
        distributed training wait forever). Ranks can still get unequal counts when shards
        are unequal; use resample mode (or equal shards) when steps must match across ranks.
    resample=True: every reader draws shards at random with replacement until this rank has
        yielded exactly `epoch_length` samples (split over its workers); default epoch_length
        is index.json's total / world_size. Works with any number of readers.
    seed: shuffling and resampling are deterministic in (seed, epoch, rank, worker).
    shuffle: a buffer of that many undecoded samples shuffles sample order (and shard order
        is shuffled per epoch); 0 reads in shard order.

    Duplicates: a key read a second time in one epoch is skipped as "duplicate key" (once per
    copy, logged with the key): inside one tar by `iter_shard`, across shards through a key set
    the DataLoader workers of this rank share (`mmzppo.data.shards.seen`). Not across ranks,
    and not in resample mode, where repeats are the point.

    Call `set_epoch(e)` each epoch, like DistributedSampler. `skipped` is a Counter of skip
    reasons, summed over DataLoader workers (they count in shared memory); every count is one
    sample not handed out (a truncated tar counts each sample index.json says it lost). `state_dict()` /
    `load_state_dict()` record (epoch, samples read): every sample the reader passed, the ones
    it skipped included, so that resuming passes exactly those again without decoding them. The count is exact in-process (num_workers=0); with DataLoader
    workers pass `consumed=` (samples this rank's loop took) and it is split evenly over the
    workers, exact when the loader took whole rounds of equal batches.

    DataLoader workers: forked ones (Linux's default before Python 3.14) and spawned ones
    (`multiprocessing_context="forkserver"` or `"spawn"`) both work, the shared key set and
    counts included. In a process that runs threads (a served teacher's client, a test
    runner), prefer "forkserver": a plain fork copies whatever lock another thread held at
    that moment, and video decoders are known to hang on that.
    """

    def __init__(
        self,
        urls,
        vision: VisionSettings | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        resample: bool = False,
        epoch_length: int | None = None,
        seed: int = 0,
        shuffle: int = 0,
    ):
        super().__init__()
        self.shards = resolve_shards(urls)
        if not self.shards:
            raise FileNotFoundError(f"no shards in {urls}")
        self.index = read_index(urls) if isinstance(urls, (str, Path)) and Path(urls).is_dir() else None
        self.vision, self.rank, self.world_size = vision, rank, world_size
        self.resample, self.seed, self.shuffle = resample, seed, shuffle
        _rank_world(rank, world_size)  # validate now
        if resample and epoch_length is None:
            if not self.index:
                raise ValueError("resample=True needs epoch_length (no index.json to take the total from)")
            epoch_length = -(-self.index["total"] // _rank_world(rank, world_size)[1])
        if epoch_length is not None and epoch_length < 0:
            raise ValueError(f"epoch_length must be >= 0 (got {epoch_length})")
        self.epoch_length = epoch_length
        self.epoch = 0
        self._resume = 0  # samples of this rank to pass over on the next iteration
        self._consumed = 0  # samples read (handed out or skipped) by iteration in this process
        self._counts = torch.zeros(_MAX_WORKERS, len(SKIP_REASONS), dtype=torch.int64).share_memory_()
        self._logged: set[tuple[str, str, str]] = set()
        counts = [shard_count(s) for s in self.shards]
        self._seen = None if resample else SeenKeys(None if None in counts else sum(counts))
        self._passes = 0  # iterations started by this copy (the same in every worker of one pass)

    # ----------------------------------------------------------------- bookkeeping

    @property
    def skipped(self) -> Counter:
        """Skipped (and lost) samples by reason, over all workers so far."""
        totals = self._counts.sum(0).tolist()
        return Counter({r: n for r, n in zip(SKIP_REASONS, totals) if n})

    def set_epoch(self, epoch: int) -> None:
        """Start epoch `epoch` from its beginning (changes shuffling and resampling)."""
        self.epoch, self._resume = epoch, 0

    def state_dict(self, consumed: int | None = None) -> dict[str, int]:
        """Data position: epoch and samples this rank consumed in it."""
        return {"epoch": self.epoch, "consumed": self._consumed if consumed is None else consumed, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume at a recorded position (same shards, seed, world size and workers)."""
        self.epoch, self._resume = int(state["epoch"]), int(state["consumed"])
        self.seed = int(state.get("seed", self.seed))

    def check_readers(self, num_workers: int = 0) -> None:
        """Raise NotEnoughShardsError now if these shards cannot feed every reader."""
        _, world = _rank_world(self.rank, self.world_size)
        self._check(world, max(1, num_workers))

    def _check(self, world: int, workers: int) -> None:
        readers = world * workers
        if not self.resample and len(self.shards) < readers:
            raise NotEnoughShardsError(
                f"{len(self.shards)} shard(s) for {readers} readers ({world} rank(s) x {workers} DataLoader "
                f"worker(s)): some readers would get no data and distributed training would wait for them "
                f"forever. Write at least {readers} shards (e.g. convert/synth with a smaller --maxcount), "
                f"use fewer DataLoader workers, or read with ShardReader(..., resample=True, epoch_length=N)."
            )

    def _skip(self, row: int, reason: str, key: str, shard: str, detail: str) -> None:
        """Count a skip (in shared memory) and log it once per (shard, key, reason)."""
        self._counts[min(row, _MAX_WORKERS - 1), SKIP_REASONS.index(reason)] += 1
        if (shard, key, reason) not in self._logged:
            self._logged.add((shard, key, reason))
            log.warning("skipped %s in %s: %s (%s)", key or "<shard>", shard, reason, detail)

    def _first_copy(self, worker: int, item: RawSample) -> bool:
        """Claim the sample's key for this epoch; a key already claimed is a counted duplicate."""
        if self._seen is None or self._seen.add(item.key):
            return True
        self._skip(worker, "duplicate key", item.key, item.shard, "this key was already read from another shard")
        return False

    # ----------------------------------------------------------------- iteration

    def _shuffled(self, items: Iterator, rng: random.Random) -> Iterator:
        """Buffered shuffle of undecoded samples (media are decoded only after this)."""
        if self.shuffle <= 1:
            yield from items
            return
        buffer: list = []
        for item in items:
            buffer.append(item)
            if len(buffer) >= self.shuffle:
                yield buffer.pop(rng.randrange(len(buffer)))
        rng.shuffle(buffer)
        yield from buffer

    def _raw_stream(self, me: int, readers: int, rank: int, worker: int) -> Iterator[RawSample | SkipEvent]:
        """This reader's undecoded samples for the epoch (resampling is bounded by the caller)."""
        rng = random.Random(f"{self.seed}:{self.epoch}:{rank}:{worker}")
        if not self.resample:
            order = list(self.shards)
            if self.shuffle > 1:
                random.Random(f"{self.seed}:{self.epoch}").shuffle(order)  # same on every rank
            mine = order[me::readers]
            yield from self._shuffled((x for s in mine for x in iter_shard(s)), rng)
            return
        draws_without_sample = 0
        while True:
            shard = rng.choice(self.shards)
            got = False
            for item in self._shuffled(iter_shard(shard), rng):
                got = got or isinstance(item, RawSample)
                yield item
            draws_without_sample = 0 if got else draws_without_sample + 1
            if draws_without_sample > 2 * len(self.shards) + 8:
                raise RuntimeError(f"resampling found no readable sample in {len(self.shards)} shard(s)")

    def __iter__(self) -> Iterator[Sample]:
        rank, world = _rank_world(self.rank, self.world_size)
        worker, workers = _worker()
        self._check(world, workers)
        me, readers = rank * workers + worker, world * workers
        resume = _share(self._resume, worker, workers)  # this worker's part of the recorded position
        quota = _share(self.epoch_length, worker, workers) if self.resample else None
        self._consumed = self._resume
        position, raw, handed, before = 0, 0, 0, self._counts[worker].clone()
        bad_run, bad_limit = 0, 2 * self.index["total"] + 64 if self.index else 10_000
        self._passes += 1
        if self._seen is not None:  # workers of one DataLoader pass share its base seed
            info = torch.utils.data.get_worker_info()
            base = info.seed - info.id if info is not None else 0
            self._seen.start(hash((base, self._passes, self.epoch)) & ((1 << 62) - 1) | 1)
        try:
            if quota == 0:
                return
            for item in self._raw_stream(me, readers, rank, worker):
                if self.resample and bad_run > bad_limit:  # resampling only bad samples would never end
                    raise RuntimeError(
                        f"resampling: {bad_run} unusable samples in a row and none usable; "
                        f"see the warnings above ({dict(self.skipped)})"
                    )
                if isinstance(item, SkipEvent):
                    bad_run += 1
                    self._skip(worker, item.reason, item.key, item.shard, item.detail)
                    continue
                if raw < resume:  # already passed before the resume: pass again without decoding
                    raw += 1
                    self._first_copy(worker, item)
                    continue
                raw += 1  # the position counts every sample read, handed out or not, as a resume passes them
                self._consumed = raw
                try:
                    sample = decode_sample(item, self.vision)
                except SkipSample as e:
                    bad_run += 1
                    self._skip(worker, e.reason, item.key, item.shard, e.detail)
                    continue
                if not self._first_copy(worker, item):  # only a sample that decodes claims its key
                    bad_run += 1
                    continue
                position, bad_run = position + 1, 0
                handed += 1
                yield sample
                if quota is not None and position >= quota:
                    return
        finally:
            new = (self._counts[worker] - before).tolist()
            if any(new):
                summary = ", ".join(f"{r}: {n}" for r, n in zip(SKIP_REASONS, new) if n)
                log.warning(
                    "ShardReader rank %d worker %d: %d sample(s) read, skipped %s", rank, worker, handed, summary
                )
