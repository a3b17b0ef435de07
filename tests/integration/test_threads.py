"""Command-line runs pick one torch thread per idle core, unless OMP_NUM_THREADS says."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time

PRINT = "from mmzppo.policy.threads import pick_threads; print(pick_threads())"


def spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def threads(env: dict) -> int:
    out = subprocess.run([sys.executable, "-c", PRINT], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_explicit_thread_count_is_kept_and_a_busy_core_is_left_alone():
    base = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    assert threads({**base, "OMP_NUM_THREADS": "1"}) == 1
    cores = os.cpu_count() or 1
    assert 1 <= threads(base) <= cores
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=spin, args=(stop,)) for _ in range(cores)]
    for p in spinners:
        p.start()
    try:
        time.sleep(0.5)
        assert threads(base) == 1  # every core busy: one thread, not a pool that waits on itself
    finally:
        stop.set()
        for p in spinners:
            p.join()
