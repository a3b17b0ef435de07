"""Torch threads for a command-line run: one per idle core, unless OMP_NUM_THREADS says.

On a small shared machine two threads beside a busy process are slower than one
(`benchmarks/bench_threads.py` measures it), so `python -m mmzppo.train` asks how many cores
are idle right now (`idle_cores`) and takes that many.
"""

from __future__ import annotations

import torch


def pick_threads() -> int:
    """Torch threads for a command-line run, when OMP_NUM_THREADS does not say: one per core that
    is idle now (sampled over 0.2 s from /proc/stat; the 1-minute load average elsewhere), at
    least 1.

    Measured on a 2-core machine (`benchmarks/bench_threads.py`, a tiny-model forward+backward):
    idle, 2 threads take 0.56x the time of 1; beside one busy process they take 2.1x (and up to
    10x was seen in the demo), because two threads then wait on each other. So a busy machine
    gets fewer threads. Results are reproducible at a fixed thread count (set OMP_NUM_THREADS):
    the float summation order depends on it.
    """
    import os

    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    cores = os.cpu_count() or 1
    threads = max(1, min(cores, round(idle_cores(cores))))
    torch.set_num_threads(threads)
    return threads


def idle_cores(cores: int, seconds: float = 0.2) -> float:
    """How many cores are idle right now."""
    import os
    import time

    def ticks() -> tuple[int, int]:
        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)  # total, idle + iowait

    try:
        total0, idle0 = ticks()
        time.sleep(seconds)
        total1, idle1 = ticks()
        return cores * (idle1 - idle0) / max(total1 - total0, 1)
    except (OSError, ValueError, IndexError):
        try:
            return cores - os.getloadavg()[0]
        except OSError:
            return cores
