"""Running an evaluation: items -> prompts -> batched generation -> per-sample log -> scores.

The output files (per-sample logs, results, summary) and `rescore` are in `results`.

Resume (`--resume`): a benchmark whose result was written with the same settings and limit
is skipped; otherwise the lines of its per-sample log whose `settings_sha` matches are kept
(a cut-off last line is dropped) and generation continues with the items not yet in it.
Everything that moves a score is in `settings` and is hashed into `settings_sha`.

Decoding: the paper's evaluation settings (temperature 0.6, top-p 0.95, top-k 20, presence
penalty 1.5, one sample per question) unless `greedy`. Greedy items are generated in batches;
a batch whose media cannot be read is retried item by item, so one bad file fails one item.
Sampled items are generated one per call, each under its own torch seed derived from the run
seed and the item's uid (`item_seed`), so an item draws the same response whichever batch,
resume or process it lands in (sampling a batch uses one random stream for all its rows, so
a batched draw would depend on its neighbours). This costs the batching of sampled runs; a
backend that samples each row from its own generator would give it back.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from mmzppo.data.sample import Sample
from mmzppo.data.vision import VisionSettings
from mmzppo.eval.loaders import Failed, load_items
from mmzppo.eval.metrics import Judge, rule_score
from mmzppo.eval.results import (
    base_record,
    finalize,
    judge_cell,
    missing_entry,
    read_samples,
    summarize,
    summary_entry,
    write_json,
    write_jsonl,
    write_summary,
)
from mmzppo.eval.suites import Benchmark, load_benchmarks, locate, select
from mmzppo.policy.generation.base import SamplingParams
from mmzppo.prompting.builders import PROMPT_TEMPLATES, Prompt, plain

# The paper's evaluation decoding (App. B.2); the response budget is the training one
# (12,288 tokens), since the paper does not state an evaluation budget.
EVAL_SAMPLING = SamplingParams(temperature=0.6, top_p=0.95, top_k=20, presence_penalty=1.5, max_new_tokens=12_288)


@dataclass
class EvalConfig:
    """One evaluation run (the CLI's flags)."""

    model: str  # hub id or local folder, loaded with mmzppo.policy.loading.load_policy
    data_root: Path | None = None  # benchmark folders: <root>/<path> or <root>/<suite>/<path>
    output: Path | None = None  # results folder (None: print only)
    suite: str = "all"  # vlm | llm | video | synthetic | all
    tasks: list[str] | None = None  # narrow the suite to these benchmark names
    limit: int | None = None  # first N items of each benchmark
    resume: bool = False
    backend: str = "hf"  # hf (transformers generate); vllm is refused (not implemented)
    max_new_tokens: int = EVAL_SAMPLING.max_new_tokens
    batch_size: int = 8  # sequences per generate call
    greedy: bool = False  # temperature 0 instead of the paper's sampling
    seed: int = 0  # sampled decoding: item u samples under item_seed(seed, u)
    vision: VisionSettings = field(default_factory=VisionSettings)  # paper eval budgets by default
    dtype: str | None = None  # None: bfloat16 on CUDA, float32 on CPU
    device: str | None = None  # None: cuda if available, else cpu
    revision: str | None = None
    judge: Judge | None = None
    progress: bool | None = None  # tqdm bars (None: only on a terminal)

    @property
    def sampling(self) -> SamplingParams:
        if self.greedy:
            return SamplingParams(
                temperature=0.0, top_p=1.0, top_k=0, presence_penalty=0.0, max_new_tokens=self.max_new_tokens
            )
        return SamplingParams(**{**asdict(EVAL_SAMPLING), "max_new_tokens": self.max_new_tokens})


# --------------------------------------------------------------------------- settings


def sha256_file(path: str | Path) -> str:
    """A 16-hex-digit SHA-256 prefix of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def short_hash(obj: Any) -> str:
    """A 16-hex-digit SHA-256 prefix of a JSON-able object (`settings_sha` of the settings)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_settings(cfg: EvalConfig, policy) -> dict[str, Any]:
    """Everything that moves a score (the limit is kept per benchmark result instead)."""
    chat_template = getattr(policy.processor, "chat_template", None) or getattr(policy.tokenizer, "chat_template", None)
    return {
        "model": policy.name_or_path,
        "revision": cfg.revision,
        "model_commit": getattr(policy.model.config, "_commit_hash", None),
        "dtype": str(next(policy.model.parameters()).dtype).removeprefix("torch."),
        "backend": cfg.backend,
        "decoding": {**asdict(cfg.sampling), "greedy": cfg.greedy, "seed": cfg.seed, "seeding": "per item", "n": 1},
        "vision": policy.vision.to_dict() if policy.vision is not None else None,
        "prompt_template_sha256": sha256_file(PROMPT_TEMPLATES),
        "chat_template_sha256": hashlib.sha256(str(chat_template).encode()).hexdigest()[:16],
    }


# --------------------------------------------------------------------------- prompts and generation


def conversation_prompt(sample: Sample) -> Prompt:
    """MultiChallenge: the conversation as it stands; the model writes the next assistant turn
    (no closer: the answer is free text for the judge, not a boxed value)."""
    messages = [
        {"role": t["role"], "content": [{"type": "text", "text": t["content"]}]} for t in sample.meta["conversation"]
    ]
    return Prompt(sample.uid, "plain", messages, sample=sample)


# prompt builders other than mmzppo.prompting.builders.plain (the YAML's `prompt`)
PROMPTS: dict[str, Callable[[Sample], Prompt]] = {"conversation": conversation_prompt}


def build_prompt(bench: Benchmark, sample: Sample) -> Prompt:
    """The benchmark's prompt for one item: the training closer (`plain`) unless the YAML names another."""
    return plain(sample) if bench.prompt == "plain" else PROMPTS[bench.prompt](sample)


def item_seed(seed: int, uid: str) -> int:
    """The torch seed item `uid` samples under: a function of the run seed and the uid only."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{uid}".encode()).digest()[:8], "little") >> 1


class Generator:
    """Generation with per-item fallback for unreadable media: greedy in batches, sampled one
    item per call under its own seed (see the module docstring)."""

    def __init__(self, policy, cfg: EvalConfig):
        from mmzppo.policy.generation.hf import HFRollout

        self.rollout = HFRollout(policy, batch_size=cfg.batch_size, seed=cfg.seed if cfg.greedy else None)
        self.sampling, self.seed = cfg.sampling, cfg.seed

    def _rng(self, prompts: list):
        import contextlib

        from mmzppo.policy.generation.hf import seeded_rng

        if self.sampling.temperature <= 0:
            return contextlib.nullcontext()
        device = next(self.rollout.policy.model.parameters()).device
        return seeded_rng(item_seed(self.seed, prompts[0].uid), device)

    def run(self, prompts: list) -> list[tuple[Any, str | None, str | None]]:
        """(completion, None, None) or (None, error, short reason) per prompt."""
        if self.sampling.temperature > 0 and len(prompts) > 1:
            return [out for prompt in prompts for out in self.run([prompt])]
        try:
            with self._rng(prompts):
                return [(group[0], None, None) for group in self.rollout.generate(prompts, 1, self.sampling)]
        except ValueError as e:  # MediaError / SampleError (and processor ValueErrors): find the bad item
            if len(prompts) == 1:
                problem = str(getattr(e, "problem", e)).split(":")[0]
                return [(None, f"{type(e).__name__}: {e}", f"{type(e).__name__}: {problem}"[:100])]
        return [out for prompt in prompts for out in self.run([prompt])]


# --------------------------------------------------------------------------- one benchmark


def evaluate_benchmark(
    bench: Benchmark, folder: Path, cfg: EvalConfig, generator_factory, settings: dict, media_root: Path
) -> dict[str, Any]:
    """Generate, log and score one benchmark; returns its result (also written to <bench>.json)."""
    from tqdm import tqdm

    settings_sha = short_hash(settings)
    out = cfg.output
    samples_path = out / f"{bench.name}.samples.jsonl" if out else None
    result_path = out / f"{bench.name}.json" if out else None
    if out and cfg.resume and result_path.is_file():
        previous = json.loads(result_path.read_text())
        same = previous.get("settings_sha") == settings_sha and previous.get("limit") == cfg.limit
        judge_now = bench.judge and cfg.judge is not None and not previous.get("judged")
        if same and not judge_now:  # (a judge given now re-scores the saved samples below)
            print(f"{bench.name}: finished earlier, skipped (--resume)", file=sys.stderr)
            return previous
    items = list(islice(load_items(bench, folder, media_root / bench.name), cfg.limit))
    done: dict[str, dict] = {}
    if samples_path is not None:
        if cfg.resume:
            wanted = {it.uid for it in items}
            done = {u: r for u, r in read_samples(samples_path, settings_sha).items() if u in wanted}
        write_jsonl(samples_path, list(done.values()))  # without --resume: start the log afresh
    log = open(samples_path, "a", encoding="utf-8") if samples_path else None

    def finish(record: dict) -> None:
        score, parsed, reason = rule_score(record, bench)
        record.update(parsed=parsed, score=score, correct=None if score is None else score >= 1.0, reason=reason)
        done[record["uid"]] = record
        if log:
            log.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            log.flush()

    pending = [(i, it) for i, it in enumerate(items) if it.uid not in done]
    bar = tqdm(
        total=len(items),
        initial=len(items) - len(pending),
        desc=bench.name,
        unit="item",
        disable=None if cfg.progress is None else not cfg.progress,
    )
    try:
        for i, it in [(i, it) for i, it in pending if isinstance(it, Failed)]:
            finish(
                {**base_record(it, bench, i, settings_sha), "response": None, "error": it.reason, "failure": it.failure}
            )
            bar.update(1)
        todo = [(i, it) for i, it in pending if isinstance(it, Sample)]
        generator = generator_factory() if todo else None
        for start in range(0, len(todo), cfg.batch_size):
            chunk = todo[start : start + cfg.batch_size]
            prompts = [build_prompt(bench, s) for _, s in chunk]
            for (i, s), prompt, (completion, error, failure) in zip(chunk, prompts, generator.run(prompts)):
                record = {**base_record(s, bench, i, settings_sha), "prompt": prompt.text}
                if completion is None:
                    record.update(response=None, error=error, failure=failure)
                else:
                    record.update(
                        response=completion.text,
                        finished=completion.finished,
                        n_tokens=len(completion.token_ids),
                        error=None,
                    )
                finish(record)
                bar.update(1)
    finally:
        bar.close()
        if log:
            log.close()
    records = [done[it.uid] for it in items]
    result = finalize(bench, records, cfg.judge, settings, settings_sha, cfg.limit, folder, samples_path)
    if result_path:
        write_json(result_path, result)
    return result


# --------------------------------------------------------------------------- the run


def load_model(cfg: EvalConfig):
    """The policy to evaluate, on the configured device and dtype (CUDA: bfloat16, CPU: float32)."""
    import torch

    from mmzppo.policy.loading import load_policy

    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = cfg.dtype or ("bfloat16" if str(device).startswith("cuda") else "float32")
    return load_policy(cfg.model, dtype=dtype, vision=cfg.vision, device=device, revision=cfg.revision)


def evaluate(cfg: EvalConfig, benchmarks: dict[str, Benchmark] | None = None) -> dict[str, Any]:
    """Evaluate the selected benchmarks; returns the summary (also written and printed)."""
    if cfg.backend == "vllm":
        raise NotImplementedError("the vLLM evaluation backend is not implemented; use --backend hf")
    if cfg.backend != "hf":
        raise ValueError(f"unknown backend {cfg.backend!r}; use hf")
    chosen = select(benchmarks or load_benchmarks(), cfg.suite, cfg.tasks)
    found = {b.name: locate(b, cfg.data_root) for b in chosen}
    if cfg.output is not None:
        cfg.output.mkdir(parents=True, exist_ok=True)
    policy = settings = None
    if any(found.values()):
        policy = load_model(cfg)
        settings = run_settings(cfg, policy)
        if cfg.output is not None:
            write_json(
                cfg.output / "run.json",
                {
                    "settings": settings,
                    "settings_sha": short_hash(settings),
                    "batch_size": cfg.batch_size,
                    "argv": sys.argv[1:],
                },
            )
    scratch = None
    if cfg.output is not None:
        media_root = cfg.output / "media"
    else:
        scratch = tempfile.TemporaryDirectory(prefix="mmzppo-eval-")
        media_root = Path(scratch.name)
    entries = []
    try:
        for bench in chosen:
            if found[bench.name] is None:
                entries.append(missing_entry(bench, cfg.data_root))
                continue
            result = evaluate_benchmark(
                bench, found[bench.name], cfg, lambda: Generator(policy, cfg), settings, media_root
            )
            entries.append(summary_entry(result))
            score = "-" if result["score"] is None else f"{result['score']:.1f}"
            print(
                f"{bench.name}: {score} (n={result['n']}, failed={result['n_failed']}, {judge_cell(result)})",
                file=sys.stderr,
            )
    finally:
        if scratch is not None:
            scratch.cleanup()
    summary = summarize(entries, settings)
    print(write_summary(summary, cfg.output))
    return summary
