"""What a run does when its cluster fails it: a scheduler's SIGTERM, or a rank that dies.

* SIGTERM (a pre-empting scheduler, `scancel`, a spot machine reclaimed): `GracefulStop`
  turns the first one into a request; the loop finishes the step it is in, every rank agrees
  (`stop_agreed`: one max over ranks before each step, so all stop after the same step),
  writes a checkpoint and returns; the command exits 0 and `--resume` continues exactly.
  Under torchrun / `accelerate launch` a SIGTERM to the launcher reaches the workers too,
  but the launcher kills them 30 s later: a step longer than that is lost, and the run
  resumes from the checkpoint before it. A second SIGTERM ends the
  process at once (the default action), for a scheduler that does not wait.
* A rank that dies (killed, out of memory, its node lost): the others would wait in their
  next collective until the process group's timeout (30 minutes for gloo, 10 for NCCL) or
  for ever. `Heartbeat` makes every rank bump a counter in the launcher's key-value store
  (the TCP store at MASTER_ADDR:MASTER_PORT that `torch.distributed` already uses) every few
  seconds, and watches the others' from a daemon thread: a counter that has not moved for
  `rank_timeout` seconds names the lost rank, and the process prints it and exits at once
  (`os._exit`: its main thread may be blocked inside a collective that will never return).
  Counters, not clocks, so nodes need no common time. A store that stops answering for
  `rank_timeout` seconds means its host is gone: rank 0's node (or the launcher's).
  Why not only a short process-group timeout: a rank legitimately spends minutes generating
  12,288-token answers while the others wait in a collective, so a timeout short enough to
  notice a death quickly would kill healthy runs; a heartbeat is sent by a thread while the
  main thread works, and tells a slow rank from a dead one.
  `--resume` (every rank) then continues from the last complete checkpoint, exactly as after
  a kill -9 of a single process.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from datetime import timedelta

EXIT_RANK_LOST = 75  # a rank was lost: resume with --resume (EX_TEMPFAIL: try again)


class GracefulStop:
    """`install()`: the first SIGTERM sets `requested` (the loop checks it between steps); the
    second one ends the process at once (the default action). `restore()` puts the previous
    handler back. Only the main thread can install signal handlers; elsewhere nothing is
    installed and nothing is ever requested."""

    def __init__(self):
        self.requested = False
        self.agreed = False  # set by `stop_agreed`: every rank stops after this step
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        self.requested = True
        print("SIGTERM: finishing this step, then a checkpoint and exit", file=sys.stderr, flush=True)

    def install(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None


def stop_agreed(stop: GracefulStop, world: int) -> bool:
    """True on every rank once any rank got a SIGTERM (a max over ranks: all stop after the
    same step, so their checkpoints match)."""
    from mmzppo.policy import parallel

    requested = stop.requested if world == 1 else parallel.all_reduce([float(stop.requested)], "max")[0] > 0
    stop.agreed = stop.agreed or requested
    return stop.agreed


class Heartbeat:
    """Each rank's counter in the launcher's store, bumped every `interval` s; the others'
    watched. `start()` / `stop()`; `stop()` marks this rank finished, so a rank that ends
    first is never taken for a lost one."""

    PREFIX = "mmzppo/heartbeat/"

    def __init__(self, rank: int, world: int, timeout: float, interval: float | None = None):
        self.rank, self.world, self.timeout = rank, world, float(timeout)
        self.interval = interval or max(0.5, min(5.0, self.timeout / 6))
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.store = None

    def _connect(self):
        import torch.distributed as dist

        host, port = os.environ.get("MASTER_ADDR", "127.0.0.1"), int(os.environ.get("MASTER_PORT", "29500"))
        return dist.TCPStore(host, port, is_master=False, timeout=timedelta(seconds=self.timeout))

    def start(self) -> Heartbeat:
        global _ACTIVE
        if self.world < 2:
            return self
        _ACTIVE = self
        self.store = self._connect()
        self.store.set(f"{self.PREFIX}{self.rank}", "0")
        self._thread = threading.Thread(target=self._run, name="mmzppo-heartbeat", daemon=True)
        self._thread.start()
        atexit.register(self.stop)  # a thread left inside a store call at exit aborts the process
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._done.set()
        self._thread.join(timeout=self.interval * 2)
        try:
            self.store.set(f"{self.PREFIX}{self.rank}", "done")
        except Exception:
            pass  # the store's host already finished: nothing to tell anyone
        self._thread = None
        global _ACTIVE
        _ACTIVE = None

    def _run(self) -> None:
        beats = 0
        seen: dict[int, tuple[str, float]] = {}  # rank -> (its counter, when it last moved, local clock)
        store_ok = time.monotonic()
        while not self._done.wait(self.interval):
            now = time.monotonic()
            try:
                beats += 1
                self.store.set(f"{self.PREFIX}{self.rank}", str(beats))
                keys = {r: f"{self.PREFIX}{r}" for r in range(self.world) if r != self.rank}
                values = {r: self.store.get(k).decode() for r, k in keys.items() if self.store.check([k])}
                store_ok = now
            except Exception as e:  # the store's host is gone, or unreachable
                if now - store_ok > self.timeout:
                    self.lost(
                        f"the rendezvous store at {os.environ.get('MASTER_ADDR')}:"
                        f"{os.environ.get('MASTER_PORT')} (rank 0's node or the launcher) stopped answering "
                        f"{now - store_ok:.0f} s ago ({type(e).__name__})"
                    )
                continue
            for r, value in values.items():
                if value == "done":
                    continue
                if r not in seen or seen[r][0] != value:
                    seen[r] = (value, now)
                elif now - seen[r][1] > self.timeout:
                    self.lost(
                        f"rank {r} lost: no heartbeat for {now - seen[r][1]:.0f} s (rank_timeout {self.timeout:g} s)"
                    )

    def lost(self, reason: str) -> None:
        """Say which rank is gone and end this process now, collectives or not."""
        print(
            f"rank {self.rank}: {reason}; stopping (resume every rank with --resume from the last checkpoint)",
            file=sys.stderr,
            flush=True,
        )
        os._exit(EXIT_RANK_LOST)

    def wait_for_verdict(self) -> None:
        """After a collective failed (a peer's connection closed): give the watchdog the time
        to name the lost rank (it then exits the process); returns if it named none."""
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 3 * self.interval)


_ACTIVE: Heartbeat | None = None  # this process's running heartbeat, for `wait_for_verdict`


def wait_for_verdict() -> None:
    """After a collective failed: if this process sends heartbeats, give its watchdog the time
    to name a lost rank (it then ends the process); return if no rank is lost."""
    if _ACTIVE is not None:
        _ACTIVE.wait_for_verdict()
