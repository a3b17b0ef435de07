"""Many teacher servers behind one client: least-loaded dispatch, health, per-server counts.

The paper serves its frozen teacher on 2 GPUs of each of its 8 nodes: about 16 vLLM servers
at tensor-parallel size 1 answer the teacher rollouts, candidate rewrites, hints and the judge
at once (spec section 8). `teacher_endpoint` (and the evaluation's `--judge`) may therefore
list several servers (`endpoint_list`); `mmzppo.teachers.client.ChatClient` sends each request
through a `Fleet` of them (one server is a fleet of one):

* least-loaded dispatch: a request goes to the healthy server with the fewest requests in
  flight (ties: the one sent fewest requests so far, so equal servers under equal load split
  the work evenly); at most `per_server` requests are in flight at one server (the
  `teacher_concurrency` setting), and a request waits for a free slot when every healthy
  server is full;
* health: a server that refuses the connection, drops it or times out is marked down and its
  request goes to another server at once (`ChatClient.request`: nothing is lost while one
  server is left). A background thread asks a down server `/v1/models` again, with its own
  exponential back-off (0.5 s doubling to 8 s), and it rejoins when it answers with the
  fleet's model;
* with every server down, a request tries them in turn (least-loaded first) after the client's
  back-off, within its retry budget; then the caller's `teacher_failure` applies;
* counts per server i in a `Counter` shared with the teacher's own counts:
  `server{i}/requests` (HTTP requests sent, failed ones included), `server{i}/failures` and
  `server{i}/seconds` (summed over answered requests). `fleet_metrics` turns one step's share
  into the metrics `teacher/server{i}/requests`, `teacher/server{i}/failures` (summed over
  ranks like every `teacher/` count) and `time/teacher_server{i}` (this rank's mean seconds
  per answered request).

That every server serves the same model is checked by the client at start-up
(`ChatClient.check`) and again when a server rejoins.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


def endpoint_list(value) -> list[str]:
    """`teacher_endpoint` / `--judge` as a list of URLs: one URL, a comma-separated string
    (the command line) or a list (YAML). Items are stripped; empty ones dropped."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [str(u).strip() for u in items if str(u).strip()]


@dataclass
class Server:
    """One server of the fleet and its state."""

    index: int  # position in the configured list: the metrics' server{index}
    url: str  # base URL, ending in /v1
    in_flight: int = 0
    down: str | None = None  # why it is out of the fleet; None = healthy
    retry_at: float = 0.0  # monotonic time of its next health probe while down
    wait: float = 0.0  # its current back-off

    @property
    def root(self) -> str:
        """The server's address without /v1 (vLLM's /tokenize and /inference/v1/... live there)."""
        return self.url[: -len("/v1")]


class Fleet:
    """The servers of one client (see the module docstring).

    per_server: requests in flight at one server at most.
    stats: the Counter the per-server counts go to (shared with the teacher's counts).
    probe: asks one server whether it can serve (raises when not); the background retries use it.
    """

    def __init__(
        self,
        urls: list[str],
        per_server: int,
        stats: Counter,
        probe: Callable[[Server], None],
        *,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ):
        self.servers = [Server(i, url) for i, url in enumerate(urls)]
        self.per_server, self.stats, self.probe = per_server, stats, probe
        self.backoff, self.max_backoff = backoff, max_backoff
        for s in self.servers:  # every server's keys exist from the start: stable metric names
            for key in ("requests", "failures", "seconds"):
                stats[f"server{s.index}/{key}"] += 0
        self._cond = threading.Condition()
        self._watcher: threading.Thread | None = None
        self._closed = False

    def healthy(self) -> list[Server]:
        with self._cond:
            return [s for s in self.servers if s.down is None]

    def acquire(self) -> Server:
        """A server for one request, its slot taken: the least-loaded healthy one with a free
        slot (waiting for one while every healthy server is full); with every server down, the
        least-loaded of them."""
        with self._cond:
            while True:
                healthy = [s for s in self.servers if s.down is None]
                if not healthy:  # every server down: the attempts spread over all of them
                    return self._take(min(self.servers, key=self._load))
                free = [s for s in healthy if s.in_flight < self.per_server]
                if free:
                    return self._take(min(free, key=self._load))
                self._cond.wait(1.0)  # a slot frees, or a server goes down or rejoins

    def _load(self, s: Server) -> tuple[int, int, int]:
        return (s.in_flight, self.stats[f"server{s.index}/requests"], s.index)

    def _take(self, s: Server) -> Server:
        s.in_flight += 1
        self.stats[f"server{s.index}/requests"] += 1
        return s

    def done(self, s: Server, seconds: float | None) -> None:
        """A request to `s` finished: answered after `seconds`, or failed (None)."""
        with self._cond:
            s.in_flight -= 1
            if seconds is None:
                self.stats[f"server{s.index}/failures"] += 1
            else:
                self.stats[f"server{s.index}/seconds"] += seconds
            self._cond.notify_all()

    def mark_down(self, s: Server, why: str) -> None:
        """Take `s` out of the fleet and retry it in the background (once per outage)."""
        with self._cond:
            if s.down is None:
                s.wait = self.backoff
                s.retry_at = time.monotonic() + s.wait
            s.down = why
            if self._watcher is None and not self._closed:
                self._watcher = threading.Thread(target=self._watch, name="teacher-fleet-health", daemon=True)
                self._watcher.start()
            self._cond.notify_all()

    def mark_up(self, s: Server) -> None:
        with self._cond:
            s.down = None
            self._cond.notify_all()

    def _watch(self) -> None:
        """Background retries of the servers that are down, each on its own back-off; ends
        when none is down (a later `mark_down` starts it again)."""
        while True:
            with self._cond:
                down = [s for s in self.servers if s.down is not None]
                if self._closed or not down:
                    self._watcher = None
                    return
                now = time.monotonic()
                due = [s for s in down if s.retry_at <= now]
                if not due:
                    self._cond.wait(min(s.retry_at for s in down) - now)
                    continue
            for s in due:
                try:
                    self.probe(s)
                except Exception as e:  # noqa: BLE001 - any failure keeps it out; the reason is kept
                    with self._cond:
                        s.down = str(e)
                        s.wait = min(self.max_backoff, 2 * s.wait)
                        s.retry_at = time.monotonic() + s.wait
                else:
                    self.mark_up(s)

    def describe_down(self) -> str:
        with self._cond:
            return "; ".join(f"{s.url}: {s.down}" for s in self.servers if s.down is not None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def fleet_metrics(calls: Counter) -> dict[str, float]:
    """One step's per-server counts (a difference of two `stats` Counters) as metrics."""
    out: dict[str, float] = {}
    indices = sorted({int(k.split("/")[0][len("server") :]) for k in calls if k.startswith("server")})
    for i in indices:
        requests, failures = calls[f"server{i}/requests"], calls[f"server{i}/failures"]
        out[f"teacher/server{i}/requests"] = requests
        out[f"teacher/server{i}/failures"] = failures
        answered = requests - failures
        out[f"time/teacher_server{i}"] = calls[f"server{i}/seconds"] / answered if answered > 0 else 0.0
    return out


def valid_endpoints(value) -> bool:
    """One http(s) URL, or several (a list or a comma-separated string), and nothing else."""
    urls = endpoint_list(value) if isinstance(value, (str, list)) else []
    return bool(urls) and all(u.startswith(("http://", "https://")) for u in urls)
