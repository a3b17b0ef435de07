"""Running an evaluation: items -> prompts -> batched generation -> per-sample log -> scores.

Output folder (`--output DIR`):

    run.json                 settings of the latest run (model, decoding, vision, template hashes)
    <bench>.samples.jsonl    one line per item, appended as soon as its batch finishes
    <bench>.json             the benchmark's result, written as soon as it finishes
    summary.json / summary.md  every selected benchmark (scored or missing) and suite macros

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
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from mmzppo.data.sample import Sample
from mmzppo.data.vision import VisionSettings
from mmzppo.eval import tasks
from mmzppo.eval.metrics import Judge, rule_score, score_records
from mmzppo.eval.suites import PAPER_COUNTS, Benchmark, data_files, expected_path, load_benchmarks, locate, select
from mmzppo.policy.generation.base import SamplingParams
from mmzppo.prompting.builders import PROMPT_TEMPLATES, plain, question_text

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
    backend: str = "hf"  # hf (transformers generate); vllm: a later issue
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
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def short_hash(obj: Any) -> str:
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


# --------------------------------------------------------------------------- per-sample log


def read_samples(path: Path, settings_sha: str | None = None) -> dict[str, dict]:
    """The records of a per-sample log by uid. A cut-off last line (an interrupted write) is
    dropped and the file rewritten without it; records of other settings are left out."""
    if not path.is_file():
        return {}
    good, rewrite = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            rewrite = True
            break
    if rewrite:
        write_jsonl(path, good)
    return {r["uid"]: r for r in good if settings_sha is None or r.get("settings_sha") == settings_sha}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Replace `path` atomically with `rows`."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def base_record(item: Any, bench: Benchmark, index: int, settings_sha: str) -> dict[str, Any]:
    """The per-sample fields known before generation (what scoring needs besides the response)."""
    if isinstance(item, tasks.Failed):
        return {
            "uid": item.uid,
            "index": index,
            "settings_sha": settings_sha,
            "question": "",
            "gold": "",
            "answer_type": "text",
            "choices": None,
            "golds": None,
        }
    s: Sample = item
    media = [str(m) for m in s.images if isinstance(m, (str, Path))]
    if s.video is not None:
        media.append(s.video if isinstance(s.video, str) else f"<{len(s.video)} frames>")
    return {
        "uid": s.uid,
        "index": index,
        "settings_sha": settings_sha,
        "question": question_text(s),
        "media": media,
        "gold": s.answer,
        "golds": s.meta.get("golds"),
        "answer_type": s.answer_type,
        "choices": s.choices,
        "group": s.meta.get("group"),
        "criteria": s.meta.get("criteria"),
    }


def build_prompt(bench: Benchmark, sample: Sample):
    return plain(sample) if bench.prompt == "plain" else tasks.PROMPTS[bench.prompt](sample)


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
    items = list(islice(tasks.load_items(bench, folder, media_root / bench.name), cfg.limit))
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
        for i, it in [(i, it) for i, it in pending if isinstance(it, tasks.Failed)]:
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


def finalize(
    bench: Benchmark,
    records: list[dict],
    judge: Judge | None,
    settings: dict | None,
    settings_sha: str | None,
    limit: int | None,
    folder: Path | None,
    samples_path: Path | None,
) -> dict:
    """Score the records (judge included), rewrite the per-sample log with the verdicts and
    return the result dict."""
    result = {
        "benchmark": bench.name,
        "title": bench.title,
        "suite": bench.suite,
        "extra": bench.extra,
        "verified": bench.verified,
        "status": "scored",
        "split": bench.split,
        **score_records(bench, records, judge),
        "data": str(folder) if folder is not None and bench.path else None,
        "data_files": [str(p.relative_to(folder)) for p in data_files(bench, folder)][:20]
        if folder and bench.path
        else [],
        "limit": limit,
        "settings": settings,
        "settings_sha": settings_sha,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if result["score"] is None:
        result["status"] = "not_judged" if bench.judge else "no_items"
    if samples_path is not None:
        write_jsonl(samples_path, records)
    return result


# --------------------------------------------------------------------------- summary


def missing_entry(bench: Benchmark, data_root: Path | None) -> dict[str, Any]:
    where = expected_path(bench, data_root)
    return {
        "benchmark": bench.name,
        "title": bench.title,
        "suite": bench.suite,
        "extra": bench.extra,
        "status": "missing",
        "score": None,
        "expected_path": where,
        "layout": bench.layout,
        "note": f"data not found at {where} (expected: {bench.layout})",
    }


def summarize(entries: list[dict], settings: dict | None) -> dict[str, Any]:
    """Per-suite macro averages over the paper's benchmarks that have a score."""
    suites = {}
    for suite in dict.fromkeys(e["suite"] for e in entries):
        paper = [e for e in entries if e["suite"] == suite and not e["extra"]]
        scored = [e for e in paper if e.get("score") is not None]
        macro = round(sum(e["score"] for e in scored) / len(scored), 2) if scored else None
        suites[suite] = {
            "macro": macro,
            "covered": len(scored),
            "of": PAPER_COUNTS.get(suite, len(paper)),
            "rule_only": [e["benchmark"] for e in scored if e.get("judge_required") and not e.get("judged")],
            "missing": [e["benchmark"] for e in paper if e["status"] == "missing"],
        }
    return {"settings": settings, "benchmarks": entries, "suites": suites}


def judge_cell(e: dict) -> str:
    if not e.get("judge_required"):
        return "rule"
    if e.get("judged"):
        return f"judged ({e['judge']['model']})"
    return "NOT JUDGED (rule-only)"


def markdown(summary: dict) -> str:
    lines = [
        "| suite | benchmark | status | score | n | failed | metric | scoring | note |",
        "|---|---|---|---:|---:|---:|---|---|---|",
    ]
    for e in summary["benchmarks"]:
        score = "-" if e.get("score") is None else f"{e['score']:.1f}"
        name = e["benchmark"] + (" (extra)" if e["extra"] else "")
        if e["status"] == "missing":
            note = f"missing: {e['expected_path']}"
        else:
            note = "; ".join(
                x
                for x in (
                    f"failures: {e['failures']}" if e.get("n_failed") else "",
                    e.get("judge_error") or "" if e.get("judge_required") and not e.get("judged") else "",
                    "" if e.get("verified") else "loader not verified on real items",
                )
                if x
            )
        lines.append(
            f"| {e['suite']} | {name} | {e['status']} | {score} | {e.get('n', '-')} | {e.get('n_failed', '-')}"
            f" | {e.get('metric', '-')} | {judge_cell(e) if e['status'] != 'missing' else '-'} | {note} |"
        )
    for suite, s in summary["suites"].items():
        macro = "-" if s["macro"] is None else f"{s['macro']:.1f}"
        extra = f"; rule-only: {', '.join(s['rule_only'])}" if s["rule_only"] else ""
        lines.append(
            f"| {suite} | **macro** | {s['covered']} of {s['of']} | {macro} | | | mean of scores | |"
            f" covers {s['covered']} of the suite's {s['of']} benchmarks{extra} |"
        )
    return "\n".join(lines)


def write_summary(summary: dict, output: Path | None) -> str:
    table = markdown(summary)
    if output is not None:
        write_json(output / "summary.json", summary)
        (output / "summary.md").write_text(table + "\n", encoding="utf-8")
    return table


def _entry(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "settings"}


# --------------------------------------------------------------------------- the run


def load_model(cfg: EvalConfig):
    import torch

    from mmzppo.policy.loading import load_policy

    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = cfg.dtype or ("bfloat16" if str(device).startswith("cuda") else "float32")
    return load_policy(cfg.model, dtype=dtype, vision=cfg.vision, device=device, revision=cfg.revision)


def evaluate(cfg: EvalConfig, benchmarks: dict[str, Benchmark] | None = None) -> dict[str, Any]:
    """Evaluate the selected benchmarks; returns the summary (also written and printed)."""
    if cfg.backend == "vllm":
        raise NotImplementedError("the vLLM evaluation backend is not available yet (a later issue); use --backend hf")
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
            entries.append(_entry(result))
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


def rescore(output: Path, judge: Judge | None = None, benchmarks: dict[str, Benchmark] | None = None) -> dict:
    """Re-grade every saved per-sample log in `output` (no generation); rewrites each
    <bench>.json and the summary. Missing benchmarks of the previous summary stay listed."""
    benchmarks = benchmarks or load_benchmarks()
    output = Path(output)
    logs = sorted(output.glob("*.samples.jsonl"))
    if not logs:
        raise FileNotFoundError(f"{output}: no <benchmark>.samples.jsonl files to rescore")
    previous = json.loads((output / "summary.json").read_text()) if (output / "summary.json").is_file() else {}
    run = json.loads((output / "run.json").read_text()) if (output / "run.json").is_file() else {}
    rescored = {}
    for path in logs:
        name = path.name.removesuffix(".samples.jsonl")
        if name not in benchmarks:
            raise ValueError(f"{path}: no benchmark definition named {name!r}")
        bench = benchmarks[name]
        old = json.loads((output / f"{name}.json").read_text()) if (output / f"{name}.json").is_file() else {}
        records = sorted(read_samples(path).values(), key=lambda r: r.get("index", 0))
        folder = Path(old["data"]) if old.get("data") else None
        result = finalize(
            bench,
            records,
            judge,
            old.get("settings", run.get("settings")),
            old.get("settings_sha", run.get("settings_sha")),
            old.get("limit"),
            folder if folder is not None and folder.is_dir() else None,
            path,
        )
        result["rescored"] = True
        write_json(output / f"{name}.json", result)
        rescored[name] = _entry(result)
    order = [e["benchmark"] for e in previous.get("benchmarks", [])]
    order += [n for n in benchmarks if n in rescored and n not in order]
    entries = []
    for name in order:
        if name in rescored:
            entries.append(rescored[name])
        else:
            old = next(e for e in previous["benchmarks"] if e["benchmark"] == name)
            if old["status"] == "missing":
                entries.append(old)
    summary = summarize(entries, previous.get("settings") or run.get("settings"))
    print(write_summary(summary, output))
    return summary
