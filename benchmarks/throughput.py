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
            demo's settings (configs/demo.yaml: its prompts x rollouts, answer length, I and
            micro-batching), tiny `s` student, every answer exactly max_new_tokens long;
  rollout   HFRollout.generate / bare model.generate (bench_rollout.py's pair), MathVision
            image prompts, both forced to the same length;
  loader    ShardReader + encode samples/s with zero DataLoader workers / the prompts/s the
            tiny `s` rollout consumes at 8 x 32 tokens a prompt (bench_loader.py), image and video;
  eval      samples/s of mmzppo.eval's runner on the synthetic test split (greedy, tiny `s`,
            items generated, prompted, decoded and scored), per modality (absolute, no ratio);
  TRL       an mmzppo GRPO step / a TRL GRPOTrainer step on the same tiny `s`, the same text
            prompts token for token (checked), batch, group, completion length (exactly N
            tokens both sides) and updates per generation batch. TRL runs in its own
            environment (benchmarks/_trl_worker.py as a subprocess of --trl-python, taking one
            step per request so it interleaves with the rest); every setting that differs is
            printed;
  memory    peak resident memory of one ZPPO step of tiny `s` at the demo's settings, in a
            fresh process (bench_train_step.py --memory-only), before anything else runs.

The TRL environment (TRL is not a dependency of mmzppo): see TRL_ENV_HELP below.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_loader
import bench_rollout
import bench_train_step
import torch

from mmzppo.data.formats import DEFAULT_BENCHDATA
from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.loading import load_policy, suppressed_token_ids
from mmzppo.tools.models import build_tiny
from mmzppo.train.config_files import load_config

REPO = Path(__file__).resolve().parents[1]
TRL_WORKER = Path(__file__).with_name("_trl_worker.py")
TRL_ENV_HELP = (
    "python3 -m venv /work/trl-venv && /work/trl-venv/bin/pip install trl==1.16.0 torch==2.13.0 "
    "transformers==5.19.0 accelerate==1.15.0 && /work/trl-venv/bin/pip uninstall -y torchvision "
    "(TRL pulls a torchvision that does not load beside CPU torch; text prompts need none), then "
    "--trl-python /work/trl-venv/bin/python"
)
METHODS = ["grpo", "zppo", "hint", "prefix", "distill_off", "distill_on"]
TEXT_TASKS = ["arith_chain", "word_problem", "choose_option"]

# Targets of issue 12 (ratio, direction).
TARGETS = {
    "zppo_over_grpo": (1.3, "<="),
    "mmzppo_over_trl": (0.8, "<="),
    "rollout_over_bare": (1.10, "<="),
    "video_loader_over_rollout": (10.0, ">="),
    "peak_memory_gb": (1.0, "<"),
}

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


# --------------------------------------------------------------------------- TRL side


class TRLWorker:
    """benchmarks/_trl_worker.py in the TRL environment: one GRPOTrainer step per `step()`."""

    def __init__(self, python: str, spec: dict, folder: Path):
        path = folder / "trl_spec.json"
        path.write_text(json.dumps(spec))
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(spec["threads"]),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "TOKENIZERS_PARALLELISM": "false",
        }
        env.pop("PYTHONPATH", None)  # nothing of mmzppo's environment leaks in
        self.log = open(folder / "trl_worker.log", "w")
        self.proc = subprocess.Popen(
            [python, str(TRL_WORKER), str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.settings = self._read()["ready"]

    def _read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.log.flush()
                tail = Path(self.log.name).read_text()[-3000:]
                raise RuntimeError(f"the TRL worker stopped (exit {self.proc.poll()}):\n{tail}")
            if line.startswith("{"):
                return json.loads(line)

    def step(self) -> dict:
        self.proc.stdin.write("step\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("stop\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def trl_python_problem(python: str | None) -> str | None:
    """Why the TRL side cannot run (None: it can)."""
    if not python:
        return "no --trl-python given"
    if not Path(python).exists():
        return f"{python} does not exist"
    r = subprocess.run(
        [python, "-c", "import trl, transformers; from trl import GRPOTrainer"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    if r.returncode:
        return f"{python} cannot import trl ({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else 'error'})"
    return None


def text_shards(root: Path) -> Path:
    """8 synthetic text questions (arithmetic, word problems, options), one shard."""
    from itertools import islice

    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite

    write_shards(
        islice(generate_suite(TEXT_TASKS, 3, 0, "train", None, levels=[2]), 8), root, maxcount=100, progress=False
    )
    return root


def mmzppo_prompt_ids(policy, shards: Path) -> tuple[list[str], list[tuple[int, ...]]]:
    """The exact chat-templated prompt strings the trainer renders for these questions, and
    the token ids its encoder gives them."""
    from mmzppo.data.shards import ShardReader
    from mmzppo.policy.encoding import chat_text, encode_prompts
    from mmzppo.prompting.builders import plain

    samples = list(ShardReader(shards, vision=TINY_VISION))
    texts = [chat_text(policy.processor, plain(s), policy.vision) for s in samples]
    encoded = encode_prompts(policy.processor, policy.vision, [plain(s) for s in samples])
    ids = [tuple(e.inputs["input_ids"][0].tolist()) for e in encoded]
    return texts, sorted(ids)


# --------------------------------------------------------------------------- eval


def eval_runner(student: Path, limit: int, tokens: int, media_root: Path):
    """{modality: callable returning (items, seconds)}: mmzppo.eval's runner on the synthetic
    test split, greedy, with a model loaded once."""
    from mmzppo.eval.runner import EvalConfig, Generator, evaluate_benchmark, load_model, run_settings
    from mmzppo.eval.suites import load_benchmarks, locate, select

    cfg = EvalConfig(
        model=str(student),
        suite="synthetic",
        limit=limit,
        greedy=True,
        max_new_tokens=tokens,
        vision=TINY_VISION,
        dtype="float32",
        progress=False,
    )
    policy = load_model(cfg)
    settings = run_settings(cfg, policy)
    out = {}
    for bench in select(load_benchmarks(), "synthetic"):

        def run(bench=bench):
            start = time.perf_counter()
            result = evaluate_benchmark(
                bench, locate(bench, None), cfg, lambda: Generator(policy, cfg), settings, media_root
            )
            return result["n"], time.perf_counter() - start

        out[bench.name.removeprefix("synthetic_")] = run
    return out


# --------------------------------------------------------------------------- the run


def demo_micro_batching() -> dict:
    demo = load_config(REPO / "configs/demo.yaml", [])
    return dict(
        micro=demo.micro_batch_size,
        micro_tokens=demo.micro_batch_tokens,
        old=demo.old_logprobs,
        tokens=demo.max_new_tokens,
        prompts=demo.prompts_per_step,
        group=demo.group_size,
        updates=demo.updates_per_step,
    )


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


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
        tmp = Path(tmp)
        torch.manual_seed(0)
        print("building models, shards and trainers ...", flush=True)
        student = build_tiny(tmp / "student", size["student"])
        teacher = (
            build_tiny(tmp / "teacher", size["student"], seed=1)
            if any(m.startswith("distill") for m in methods)
            else None
        )
        shards = bench_train_step.make_shards(tmp / "data")
        trainers = {
            m: bench_train_step.trainer(
                student,
                shards,
                tmp,
                m,
                tokens,
                m,
                micro=demo["micro"],
                teacher=teacher if m.startswith("distill") else None,
                micro_tokens=demo["micro_tokens"],
                old=demo["old"],
                updates=demo["updates"],
            )
            for m in methods
        }
        # the same GRPO and ZPPO under a padded-token budget per micro-batch (micro_batch_tokens)
        budget = size["budget"] if args.budget is None else args.budget
        budget_methods = (
            [f"{m}@{budget}" for m in ("grpo", "zppo")] if budget and budget != demo["micro_tokens"] else []
        )
        for name in budget_methods:
            m = name.split("@")[0]
            trainers[name] = bench_train_step.trainer(
                student,
                shards,
                tmp,
                name.replace("@", "-"),
                tokens,
                m,
                micro=demo["micro"],
                micro_tokens=budget,
                old=demo["old"],
                updates=demo["updates"],
            )

        # TRL comparison: text prompts, one update per generation batch, micro-batches of the demo's size
        trl_tokens, trl_updates = args.trl_tokens or size["trl_tokens"], args.trl_updates
        tshards = text_shards(tmp / "text")
        text = bench_train_step.trainer(
            student,
            tshards,
            tmp,
            "grpo_text",
            trl_tokens,
            "grpo",
            micro=demo["micro"],
            micro_tokens=demo["micro_tokens"],
            old=demo["old"],
            updates=trl_updates,
        )
        prompts, mm_ids = mmzppo_prompt_ids(text.student, tshards)
        c = text.config
        worker = None
        if trl_problem is None:
            spec = dict(
                model=str(student),
                prompts=prompts,
                tokens=trl_tokens,
                group_size=c.group_size,
                micro_batch_size=c.micro_batch_size,
                updates=trl_updates,
                steps=rounds + 1,
                lr=c.lr,
                weight_decay=c.weight_decay,
                betas=list(c.betas),
                grad_clip=c.grad_clip,
                eps_low=c.eps_low,
                eps_high=c.eps_high,
                suppress_tokens=suppressed_token_ids(text.student.tokenizer),
                seed=c.seed,
                threads=threads,
            )
            print("starting the TRL worker ...", flush=True)
            worker = TRLWorker(args.trl_python, spec, tmp)

        # rollout pair, loader, eval
        policy = load_policy(student, vision=TINY_VISION)
        rollout_prompts = bench_rollout.mathvision_prompts(args.benchdata, size["rollout_prompts"])
        framework, bare = bench_rollout.rollout_pair(policy, rollout_prompts, size["rollout_n"], size["rollout_tokens"])
        from mmzppo.data.shards import ShardReader

        loader_shards = bench_loader.make_shards(args.benchdata, tmp / "loader")
        consume = {
            kind: bench_loader.rollout_generate(policy, next(iter(ShardReader(s, vision=TINY_VISION))))
            for kind, s in loader_shards.items()
        }
        evals = eval_runner(student, size["eval_limit"], size["eval_tokens"], tmp / "eval_media")

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
                rate, _ = bench_loader.loader_rate(loader_shards[kind], policy.processor, 0, size["loader_limit"])
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
        units = [(method_step(m), m == "grpo") for m in methods]
        units += [(method_step(m), False) for m in budget_methods]
        units += [(text_step, False), *([(trl_step, True)] if worker else []), (rollout_both, True)]
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
        result["measure_s"] = time.perf_counter() - start
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
            f"generation batch, micro-batches of {demo['micro']}",
        }
    result["ratios"] = ratios(result)
    return result


def trl_differences(config, trl: dict | None) -> list[str]:
    """Every setting that differs between the mmzppo and the TRL side (same otherwise: model,
    prompts token for token, batch, group, exact completion length, updates, micro-batch size,
    fp32, threads, AdamW lr/betas/weight decay, grad clip, clip range 0.2/0.28, no KL)."""
    out = [
        f"loss: mmzppo's token-level clip-higher PPO with dual-clip c={config.dual_clip} and its advantage "
        f"normalisation ({config.adv_norm}); TRL's {trl['loss_type'] if trl else 'dapo'} loss, advantages scaled "
        f"per {trl['scale_rewards'] if trl else 'group'}, no dual clip",
        "reward: mmzppo grades each answer against the gold (mmzppo.grading.grader); TRL gets a trivial function of the "
        "text (it cannot import mmzppo), both negligible next to a step",
        "old log-probs: mmzppo takes the sampler's recorded log-probs (old_logprobs auto); TRL needs none when "
        "the update follows its own generation (it detaches the current ones)"
        + (
            "; here it recomputes them in an extra pass (several updates per generation)"
            if trl and trl.get("old_logprobs_pass")
            else ""
        ),
        "what the step time covers: mmzppo's Trainer.step (data, rollout, grading, advantages, updates, metrics); "
        "TRL from on_step_begin to on_step_end of the generation batch's updates (its logging after is left out)",
        "sampling: both temperature 1, top-p 1, top-k off, the same vision tokens suppressed, EOS forbidden "
        "before the length (mmzppo: HFRollout min_new_tokens; TRL: generation_kwargs min_new_tokens)",
    ]
    return out


def ratios(res: dict) -> dict:
    m = res["medians"]
    out: dict = {}
    g = m.get("step/grpo")
    for name in res["methods"]:
        out[f"{name}_over_grpo"] = m[f"step/{name}"] / g
    if res.get("budget_methods"):
        g_budget, z_budget = res["budget_methods"]
        out["zppo_over_grpo_budget"] = m[f"step/{z_budget}"] / m[f"step/{g_budget}"]
        out["grpo_budget_over_grpo"] = m[f"step/{g_budget}"] / g
    if "trl/trl" in m:
        out["mmzppo_over_trl"] = m["trl/mmzppo"] / m["trl/trl"]
    out["rollout_over_bare"] = m["rollout/framework"] / m["rollout/bare"]
    for kind in ("image", "video"):
        out[f"{kind}_loader_over_rollout"] = m[f"loader/{kind}"] / m[f"consume/{kind}"]
    if "memory" in res:
        out["peak_memory_gb"] = res["memory"]["peak_mb"] / 1024
    return out


def verdict(key: str, value: float | None) -> str:
    if key not in TARGETS or value is None:
        return ""
    target, direction = TARGETS[key]
    ok = {"<=": value <= target, ">=": value >= target, "<": value < target}[direction]
    return f"{direction} {target:g}  {'met' if ok else 'MISSED'}"


# Earlier measurements (README, issue 12), each by its own script and at its own settings.
BEFORE = {
    "zppo_over_grpo": "5.14 (64 tokens, old log-probs recomputed)",
    "zppo_over_grpo_budget": "2.55 (64 tokens)",
    "mmzppo_over_trl": "1.55 (old log-probs recomputed)",
    "rollout_over_bare": "1.11",
    "video_loader_over_rollout": "9.9 (2 threads)",
    "image_loader_over_rollout": "63.3 (2 threads)",
    "peak_memory_gb": "4.5 (64 tokens; 1.25 with a 2,048-token budget)",
}


def table(res: dict) -> list[tuple[str, str, str, str]]:
    """(row, value, target, earlier measurement) for every ratio."""
    r, m = res["ratios"], res["medians"]
    rows = []
    for name in res["methods"][1:]:
        key = f"{name}_over_grpo"
        rows.append((f"{name} step / GRPO step", f"{r[key]:.2f}", verdict(key, r[key]), BEFORE.get(key, "")))
    if res.get("budget_methods"):
        budget = res["budget_methods"][0].split("@")[1]
        rows.append(
            (
                f"zppo step / GRPO step, both with micro_batch_tokens={budget}",
                f"{r['zppo_over_grpo_budget']:.2f}",
                verdict("zppo_over_grpo", r["zppo_over_grpo_budget"]),
                BEFORE["zppo_over_grpo_budget"],
            )
        )
        rows.append(
            (f"GRPO step with micro_batch_tokens={budget} / without", f"{r['grpo_budget_over_grpo']:.2f}", "", "")
        )
    if "mmzppo_over_trl" in r:
        rows.append(
            (
                "mmzppo GRPO step / TRL GRPOTrainer step",
                f"{r['mmzppo_over_trl']:.2f}",
                verdict("mmzppo_over_trl", r["mmzppo_over_trl"]),
                BEFORE["mmzppo_over_trl"],
            )
        )
    else:
        rows.append(
            (
                "mmzppo GRPO step / TRL GRPOTrainer step",
                f"skipped: TRL env not found ({res['trl']['problem']}; how to make it: {TRL_ENV_HELP})",
                verdict("mmzppo_over_trl", None),
                BEFORE["mmzppo_over_trl"],
            )
        )
    rows.append(
        (
            "HFRollout.generate / bare model.generate",
            f"{r['rollout_over_bare']:.3f}",
            verdict("rollout_over_bare", r["rollout_over_bare"]),
            BEFORE["rollout_over_bare"],
        )
    )
    for kind in ("image", "video"):
        key = f"{kind}_loader_over_rollout"
        rows.append(
            (
                f"{kind} loader samples/s (0 workers) / rollout consumption",
                f"{r[key]:.1f} ({m[f'loader/{kind}']:.1f} / {m[f'consume/{kind}']:.2f})",
                verdict(key, r[key]),
                BEFORE.get(key, ""),
            )
        )
    for kind in ("image", "video", "text"):
        if f"eval/{kind}" in m:
            rows.append((f"eval samples/s, synthetic {kind} (absolute)", f"{m[f'eval/{kind}']:.2f}", "", ""))
    if "peak_memory_gb" in r:
        mem = res["memory"]
        rows.append(
            (
                "peak memory of a tiny s ZPPO step",
                f"{r['peak_memory_gb']:.2f} GB ({mem['step_added_mb']:.0f} MB above the loaded model)",
                verdict("peak_memory_gb", r["peak_memory_gb"]),
                BEFORE["peak_memory_gb"],
            )
        )
    return rows


def report(res: dict) -> None:
    m = res["medians"]
    print()
    print(
        f"throughput, {res['date']}, torch threads {res['threads']}, {res['machine']}, load average "
        f"{res['load_average_at_start'][0]:.2f} at start / {res['load_average_at_end'][0]:.2f} at end, "
        f"{res['rounds']} counted round(s) after a warm-up, {res['measure_s']:.0f} s of rounds"
    )
    for k, v in res["settings"].items():
        print(f"  {k}: {v}")
    print("step times (median s):")
    for name in res["methods"] + res.get("budget_methods", []):
        phases = ", ".join(
            f"{k} {m[f'phase/{name}/{k}']:.2f}" for k in ("rollout", "teacher", "old_logprobs", "update")
        )
        print(f"  {name:12s} {m[f'step/{name}']:7.2f}  ({phases})")
    mm = (
        f"  mmzppo GRPO (text) {m['trl/mmzppo']:.2f}  (rollout {m['trl/mmzppo/rollout']:.2f}, old_logprobs "
        f"{m['trl/mmzppo/old_logprobs']:.2f}, update {m['trl/mmzppo/update']:.2f})"
    )
    print(mm)
    t = res["trl"]
    if "trl/trl" in m:
        print(
            f"  TRL GRPOTrainer    {m['trl/trl']:.2f}  (generate + score {m['trl/trl/generate+score']:.2f}; "
            f"TRL {t['settings']['trl']}, transformers {t['settings']['transformers']}, torch "
            f"{t['settings']['torch']}, {t['settings']['threads']} thread(s))"
        )
        print(
            f"  prompts token for token: {'identical' if t['prompt_ids_equal'] else 'DIFFERENT'}; TRL completion "
            f"lengths {sorted({n for ls in t['completion_lengths'] for n in ls})}"
        )
        print("  what differs between the two sides:")
        for d in t["differences"]:
            print(f"    - {d}")
    print(f"  rollout: framework {m['rollout/framework']:.3f} s, bare {m['rollout/bare']:.3f} s")
    print()
    rows = table(res)
    widths = [max(len(r[i]) for r in rows + [("ratio", "value", "target", "earlier")]) for i in range(4)]
    widths[1] = min(widths[1], 40)
    head = ("ratio", "value", "target", "earlier")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def markdown(res: dict) -> str:
    """The table as Markdown (for the README)."""
    lines = ["| ratio | this run | target | earlier |", "|---|---:|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table(res)]
    return "\n".join(lines)


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
