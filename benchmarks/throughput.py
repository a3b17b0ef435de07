"""Every speed ratio of issue 12 in one run, measured side by side in interleaved rounds.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/throughput.py [--quick]
        [--trl-python /work/trl-venv/bin/python] [--json OUT] [--rounds N]

One process holds everything; each round runs every measurement once (the order reversed
every other round), so machine noise falls on all rows alike and every ratio compares two
measurements taken minutes apart at most. Round 0 is a warm-up and is not counted (of the
training steps only GRPO's runs in it: the first step of the process pays for all; a warm-up
of every method would double the run); the numbers are medians over the counted rounds
(default 1: about 10 minutes on a busy 2-core machine; `--rounds 2` about 15). Rows:

  methods   each method's training step / GRPO's (bench_train_step.py's trainers): the
            demo's settings (its configs/demo.yaml: prompts x rollouts, answer length, I and
            micro-batching), tiny `s` student, every answer exactly max_new_tokens long;
  rollout   HFRollout.generate / bare model.generate (bench_rollout.py's pair), MathVision
            image prompts, both forced to the same length;
  loader    ShardReader + encode samples/s with zero DataLoader workers / the prompts/s the
            tiny `s` rollout consumes at 8 x 32 tokens a prompt (bench_loader.py), image and video;
  eval      samples/s of mmzppo.eval's runner on the synthetic test split (greedy, tiny `s`,
            items generated, prompted, decoded and scored), per modality (absolute, no ratio);
  TRL       an mmzppo GRPO step / a TRL GRPOTrainer step on the same tiny `s`, the same text
            prompts token for token (checked), batch, group, completion length (exactly N
            tokens both sides) and updates per generation batch; mmzppo once at the demo's
            micro-batching and once at the run config's defaults (TRL at its default micro-batch
            of 8 sequences both times). TRL runs in its own
            environment (benchmarks/_trl_worker.py as a subprocess of --trl-python, taking one
            step per request so it interleaves with the rest); every setting that differs is
            printed;
  memory    peak resident memory of one ZPPO step of tiny `s` at the demo's settings, in a
            fresh process (bench_train_step.py --memory-only), before anything else runs.

The TRL environment (TRL is not a dependency of mmzppo): see TRL_ENV_HELP in
_throughput_trl.py. The parts: _throughput_setup.py builds what is timed, _throughput_trl.py
is the TRL side, _throughput_report.py the ratios and their report; this script runs the
rounds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench_loader
import bench_train_step
import torch
from _throughput_report import markdown, ratios, report
from _throughput_setup import Bench, build, demo_micro_batching
from _throughput_trl import TRL_ENV_HELP, trl_differences, trl_python_problem

from mmzppo.data.formats import DEFAULT_BENCHDATA

METHODS = ["grpo", "zppo", "hint", "prefix", "distill_off", "distill_on"]

SIZES = {  # --quick and the default
    "quick": dict(
        student="xs",
        tokens=16,
        rounds=1,
        methods=["grpo", "zppo"],
        rollout_prompts=2,
        rollout_n=4,
        rollout_tokens=8,
        loader_limit=20,
        eval_limit=2,
        eval_tokens=16,
        trl_tokens=8,
        memory=False,
        budget=0,
    ),
    "default": dict(
        student="s",
        tokens=None,
        rounds=1,
        methods=METHODS,
        rollout_prompts=4,
        rollout_n=8,
        rollout_tokens=32,
        loader_limit=100,
        eval_limit=8,
        eval_tokens=96,
        trl_tokens=32,
        memory=True,
        budget=2048,
    ),
}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def measure(b: Bench, size: dict, tokens: int, rounds: int) -> tuple[dict[str, list[float]], dict[str, list], float]:
    """The rounds: every unit once a round (the order reversed every other round), round 0 a
    warm-up whose numbers are not kept. Returns the times of every row, the TRL checks and the
    seconds the rounds took; the TRL worker is closed at the end."""
    trainers, text, worker, policy = b.trainers, b.text, b.worker, b.policy
    framework, bare, consume, evals = b.framework, b.bare, b.consume, b.evals
    trl_tokens, mm_ids = b.trl_tokens, b.mm_ids
    times: dict[str, list[float]] = {}
    extra: dict[str, list] = {}

    def record(key: str, value: float, counted: bool) -> None:
        if counted:
            times.setdefault(key, []).append(value)

    def method_step(name):
        def go(counted):
            metrics, _ = trainers[name].step()
            record(f"step/{name}", metrics["time/step"], counted)
            for k in ("rollout", "teacher", "old_logprobs", "update"):
                record(f"phase/{name}/{k}", metrics.get(f"time/{k}", 0.0), counted)
            if name.startswith(("grpo", "zppo")):  # every answer sampled, exactly `tokens` long
                assert metrics["completions/max_length"] == tokens, metrics["completions/max_length"]

        return go

    def text_step(counted):
        metrics, _ = text.step()
        record("trl/mmzppo", metrics["time/step"], counted)
        for k in ("rollout", "old_logprobs", "update"):
            record(f"trl/mmzppo/{k}", metrics.get(f"time/{k}", 0.0), counted)
        lengths = {metrics["completions/mean_length"], metrics["completions/max_length"]}
        assert lengths == {trl_tokens}, lengths

    def text_default_step(counted):
        metrics, _ = b.text_default.step()
        record("trl/mmzppo_default", metrics["time/step"], counted)
        assert metrics["completions/max_length"] == trl_tokens, metrics["completions/max_length"]

    def trl_step(counted):
        r = worker.step()
        record("trl/trl", r["time"], counted)
        record("trl/trl/generate+score", r["generate_s"], counted)
        extra.setdefault("trl_prompt_ids_equal", []).append([tuple(i) for i in r["prompt_ids"]] == mm_ids)
        extra.setdefault("trl_completion_lengths", []).append(r["completion_lengths"])

    def rollout_both(counted):
        record("rollout/framework", timed(framework), counted)
        record("rollout/bare", timed(bare), counted)
        record("rollout/bare", timed(bare), counted)  # ABBA within the round
        record("rollout/framework", timed(framework), counted)

    def loader_both(kind):
        def go(counted):
            record(f"consume/{kind}", 1.0 / timed(consume[kind]), counted)  # before and after the loader
            rate, _ = bench_loader.loader_rate(b.loader_shards[kind], policy.processor, 0, size["loader_limit"])
            record(f"loader/{kind}", rate, counted)
            record(f"consume/{kind}", 1.0 / timed(consume[kind]), counted)

        return go

    def eval_one(kind):
        def go(counted):
            n, seconds = evals[kind]()
            record(f"eval/{kind}", n / seconds, counted)

        return go

    # (unit, runs in the warm-up round): the training steps run once a round and, but for the
    # first GRPO step of the process, are all counted (a step of a new trainer pays nothing
    # that a later one does not; the warm-up round would double their cost)
    units = [(method_step(m), m == "grpo") for m in b.methods]
    units += [(method_step(m), False) for m in b.budget_methods]
    units += [(text_step, False), (text_default_step, False), *([(trl_step, True)] if worker else [])]
    units += [(rollout_both, True)]
    units += [(loader_both("image"), True), (loader_both("video"), True), *((eval_one(k), True) for k in evals)]
    start = time.perf_counter()
    try:
        for r in range(rounds + 1):
            order = units if r % 2 else units[::-1]
            t0 = time.perf_counter()
            for unit, warm in order:
                if r or warm:
                    unit(counted=r > 0)
            label = "warm-up round" if r == 0 else f"round {r}/{rounds}"
            print(f"{label}: {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        if worker:
            worker.close()
    return times, extra, time.perf_counter() - start


def run(args) -> dict:
    size = SIZES["quick" if args.quick else "default"]
    rounds = args.rounds if args.rounds is not None else size["rounds"]
    demo = demo_micro_batching()
    tokens = size["tokens"] or demo["tokens"]
    threads = torch.get_num_threads()
    methods = (
        size["methods"] if args.methods is None else ["grpo", *[m for m in args.methods.split(",") if m != "grpo"]]
    )
    result: dict = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "threads": threads,
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "load_average_at_start": os.getloadavg(),
        "rounds": rounds,
        "demo": demo,
        "student": size["student"],
        "tokens": tokens,
    }
    demo_settings = f"{demo['prompts']} prompts x {demo['group']} rollouts, I={demo['updates']}"
    if demo["prompts"] != 8 or demo["group"] != 8:
        print(f"note: configs/demo.yaml has {demo_settings}; the trainers here use 8 x 8 (bench_train_step)")

    # memory first: a fresh process, before this one grows (bench_train_step.peak_memory)
    if size["memory"] and not args.skip_memory:
        print("peak memory of a tiny s ZPPO step (fresh process) ...", flush=True)
        result["memory"] = bench_train_step.peak_memory("s", tokens, demo["micro"], demo["micro_tokens"])

    trl_problem = trl_python_problem(args.trl_python) if not args.skip_trl else "--skip-trl"
    with tempfile.TemporaryDirectory() as tmp:
        b = build(
            args,
            size,
            demo,
            tokens=tokens,
            methods=methods,
            rounds=rounds,
            threads=threads,
            trl_ok=trl_problem is None,
            tmp=Path(tmp),
        )
        times, extra, result["measure_s"] = measure(b, size, tokens, rounds)
        worker, text, trl_tokens, trl_updates = b.worker, b.text, b.trl_tokens, b.trl_updates
        budget_methods = b.budget_methods
        result["load_average_at_end"] = os.getloadavg()
        result["times"] = times
        result["medians"] = {k: median(v) for k, v in times.items()}
        result["methods"] = methods
        result["budget_methods"] = budget_methods
        result["trl"] = {
            "problem": trl_problem,
            "tokens": trl_tokens,
            "updates": trl_updates,
            "settings": worker.settings if worker else None,
            "prompt_ids_equal": all(extra.get("trl_prompt_ids_equal", [False])),
            "completion_lengths": extra.get("trl_completion_lengths"),
            "differences": trl_differences(text.config, worker.settings if worker else None),
        }
        result["settings"] = {
            "methods": f"tiny {size['student']}, 8 questions x 8 rollouts x exactly {tokens} tokens, I={demo['updates']}, "
            f"micro-batches of {demo['micro']} (token budget {demo['micro_tokens'] or 'off'}), old "
            f"log-probs {demo['old']}",
            "rollout": f"{size['rollout_prompts']} MathVision prompts x {size['rollout_n']} x {size['rollout_tokens']} "
            "tokens, ABBA twice a round",
            "loader": f"{size['loader_limit']} samples, 0 workers; rollout 8 x 32 tokens per prompt",
            "eval": f"synthetic test split, {size['eval_limit']} items per modality, greedy, <= {size['eval_tokens']} "
            "tokens, batch 8",
            "trl": f"8 text prompts x 8 completions x exactly {trl_tokens} tokens, {trl_updates} update(s) per "
            f"generation batch, micro-batches of {demo['micro']}; at defaults: mmzppo micro_batch_size "
            f"{b.text_default.config.micro_batch_size}, micro_batch_tokens {b.text_default.config.micro_batch_tokens} "
            f"(derived), old log-probs {b.text_default.config.old_logprobs}",
        }
    result["ratios"] = ratios(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute): a smoke run, noisy ratios")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="counted rounds after the warm-up (default 1, about 10 minutes; each more adds about 5)",
    )
    parser.add_argument("--methods", default=None, help="methods timed against GRPO (comma-separated; default all)")
    parser.add_argument("--trl-python", default=None, help="python of the TRL environment (" + TRL_ENV_HELP + ")")
    parser.add_argument("--trl-tokens", type=int, default=None, help="completion length of the TRL comparison (32)")
    parser.add_argument("--trl-updates", type=int, default=1, help="optimizer updates per generation batch, both sides")
    parser.add_argument(
        "--budget",
        type=int,
        default=None,
        help="also time GRPO and ZPPO with this micro_batch_tokens (default 2048; quick and 0: off)",
    )
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--benchdata", type=Path, default=DEFAULT_BENCHDATA)
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument(
        "--report", type=Path, default=None, help="print the report of a saved --json file, run nothing"
    )
    args = parser.parse_args()
    res = json.loads(args.report.read_text()) if args.report else run(args)
    report(res)
    if args.markdown:
        print()
        print(markdown(res))
    if args.json and not args.report:
        args.json.write_text(json.dumps(res, indent=1, default=str))
        print(f"numbers written to {args.json}")


if __name__ == "__main__":
    main()
