"""Running an evaluation: items -> prompts -> batched generation -> per-sample log -> scores.

The output files (per-sample logs, results, summary) and `rescore` are in `results`; the model
and the generation backends (transformers or an in-process vLLM engine) in `generation`.

Resume (`--resume`): a benchmark whose result was written with the same settings and limit
is skipped; otherwise the lines of its per-sample log whose `settings_sha` matches are kept
(a cut-off last line is dropped) and generation continues with the items not yet in it.
Everything that moves a score is in `settings` and is hashed into `settings_sha`: the model,
the backend and its dtype, every decoding setting, every media setting, the templates.

Decoding: the paper's evaluation settings (temperature 0.6, top-p 0.95, top-k 20, presence
penalty 1.5, 12,288 new tokens, one sample per question) unless `greedy`; `preset="paper"`
(`--preset paper`) holds them, and the paper's image pixel range, fixed: a run that changes
one of them is refused, so a result labelled with the preset was decoded under it. Items are
generated in batches of `batch_size`, greedy or sampled: a sampled item draws under its own
seed (`generation.item_seed`), so it gets the same response whichever batch, resume or process
it lands in.
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
from mmzppo.eval.generation import Generator, item_seed, load_model  # noqa: F401  (item_seed: re-exported)
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
from mmzppo.policy.generation.vllm import VLLMSettings
from mmzppo.prompting.builders import PROMPT_TEMPLATES, Prompt, plain

# The paper's evaluation decoding (App. B.2); the response budget is the training one
# (12,288 tokens), since the paper does not state an evaluation budget.
EVAL_SAMPLING = SamplingParams(temperature=0.6, top_p=0.95, top_k=20, presence_penalty=1.5, max_new_tokens=12_288)
# `--preset paper` (zppo-spec.md section 7): the decoding above and these VisionSettings fields,
# the image pixel range (the paper states no video budget: the video fields stay free).
PAPER_PIXELS = {"min_pixels": 256 * 32 * 32, "max_pixels": 1280 * 32 * 32}
PRESETS = ("paper",)
BACKENDS = ("hf", "vllm")


@dataclass
class EvalConfig:
    """One evaluation run (the CLI's flags)."""

    model: str  # hub id, model folder, training run folder (its newest checkpoint) or checkpoint folder
    data_root: Path | None = None  # benchmark folders: <root>/<path> or <root>/<suite>/<path>
    output: Path | None = None  # results folder (None: print only)
    suite: str = "all"  # vlm | llm | video | synthetic | all, or several joined by commas
    tasks: list[str] | None = None  # narrow the suite to these benchmark names
    limit: int | None = None  # first N items of each benchmark
    resume: bool = False
    backend: str = "hf"  # hf (transformers generate) | vllm (an in-process vLLM engine)
    max_new_tokens: int = EVAL_SAMPLING.max_new_tokens
    batch_size: int = 8  # items per generate call (and between two writes of the per-sample log)
    greedy: bool = False  # temperature 0 instead of the paper's sampling
    seed: int = 0  # sampled decoding: item u samples under item_seed(seed, u)
    vision: VisionSettings = field(default_factory=VisionSettings)  # paper eval budgets by default
    dtype: str | None = None  # transformers: None = bfloat16 on CUDA, float32 on CPU (vLLM: engine.dtype)
    device: str | None = None  # transformers: None = cuda if available, else cpu
    revision: str | None = None
    judge: Judge | None = None
    progress: bool | None = None  # tqdm bars (None: only on a terminal)
    preset: str | None = None  # "paper": the paper's decoding and image pixels, held fixed (checked here)
    engine: VLLMSettings = field(default_factory=VLLMSettings)  # backend vllm: how the engine is started

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; use one of {', '.join(BACKENDS)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise ValueError(f"unknown preset {self.preset!r}; use one of {', '.join(PRESETS)}")
            changed = [k for k, v in asdict(EVAL_SAMPLING).items() if getattr(self.sampling, k) != v]
            changed += [f"vision.{k}" for k, v in PAPER_PIXELS.items() if getattr(self.vision, k) != v]
            if changed:
                raise ValueError(f"preset {self.preset!r} fixes {', '.join(changed)}; drop the setting or the preset")

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
    """Everything that moves a score (the limit is kept per benchmark result instead): the
    model, the backend (and the engine's dtype and length limit), every decoding setting, every
    media setting, the prompt and chat templates."""
    from mmzppo.policy.generation.hf import eos_token_ids
    from mmzppo.policy.loading import suppressed_token_ids

    chat_template = getattr(policy.processor, "chat_template", None) or getattr(policy.tokenizer, "chat_template", None)
    vllm = cfg.backend == "vllm"
    dtype = cfg.engine.dtype if vllm else str(next(policy.model.parameters()).dtype).removeprefix("torch.")
    decoding = {**asdict(cfg.sampling), "greedy": cfg.greedy, "seed": cfg.seed, "seeding": "per item", "n": 1}
    decoding.update(stop_token_ids=eos_token_ids(policy), suppressed_token_ids=suppressed_token_ids(policy.tokenizer))
    return {
        "model": policy.name_or_path,
        "revision": cfg.revision,
        "model_commit": getattr(policy.model.config, "_commit_hash", None),
        "dtype": dtype,
        "backend": cfg.backend,
        "engine": {"dtype": cfg.engine.dtype, "max_model_len": cfg.engine.max_model_len} if vllm else None,
        "preset": cfg.preset,
        "decoding": decoding,
        "vision": policy.vision.to_dict() if policy.vision is not None else None,
        "prompt_template_sha256": sha256_file(PROMPT_TEMPLATES),
        "chat_template_sha256": hashlib.sha256(str(chat_template).encode()).hexdigest()[:16],
    }


# --------------------------------------------------------------------------- prompts


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


def evaluate(cfg: EvalConfig, benchmarks: dict[str, Benchmark] | None = None) -> dict[str, Any]:
    """Evaluate the selected benchmarks; returns the summary (also written and printed)."""
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
                    "engine": asdict(cfg.engine) if cfg.backend == "vllm" else None,
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
    generators: list[Generator] = []  # one per run, made when the first item needs it (an engine starts once)

    def generator() -> Generator:
        if not generators:
            generators.append(Generator(policy, cfg))
        return generators[0]

    try:
        for bench in chosen:
            if found[bench.name] is None:
                entries.append(missing_entry(bench, cfg.data_root))
                continue
            result = evaluate_benchmark(bench, found[bench.name], cfg, generator, settings, media_root)
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
