"""The prompt replay buffer (paper, Algorithm 1 steps 1 and 10).

* stores questions (the `Sample`: text + media reference), never responses;
* admission: a question not in the buffer whose PLAIN accuracy r(x) < 0.5 is admitted
  (BCQ/NCQ accuracy is ignored);
* graduation: a buffered question visited again with plain r(x) >= 0.5 is removed;
* FIFO eviction of the oldest entries while the size exceeds the capacity (10,000);
* replay: rho_replay * |X_new| questions drawn uniformly without replacement each step.

It counts admissions, graduations and evictions, and, per entry bin (the plain accuracy a
question had when it was admitted: 0/8 .. 3/8) and split by whether the question got a
reformulated prompt (BCQ, NCQ, or a baseline's hint or prefix) on a visit while it was
buffered, how many were admitted and how many graduated (`by_entry`): the paper's mechanism
numbers (spec section 9: of the questions admitted at 0/8, ZPPO graduates 28%, GRPO-dagger
4%). The step's metrics mark the reformulated questions (`mark_reformulated`,
called by `mmzppo.train.metrics.step_metrics` after the step's bookkeeping). Its whole
state, RNG included, goes into checkpoints (`state_dict` / `load_state_dict`).
"""

from __future__ import annotations

import random
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from mmzppo.data.sample import Sample


@dataclass
class Entry:
    sample: Sample
    entry_accuracy: float  # plain accuracy when admitted
    admitted_step: int
    reformulated: bool = False  # got a BCQ/NCQ (hint, prefix) prompt on a visit since its admission


class ReplayBuffer:
    def __init__(self, capacity: int = 10_000, threshold: float = 0.5, seed: int = 0):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity, self.threshold = capacity, threshold
        self.entries: OrderedDict[str, Entry] = OrderedDict()  # insertion order = FIFO order
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()  # admitted / graduated / evicted, cumulative
        self.graduated_by_entry: Counter[str] = Counter()  # entry-accuracy bin -> graduations
        self.left: Counter[str] = Counter()  # "<bin>/<reformulated|plain>/<graduated|evicted>" -> entries that left

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
                    self.left[fate(entry, "graduated")] += 1
            elif acc < self.threshold:
                self.entries[uid] = Entry(samples[uid], acc, step)
                step_counts["admitted"] += 1
        while len(self.entries) > self.capacity:
            _, entry = self.entries.popitem(last=False)
            step_counts["evicted"] += 1
            self.left[fate(entry, "evicted")] += 1
        self.counts.update(step_counts)
        return step_counts

    def mark_reformulated(self, uids: Iterable[str]) -> None:
        """Note that these questions got a reformulated prompt this step (those in the buffer)."""
        for uid in uids:
            if uid in self.entries:
                self.entries[uid].reformulated = True

    def by_entry(self) -> Counter:
        """Per entry bin and reformulated or not: "<bin>/<split>/admitted" (every question
        admitted so far: graduated, evicted or still buffered) and "<bin>/<split>/graduated"."""
        out: Counter[str] = Counter()
        for key, n in self.left.items():
            row, what = key.rsplit("/", 1)
            out[f"{row}/admitted"] += n
            if what == "graduated":
                out[f"{row}/graduated"] += n
        for entry in self.entries.values():
            out[f"{group(entry)}/admitted"] += 1
        return out

    def state_dict(self) -> dict:
        return {
            "capacity": self.capacity,
            "threshold": self.threshold,
            "entries": [
                (uid, e.sample, e.entry_accuracy, e.admitted_step, e.reformulated) for uid, e in self.entries.items()
            ],
            "rng": self.rng.getstate(),
            "counts": dict(self.counts),
            "graduated_by_entry": dict(self.graduated_by_entry),
            "left": dict(self.left),
        }

    def load_state_dict(self, state: dict) -> None:
        self.capacity, self.threshold = state["capacity"], state["threshold"]
        self.entries = OrderedDict((e[0], Entry(*e[1:])) for e in state["entries"])  # older checkpoints: 4 fields
        self.rng.setstate(state["rng"])
        self.counts = Counter(state["counts"])
        self.graduated_by_entry = Counter(state["graduated_by_entry"])
        self.left = Counter(state.get("left", {}))


def entry_bin(accuracy: float) -> str:
    """Label of an entry accuracy ("0.00", "0.12", "0.25", "0.38" for 0..3 of 8 correct)."""
    return f"{accuracy:.2f}"


def group(entry: Entry) -> str:
    """ "<entry bin>/<reformulated|plain>": the mechanism's row of an entry."""
    return f"{entry_bin(entry.entry_accuracy)}/{'reformulated' if entry.reformulated else 'plain'}"


def fate(entry: Entry, what: str) -> str:
    """The `left` key of an entry that graduated or was evicted: "<group>/<what>"."""
    return f"{group(entry)}/{what}"
