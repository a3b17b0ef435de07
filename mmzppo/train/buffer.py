"""The prompt replay buffer (paper, Algorithm 1 steps 1 and 10).

* stores questions (the `Sample`: text + media reference), never responses;
* admission: a question not in the buffer whose PLAIN accuracy r(x) < 0.5 is admitted
  (BCQ/NCQ accuracy is ignored);
* graduation: a buffered question visited again with plain r(x) >= 0.5 is removed;
* FIFO eviction of the oldest entries while the size exceeds the capacity (10,000);
* replay: rho_replay * |X_new| questions drawn uniformly without replacement each step.

It counts admissions, graduations and evictions, and graduations by the accuracy a question
had when it was admitted (the paper's mechanism figure). Its whole state, RNG included,
goes into checkpoints (`state_dict` / `load_state_dict`).
"""

from __future__ import annotations

import random
from collections import Counter, OrderedDict
from dataclasses import dataclass

from mmzppo.data.sample import Sample


@dataclass
class Entry:
    sample: Sample
    entry_accuracy: float  # plain accuracy when admitted
    admitted_step: int


class ReplayBuffer:
    def __init__(self, capacity: int = 10_000, threshold: float = 0.5, seed: int = 0):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity, self.threshold = capacity, threshold
        self.entries: OrderedDict[str, Entry] = OrderedDict()  # insertion order = FIFO order
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()  # admitted / graduated / evicted, cumulative
        self.graduated_by_entry: Counter[str] = Counter()  # entry-accuracy bin -> graduations

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, uid: str) -> bool:
        return uid in self.entries

    def sample_replay(self, k: int) -> list[Sample]:
        """k questions drawn uniformly without replacement (fewer if the buffer is smaller)."""
        uids = self.rng.sample(list(self.entries), min(k, len(self.entries)))
        return [self.entries[u].sample for u in uids]

    def update(self, plain_accuracy: dict[str, float], samples: dict[str, Sample], step: int) -> Counter:
        """Step 10 for this step's questions (new and replayed): admit, graduate, evict.

        Returns this step's counts. Questions are handled in the order given.
        """
        step_counts: Counter[str] = Counter()
        for uid, acc in plain_accuracy.items():
            if uid in self.entries:
                if acc >= self.threshold:
                    entry = self.entries.pop(uid)
                    step_counts["graduated"] += 1
                    self.graduated_by_entry[entry_bin(entry.entry_accuracy)] += 1
            elif acc < self.threshold:
                self.entries[uid] = Entry(samples[uid], acc, step)
                step_counts["admitted"] += 1
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)
            step_counts["evicted"] += 1
        self.counts.update(step_counts)
        return step_counts

    def state_dict(self) -> dict:
        return {
            "capacity": self.capacity,
            "threshold": self.threshold,
            "entries": [(uid, e.sample, e.entry_accuracy, e.admitted_step) for uid, e in self.entries.items()],
            "rng": self.rng.getstate(),
            "counts": dict(self.counts),
            "graduated_by_entry": dict(self.graduated_by_entry),
        }

    def load_state_dict(self, state: dict) -> None:
        self.capacity, self.threshold = state["capacity"], state["threshold"]
        self.entries = OrderedDict((uid, Entry(s, acc, step)) for uid, s, acc, step in state["entries"])
        self.rng.setstate(state["rng"])
        self.counts = Counter(state["counts"])
        self.graduated_by_entry = Counter(state["graduated_by_entry"])


def entry_bin(accuracy: float) -> str:
    """Label of an entry accuracy ("0.00", "0.12", "0.25", "0.38" for 0..3 of 8 correct)."""
    return f"{accuracy:.2f}"
