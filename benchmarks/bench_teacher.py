"""Teacher requests/s with one and with two local vLLM servers at the same total concurrency,
through the fleet client (`mmzppo.teachers.client.ChatClient`), measured side by side in one run.

    .venv/bin/python benchmarks/bench_teacher.py [--requests 48] [--concurrency 8] [--new-tokens 32]
                                                 [--repeats 3]

Two servers of the tiny `s` Qwen3.5 start side by side on loopback ports and are warmed up;
then, alternating within each repeat: one server with `--concurrency` requests in flight, and
both servers with half of it each (the same total). Every request is a text question answered
with exactly `--new-tokens` tokens (min_tokens = max_tokens), so all requests are the same size.
Prints requests/s (the median over repeats), their ratio, and how the two-server runs split the
requests between the servers.

On this project's 2-core CPU machines both servers share the same two cores, so the second one
may add little or nothing: the ratio says what it does here. On GPUs each server has its own.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=8, help="total requests in flight (even)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from mmzppo.data.synthetic import generate_suite
    from mmzppo.prompting.builders import plain
    from mmzppo.teachers.client import ChatClient
    from mmzppo.teachers.messages import openai_messages
    from mmzppo.tools.models import build_tiny
    from mmzppo.tools.servers import LocalServer, tiny_server_args

    tmp = Path(tempfile.mkdtemp(prefix="bench_teacher_"))
    model_dir = build_tiny(tmp / "s", "s")
    samples = list(generate_suite(["arith_chain", "word_problem"], 8, 0, "test", tmp / "media", levels=[1]))
    messages = [openai_messages(plain(samples[i % len(samples)]), None) for i in range(args.requests)]
    servers = [
        LocalServer(model_dir, free_port(), tmp / f"server{i}.log", served_name="tiny", args=tiny_server_args())
        for i in range(2)
    ]

    def run(client: ChatClient) -> float:
        n = args.new_tokens
        start = time.perf_counter()
        client.map(lambda m: client.chat(m, max_tokens=n, temperature=1.0, extra={"min_tokens": n}), messages)
        return args.requests / (time.perf_counter() - start)

    try:
        for s in servers:
            s.launch()
        starts = [s.wait() for s in servers]
        one = ChatClient(servers[0].url, "tiny", concurrency=args.concurrency, timeout=300.0, retries=1)
        two = ChatClient([s.url for s in servers], "tiny", concurrency=args.concurrency // 2, timeout=300.0, retries=1)
        for warm in [ChatClient(s.url, "tiny", concurrency=args.concurrency) for s in servers]:
            run(warm)  # first requests of a server are slow
        rates: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.repeats):
            rates[1].append(run(one))
            rates[2].append(run(two))
        split = [two.stats[f"server{i}/requests"] for i in range(2)]
    finally:
        for s in servers:
            s.kill()

    rps = {k: statistics.median(v) for k, v in rates.items()}
    print(
        f"\ntiny s, {args.requests} text requests x {args.new_tokens} tokens, {args.concurrency} in flight in all, "
        f"median of {args.repeats}; servers started in {', '.join(f'{t:.0f} s' for t in starts)}"
    )
    print("| servers | in flight per server | requests/s | ratio |")
    print("|---:|---:|---:|---:|")
    print(f"| 1 | {args.concurrency} | {rps[1]:.2f} | 1.00x |")
    print(f"| 2 | {args.concurrency // 2} | {rps[2]:.2f} | {rps[2] / rps[1]:.2f}x |")
    print(f"\nrequests per server in the two-server runs: {split[0]} and {split[1]}")


if __name__ == "__main__":
    main()
