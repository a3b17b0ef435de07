"""vLLM rollout vs the transformers backend, the weight sync's share of a step, and the served
teacher's requests/s, measured side by side in one run (the machine is shared: ratios count).

    .venv/bin/python benchmarks/bench_vllm.py [--prompts 4] [--n 8] [--new-tokens 32] [--repeats 3]
                                              [--steps 2] [--requests 32] [--concurrency 16]

1. Rollout: `--prompts` real MathVision image questions x `--n` samples x exactly
   `--new-tokens` tokens (min_new_tokens), tiny `s` Qwen3.5, through `HFRollout` (fp32, the
   CPU reference) and `VLLMRollout` (the colocated engine, bf16), alternating within each
   repeat after one warm-up call each; generated tokens per second of the medians.
2. Weight sync: `--steps` ZPPO steps (reference teacher, synthetic questions) with
   `rollout_backend: vllm`; the last step's in-memory weight load (`VLLMRollout.last_sync_s`)
   over its `time/step`.
3. Teacher: `--requests` answers (16 tokens each, text questions) from a local vLLM server of
   the tiny model through `ServerTeacher` at `--concurrency` and at 1; requests per second.

Also printed: the engine's start time in this process and the server's start time.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    from mmzppo.data.formats import DEFAULT_BENCHDATA, mathvision_sample, read_jsonl
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.policy.generation.base import SamplingParams
    from mmzppo.policy.generation.hf import HFRollout
    from mmzppo.policy.loading import load_policy
    from mmzppo.prompting.builders import plain
    from mmzppo.teachers.client import ChatClient
    from mmzppo.teachers.served import ServerTeacher
    from mmzppo.tools.models import build_tiny
    from mmzppo.tools.servers import LocalServer, tiny_server_args
    from mmzppo.train.config_files import config_from_dict
    from mmzppo.train.loop import Trainer
    from mmzppo.train.setup import make_backend

    tmp = Path(tempfile.mkdtemp(prefix="bench_vllm_"))
    model_dir = build_tiny(tmp / "s", "s")
    samples = list(generate_suite(["count_color", "arith_chain"], 8, 0, "train", tmp / "media", levels=[1]))
    write_shards(samples, tmp / "train", maxcount=8, progress=False)
    config = config_from_dict(
        dict(
            name="bench",
            output_dir=str(tmp / "runs"),
            student=str(model_dir),
            train_shards=str(tmp / "train"),
            steps=args.steps,
            save_every=0,
            prompts_per_step=4,
            group_size=args.n,
            max_new_tokens=args.new_tokens,
            dtype="float32",
            lr=1e-4,
            teacher_kind="reference",
            rollout_backend="vllm",
            vision=TINY_VISION.to_dict(),
            vllm_kv_cache_gb=0.25,
            vllm_max_model_len=1024,
            vllm_max_images=2,
            log_samples=0,
        )
    )

    # 1. rollout tokens/s
    mv = DEFAULT_BENCHDATA / "vlm/mathvision"
    prompts = [plain(mathvision_sample(r, mv)) for r in islice(read_jsonl(mv / "testmini.jsonl"), args.prompts)]
    sampling = SamplingParams(temperature=1.0, max_new_tokens=args.new_tokens)
    policy = load_policy(model_dir, vision=TINY_VISION, dtype="float32")
    hf = HFRollout(policy, seed=0, min_new_tokens=args.new_tokens)
    start = time.perf_counter()
    vllm = make_backend(config, policy, str(model_dir))  # the engine a vLLM run starts
    vllm.min_new_tokens = args.new_tokens
    engine_start = time.perf_counter() - start
    hf.generate(prompts, args.n, sampling)
    vllm.generate(prompts, args.n, sampling)
    times = {"hf": [], "vllm": []}
    for _ in range(args.repeats):
        times["hf"].append(timed(lambda: hf.generate(prompts, args.n, sampling)))
        times["vllm"].append(timed(lambda: vllm.generate(prompts, args.n, sampling)))
    tokens = args.prompts * args.n * args.new_tokens
    rate = {k: tokens / statistics.median(v) for k, v in times.items()}

    # 2. weight sync within a real step (the trainer re-uses this process's engine)
    trainer = Trainer(config)
    for _ in range(args.steps):
        metrics, _ = trainer.step()
    sync, step = trainer.rollout.last_sync_s, metrics["time/step"]

    # 3. teacher requests/s against a local server
    server = LocalServer(model_dir, free_port(), tmp / "server.log", served_name="tiny", args=tiny_server_args())
    server_start = server.start()
    try:
        text = [s for s in samples if not s.images and not s.video] or [samples[0]]
        questions = [text[i % len(text)] for i in range(args.requests)]
        rps = {}
        for c in (1, args.concurrency):
            client = ChatClient(server.url, "tiny", concurrency=c, timeout=120.0, retries=1)
            teacher = ServerTeacher(client, TINY_VISION, SamplingParams(max_new_tokens=16))
            teacher.answer(questions[:2], 1)  # warm-up
            rps[c] = args.requests / timed(lambda: teacher.answer(questions, 1))
            client.close()
    finally:
        server.kill()

    print(
        f"\ntiny s, {args.prompts} image prompts x {args.n} samples x {args.new_tokens} tokens, {args.repeats} repeats"
    )
    print("| measure | transformers (fp32) | vLLM (bf16) | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| rollout tokens/s | {rate['hf']:.1f} | {rate['vllm']:.1f} | {rate['vllm'] / rate['hf']:.2f}x |")
    print(f"\nengine start (in-process, + first weight load): {engine_start:.1f} s; server start: {server_start:.1f} s")
    print(f"weight sync {sync * 1000:.0f} ms of a {step:.2f} s ZPPO step (vLLM backend): {100 * sync / step:.2f}%")
    print(
        f"teacher requests/s: {rps[1]:.2f} at concurrency 1, {rps[args.concurrency]:.2f} at {args.concurrency} "
        f"({rps[args.concurrency] / rps[1]:.2f}x)"
    )


if __name__ == "__main__":
    main()
