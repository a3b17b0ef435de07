"""The judge in the training reward on a fixture with every reward type (issue 26's numbers).

    python benchmarks/bench_judge.py [--vllm]

Against the stand-in judge of the tests (tests/judge_stub.py: exact verdicts by string
equality, so the routing and the cache are what is measured): per reward type, its route and
the verdicts of a right and a wrong answer; the judged share; the cache hit rate when the
same batch is graded again; a dead judge under `teacher_failure: stop` and `skip`. With
--vllm, also a real `vllm serve` of a tiny random Qwen3.5 as the judge: its verdicts are
malformed (a random model writes no JSON) and graded wrong; the latency of one verdict and
the share of malformed ones.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the stand-in judge

from judge_stub import ROWS, StubJudge, samples  # noqa: E402

from mmzppo.grading.rewards import route  # noqa: E402
from mmzppo.teachers.client import ChatClient  # noqa: E402
from mmzppo.teachers.judge import RewardJudge  # noqa: E402
from mmzppo.train.rewards import JudgeUnavailable, Rewarder  # noqa: E402


def rewarder(url: str, failure: str = "stop", model: str | None = None) -> Rewarder:
    client = ChatClient(url, model, concurrency=8, timeout=60.0, retries=0, backoff=0.05)
    return Rewarder(RewardJudge(client), failure)


def fixture(url: str) -> None:
    r = rewarder(url)
    rows = samples()
    texts = [[right, wrong] for *_, right, wrong in ROWS]
    verdicts = r.correct(rows, texts)
    print(f"{'reward_type':<16} {'gold':<14} {'route':<6} right  wrong")
    for s, (right, wrong) in zip(rows, verdicts):
        print(f"{str(s.reward_type):<16} {s.answer:<14} {route(s):<6} {right!s:<6} {wrong!s}")
    first = r.step_metrics()
    judged = sum(route(s) == "judge" for s in rows) * 2
    print(f"judged share: {judged} of {2 * len(rows)} answers = {judged / (2 * len(rows)):.3f}")
    print(f"first batch: asked {first['judge/asked']}, cache hit rate {first['judge/cache_hit_rate']:.2f}")
    r.correct(rows, texts)
    again = r.step_metrics()
    print(f"same batch again: asked {again['judge/asked']}, cache hit rate {again['judge/cache_hit_rate']:.2f}")


def dead() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    s = [x for x in samples() if x.reward_type == "llm_judge"]
    try:
        rewarder(url, "stop").correct(s, [["\\boxed{x = 2}"]])
        print("dead judge, stop: no error (unexpected)")
    except JudgeUnavailable as e:
        print(f"dead judge, stop: JudgeUnavailable: {e}")
    r = rewarder(url, "skip")
    from mmzppo.train.rewards import judge_question

    verdicts = r._verdicts([judge_question(s[0], "\\boxed{x = 2}")])
    print(f"dead judge, skip: verdict {verdicts} (unknown: the group is left out), {r.step_metrics()}")


def real_vllm() -> None:
    from mmzppo.tools.models import build_tiny
    from mmzppo.tools.servers import LocalServer, tiny_server_args

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny(Path(tmp) / "tiny_s", size="s", seed=0)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = LocalServer(model, port, Path(tmp) / "serve.log", served_name="judge", args=tiny_server_args())
        print(f"vllm serve (tiny s, random weights) ready in {server.start():.0f} s")
        try:
            r = rewarder(server.url, model="judge")
            r.judge.max_tokens = 32
            rows, texts = samples(), [[right, wrong] for *_, right, wrong in ROWS]
            start = time.perf_counter()
            r.correct(rows, texts)
            m = r.step_metrics()
            print(
                f"real judge: asked {m['judge/asked']} in {time.perf_counter() - start:.1f} s, "
                f"malformed {m['judge/malformed']}, failed {m['judge/failed']}, "
                f"latency per verdict {m['judge/latency_s']:.2f} s (32 new tokens)"
            )
        finally:
            server.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vllm", action="store_true", help="also ask a real vllm serve of a tiny model")
    args = parser.parse_args()
    stub = StubJudge()
    try:
        fixture(stub.url)
    finally:
        stub.close()
    dead()
    if args.vllm:
        real_vllm()
