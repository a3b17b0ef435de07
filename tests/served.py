"""The session's real `vllm serve` servers (the `served` fixture of tests/conftest.py) and a free
loopback port (imported as `served`; tests/ is on sys.path)."""

from __future__ import annotations

import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(server) -> bool:
    """Whether `server` (a `LocalServer`) lists its model now."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{server.url}/v1/models", timeout=5) as r:
            return server.served_name in r.read().decode()
    except OSError:
        return False


SHARP = "sharp-teacher"  # the served name of the pair
OTHER = "tiny-s"  # the served name of the other model's server


class Served:
    """The session's real `vllm serve` servers, started side by side once (a server start costs
    about 30 s of CPU: three processes that each import vLLM): `pair`, two servers of the sharp
    teacher (`SHARP`, with the token-in endpoint and per-request media settings), which
    tests/integration/test_server_teacher.py (`pair[0]`) and test_teacher_fleet.py share, and
    `other`, the plain tiny `s` as `OTHER` with vLLM's default settings (no per-request media
    settings), for the fleet's refusal test. A test that kills one restarts it (`LocalServer.start`,
    or `launch` and later `up`); `up` starts any that is not running, so one test's failure to
    restart costs the next one a start, not a failure."""

    def __init__(self, sharp_teacher: Path, tiny_s_dir: Path, logs: Path):
        from mmzppo.tools.servers import LocalServer, tiny_server_args

        self.pair = [
            LocalServer(
                sharp_teacher,
                free_port(),
                logs / f"sharp{i}.log",
                served_name=SHARP,
                args=tiny_server_args(scale_out=True),
            )
            for i in range(2)
        ]
        args = tiny_server_args(request_mm_kwargs=False)  # vLLM's default: no per-request media settings
        self.other = LocalServer(tiny_s_dir, free_port(), logs / "other.log", served_name=OTHER, args=args)
        self.all = [*self.pair, self.other]

    def up(self, *servers):
        """Start (side by side) those of `servers` (default: all) that are not running, and wait
        until each answers."""
        servers = servers or self.all
        for s in servers:
            if s.proc is None or s.proc.poll() is not None:
                s.proc = None
                s.launch()
        for s in servers:
            if not answers(s):
                s.launched = max(s.launched, time.perf_counter() - 1.0)  # a running one gets a whole start timeout
                s.wait()
        return servers

    def kill(self):
        for s in self.all:
            s.kill()
