"""The teacher fleet without servers: `teacher_endpoint` as one URL or a list, and what a
client does when every server refuses the connection (two loopback ports nobody listens on)."""

from __future__ import annotations

import socket

import pytest
from helpers import text_samples

from mmzppo.teachers.client import ChatClient, ServerError
from mmzppo.teachers.fleet import endpoint_list, fleet_metrics
from mmzppo.teachers.served import ServerTeacher, TeacherUnavailable
from mmzppo.train.config import ConfigError
from mmzppo.train.config_files import load_config


def dead_urls(n: int) -> list[str]:
    """Loopback URLs whose ports were free a moment ago: connections are refused."""
    urls = []
    for _ in range(n):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            urls.append(f"http://127.0.0.1:{s.getsockname()[1]}")
    return urls


def test_teacher_endpoint_takes_one_url_or_a_list():
    served = ["teacher_kind=server", "teacher_failure=skip"]
    one = load_config(None, [*served, "teacher_endpoint=http://a:8000"])
    listed = load_config(None, [*served, "teacher_endpoint=[http://a:8000, http://b:8000]"])
    comma = load_config(None, [*served, "teacher_endpoint=http://a:8000,http://b:8000/v1"])
    assert endpoint_list(one.teacher_endpoint) == ["http://a:8000"]
    assert endpoint_list(listed.teacher_endpoint) == ["http://a:8000", "http://b:8000"]
    assert ChatClient(comma.teacher_endpoint).url == "http://a:8000/v1, http://b:8000/v1"
    with pytest.raises(ConfigError, match=r"^teacher_endpoint: .*'ftp://b'.*a list of them"):
        load_config(None, [*served, "teacher_endpoint=[http://a:8000, ftp://b]"])
    # distillation from a server takes its top-k log-probs: k > 0 for the JSD
    with pytest.raises(ConfigError, match="^distill_top_k: a served teacher"):
        load_config(None, [*served, "teacher_endpoint=http://a:8000", "method=distill_on"])
    on = load_config(None, [*served, "teacher_endpoint=http://a:8000", "method=distill_off", "distill_top_k=20"])
    assert on.teacher_kind == "server"


def test_every_server_down_stop_names_them_all_and_skip_counts():
    urls = dead_urls(2)
    client = ChatClient(urls, "teacher", concurrency=2, timeout=5.0, retries=1, backoff=0.01)
    with pytest.raises(ServerError, match="no server answered") as e:
        client.check()
    assert e.value.retryable and all(s.down for s in client.fleet.servers)
    questions = text_samples(3)
    stop = ServerTeacher(client, None, failure="stop")
    with pytest.raises(TeacherUnavailable) as e:
        stop.answer(questions, 2)
    assert all(f"{u}/v1" in str(e.value) for u in urls) and "every server is down" in str(e.value)
    skip = ServerTeacher(client, None, failure="skip")
    before = dict(client.stats)
    assert skip.answer(questions, 2) == [[], [], []]
    assert skip.counts["failed"] == 3  # the shared counts: "stop" raised without counting
    calls = client.stats.copy()
    calls.subtract(before)
    metrics = fleet_metrics(calls)
    assert set(metrics) == {
        f"{p}{i}{q}"
        for i in (0, 1)
        for p, q in [("teacher/server", "/requests"), ("teacher/server", "/failures"), ("time/teacher_server", "")]
    }
    assert metrics["teacher/server0/requests"] == metrics["teacher/server0/failures"] > 0
    assert metrics["teacher/server1/failures"] > 0 and metrics["time/teacher_server0"] == 0.0
    client.close()
