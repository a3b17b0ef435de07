"""What benchmarks/throughput.py times, built once before its rounds: a trainer per method
(and GRPO and ZPPO again under a token budget per micro-batch), the text-prompt GRPO trainer
and the TRL worker it is compared with, the rollout pair, the loaders with the rollout they
feed, and the eval runners."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import bench_loader
import bench_rollout
import bench_train_step
import torch
from _throughput_trl import TRLWorker, mmzppo_prompt_ids, text_shards

from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.loading import load_policy, suppressed_token_ids
from mmzppo.tools.demo import DEMO
from mmzppo.tools.models import build_tiny
from mmzppo.train.config import Config
from mmzppo.train.config_files import load_config


def demo_micro_batching() -> dict:
    """The demo's settings (the config the demo runs) that the method steps are timed at."""
    demo = load_config(DEMO.config, [])
    return dict(
        micro=demo.micro_batch_size,
        micro_tokens=demo.micro_batch_tokens,
        old=demo.old_logprobs,
        tokens=demo.max_new_tokens,
        prompts=demo.prompts_per_step,
        group=demo.group_size,
        updates=demo.updates_per_step,
    )


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


@dataclasses.dataclass
class Bench:
    """Everything the rounds run (see the module docstring)."""

    methods: list[str]
    budget_methods: list[str]  # "grpo@B", "zppo@B": the same under micro_batch_tokens=B
    trainers: dict[str, Any]  # method (or budget method) -> Trainer
    text: Any  # the text-prompt GRPO Trainer of the TRL comparison
    text_default: Any  # the same at mmzppo's default micro-batching and old log-probs
    trl_tokens: int
    trl_updates: int
    mm_ids: list[tuple[int, ...]]  # its prompts' token ids, sorted (TRL must get the same)
    worker: TRLWorker | None  # None: the TRL side does not run
    policy: Any
    framework: Any  # HFRollout.generate of the rollout pair
    bare: Any  # bare model.generate of the rollout pair
    loader_shards: dict[str, Path]
    consume: dict[str, Any]  # kind -> one rollout of a loaded sample
    evals: dict[str, Any]  # modality -> eval runner


def build(
    args, size: dict, demo: dict, *, tokens: int, methods: list[str], rounds: int, threads: int, trl_ok: bool, tmp: Path
) -> Bench:
    """Build every model, shard set, trainer and runner the rounds time, under `tmp` (`args`:
    the command line; `size`: its SIZES entry; `demo`: `demo_micro_batching()`); the TRL
    worker, at `threads` torch threads, only when `trl_ok`."""
    torch.manual_seed(0)
    print("building models, shards and trainers ...", flush=True)
    student = build_tiny(tmp / "student", size["student"])
    teacher = (
        build_tiny(tmp / "teacher", size["student"], seed=1) if any(m.startswith("distill") for m in methods) else None
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
    budget_methods = [f"{m}@{budget}" for m in ("grpo", "zppo")] if budget and budget != demo["micro_tokens"] else []
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
    # ... and at the run config's defaults (micro_batch_size, the derived micro_batch_tokens,
    # old_logprobs): what a user gets who sets nothing (TRL's side runs at its default micro-batch, 8)
    defaults = {f.name: f.default for f in dataclasses.fields(Config)}
    text_default = bench_train_step.trainer(
        student,
        tshards,
        tmp,
        "grpo_text_default",
        trl_tokens,
        "grpo",
        micro=defaults["micro_batch_size"],
        micro_tokens="null" if defaults["micro_batch_tokens"] is None else defaults["micro_batch_tokens"],
        old=defaults["old_logprobs"],
        updates=trl_updates,
    )
    prompts, mm_ids = mmzppo_prompt_ids(text.student, tshards)
    c = text.config
    worker = None
    if trl_ok:
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
    return Bench(
        methods=methods,
        budget_methods=budget_methods,
        trainers=trainers,
        text=text,
        text_default=text_default,
        trl_tokens=trl_tokens,
        trl_updates=trl_updates,
        mm_ids=mm_ids,
        worker=worker,
        policy=policy,
        framework=framework,
        bare=bare,
        loader_shards=loader_shards,
        consume=consume,
        evals=evals,
    )
