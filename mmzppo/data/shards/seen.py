"""The keys a reader has handed out in an epoch, shared by its DataLoader worker processes.

Two shards holding the same sample (a folder copied into a list twice, a shard copied under a
new name) are usually read by different DataLoader workers, so no single worker can see the
second copy. The workers therefore share one hash set of keys in shared memory: the first
worker to reach a key keeps the sample, any later copy is a "duplicate key" skip. Which copy
survives depends on timing; that one survives, and how many are skipped, does not.

Implementation: open addressing over a shared int64 tensor of 63-bit key hashes (0 = empty);
check-and-insert runs under an exclusive ``flock`` on a small lock file, which works the same
for forked and spawned workers (each process opens the file itself, so the locks exclude each
other). Across ranks (separate training processes) nothing is shared: each rank only detects
the duplicates among its own shards; ``python -m mmzppo.data inspect --check`` reads a whole
folder in one process.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import weakref

import torch

log = logging.getLogger(__name__)

_DEFAULT_CAPACITY = 1 << 19  # keys tracked when the shard counts are unknown (a 8 MiB table)
_MAX_CAPACITY = 1 << 24


def _key_hash(key: str) -> int:
    """A nonzero 63-bit hash of a key (collisions between distinct keys: about 2^-63 per pair)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") >> 1 | 1


class SeenKeys:
    """A set of keys in shared memory; `add` says whether a key is new. Picklable to workers."""

    def __init__(self, capacity: int | None):
        capacity = min(max(capacity or _DEFAULT_CAPACITY, 1), _MAX_CAPACITY)
        self.slots = 1 << (2 * capacity - 1).bit_length()  # at most half full
        self.limit = self.slots // 2
        self.table = torch.zeros(self.slots, dtype=torch.int64).share_memory_()
        self.state = torch.zeros(2, dtype=torch.int64).share_memory_()  # generation, keys stored
        fd, self.lock_path = tempfile.mkstemp(prefix="mmzppo-seen-keys-", suffix=".lock")
        os.close(fd)
        weakref.finalize(self, _unlink, self.lock_path)
        self._fd, self._pid, self._full_logged = None, None, False

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_fd"] = state["_pid"] = None  # each process opens the lock file itself
        return state

    def _locked(self):
        if self._pid != os.getpid():
            self._fd, self._pid = os.open(self.lock_path, os.O_RDWR | os.O_CREAT), os.getpid()
        return _Flock(self._fd)

    def start(self, generation: int) -> None:
        """Begin a pass: the first reader of a new pass (generation) empties the set."""
        with self._locked():
            if int(self.state[0]) != generation:
                self.table.zero_()
                self.state[0], self.state[1] = generation, 0

    def add(self, key: str) -> bool:
        """Insert `key`; False when it was already there (a duplicate)."""
        h = _key_hash(key)
        mask = self.slots - 1
        with self._locked():
            i = h & mask
            while (v := int(self.table[i])) != 0:
                if v == h:
                    return False
                i = (i + 1) & mask
            if int(self.state[1]) >= self.limit:  # full: stop tracking rather than slow down or fail
                if not self._full_logged:
                    self._full_logged = True
                    log.warning("duplicate-key detection stopped after %d keys (table full)", self.limit)
                return True
            self.table[i] = h
            self.state[1] += 1
            return True


class _Flock:
    def __init__(self, fd: int):
        self.fd = fd

    def __enter__(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
