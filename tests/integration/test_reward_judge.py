"""The judge in the training reward (issue 26): every reward type routed, verdicts through the
served-teacher client, the per-run cache, a dead judge under both failure policies, and a short
ZPPO run whose free-form rows are judged. A stub server gives exact replies (tests/judge_stub.py);
tests/integration/test_server_teacher.py asks a real `vllm serve`."""

from __future__ import annotations

import json
import socket

import pytest
from judge_stub import JUDGED, ROWS, StubJudge, samples

from mmzppo.data.sample import Sample
from mmzppo.teachers.client import ChatClient
from mmzppo.teachers.judge import RewardJudge
from mmzppo.train.rewards import JudgeUnavailable, Rewarder, judge_question


@pytest.fixture
def stub():
    s = StubJudge(delay=1.5)
    yield s
    s.close()


def rewarder(url, failure="stop", **kw) -> Rewarder:
    client = ChatClient(url, None, **{"concurrency": 4, "timeout": 10.0, "retries": 0, "backoff": 0.05, **kw})
    return Rewarder(RewardJudge(client), failure)


def test_every_reward_type_is_graded_by_its_route_and_repeats_hit_the_cache(stub):
    r = rewarder(stub.url)
    rows = samples()
    texts = [[right, wrong] for _, _, _, right, wrong in ROWS]
    verdicts = r.correct(rows, texts)
    assert verdicts == [[True, False]] * len(ROWS)  # every type: the right answer right, the wrong one wrong
    asked = 2 * (len(JUDGED) + 1)
    assert stub.requests == asked  # only the judged rows reached the judge
    first = r.step_metrics()
    assert first["judge/asked"] == asked and first["judge/cache_hit_rate"] == 0.0
    assert first["judge/malformed"] == first["judge/failed"] == 0 and first["judge/latency_s"] > 0

    assert r.correct(rows, texts) == verdicts  # the same batch again: all from the cache
    assert stub.requests == asked
    again = r.step_metrics()
    assert again["judge/asked"] == 0 and again["judge/cache_hit_rate"] == 1.0


def test_malformed_is_wrong_and_counted_and_not_cached(stub):
    r = rewarder(stub.url)
    s = Sample(uid="m", question="why?", answer="because", reward_type="llm_judge")
    assert r.correct([s], [["\\boxed{garbled}", "\\boxed{because}"]]) == [[False, True]]
    assert r.correct([s], [["\\boxed{garbled}"]]) == [[False]]  # asked again: malformed verdicts are not kept
    m = r.step_metrics()
    assert m["judge/malformed"] == 2 and m["judge/asked"] == 3
    assert len(r.judge.cache) == 1


def test_state_round_trip_keeps_the_cache(stub):
    r = rewarder(stub.url)
    s = Sample(uid="c", question="name it", answer="Ada", reward_type="llm_judge")
    r.correct([s], [["\\boxed{Ada}", "\\boxed{Bob}"]])
    fresh = rewarder(stub.url)
    fresh.load_state_dict(json.loads(json.dumps(r.state_dict())))  # what a checkpoint keeps
    assert fresh.judge.cache == r.judge.cache and len(fresh.judge.cache) == 2
    before = stub.requests
    assert fresh.correct([s], [["\\boxed{Bob}"]]) == [[False]] and stub.requests == before


def dead_url() -> str:
    with socket.socket() as sock:  # a port nobody listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_dead_judge_stops_or_is_skipped_and_counted():
    s = Sample(uid="d", question="q", answer="yes it is", reward_type="llm_judge")
    with pytest.raises(JudgeUnavailable, match="teacher_failure: stop"):
        rewarder(dead_url(), "stop").correct([s], [["\\boxed{yes}"]])
    r = rewarder(dead_url(), "skip")
    assert r._verdicts([judge_question(s, "\\boxed{yes}")]) == [None]  # unknown, not 0
    assert r.step_metrics()["judge/failed"] == 1


def test_a_slow_judge_is_asked_concurrently(stub):
    r = rewarder(stub.url, concurrency=4)
    rows = [Sample(uid=f"s{i}", question=f"q{i}", answer="a", reward_type="llm_judge") for i in range(4)]
    import time

    start = time.perf_counter()
    r.correct(rows, [[f"\\boxed{{slow {i}}}"] for i in range(4)])
    assert time.perf_counter() - start < 4 * stub.delay * 0.75  # four 1.5 s verdicts, not one after another
