"""`python -m mmzppo.eval`: evaluate a checkpoint, list the benchmarks, or rescore saved responses.

    python -m mmzppo.eval --suite vlm --model Qwen/Qwen3.5-0.8B --data-root DATA --output runs/eval-08b
    python -m mmzppo.eval --suite llm --model DIR --data-root ../shared/benchdata --limit 5 --greedy
    python -m mmzppo.eval --suite vlm,video --model runs/zppo --backend vllm --preset paper --data-root DATA
    python -m mmzppo.eval --list --data-root DATA
    python -m mmzppo.eval --rescore runs/eval-08b --judge http://localhost:8000 --judge-model NAME

The data root holds one folder per benchmark (`DATA/<name>/`, as listed by --list); a root
organised by suite (`DATA/<suite>/<name>/`, as ../shared/benchdata is) works too. --model takes a
hub id, a model folder, a training run folder (its newest complete checkpoint) or a checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from mmzppo.data.vision import VisionSettings
from mmzppo.eval.metrics import Judge
from mmzppo.eval.results import rescore
from mmzppo.eval.runner import EVAL_SAMPLING, PRESETS, EvalConfig, evaluate
from mmzppo.eval.suites import PAPER_COUNTS, SUITES, expected_path, load_benchmarks, locate
from mmzppo.policy.generation.vllm import VLLMSettings


def parse_value(value: str):
    """A key=value flag's value: none, true/false, a number, else the text."""
    if value.lower() in ("none", "null", "true", "false"):
        return {"none": None, "null": None, "true": True, "false": False}[value.lower()]
    try:
        return float(value) if "." in value or "e" in value.lower() else int(value)
    except ValueError:
        return value


def parse_engine(items: list[str]) -> VLLMSettings:
    """`--vllm` values: key=value overrides of VLLMSettings fields (mmzppo.policy.generation.vllm)."""
    names = {f.name for f in dataclasses.fields(VLLMSettings)}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in names:
            raise ValueError(f"--vllm {item!r}: expected key=value with key in {sorted(names)}")
        out[key] = parse_value(value)
    return VLLMSettings(**out)


def suite_list(value: str) -> str:
    """`--suite`: one of all, vlm, llm, video, synthetic, or several joined by commas."""
    names = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in names if s not in ("all", *SUITES)]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"{value!r}: choose from all, {', '.join(SUITES)} (several: vlm,video)")
    return ",".join(names)


def parse_vision(items: list[str]) -> VisionSettings:
    """`--vision` values: the preset `tiny` (mmzppo.data.vision.TINY_VISION) and/or key=value
    overrides of VisionSettings fields, applied in order to the paper's defaults."""
    base = VisionSettings()
    names = {f.name for f in dataclasses.fields(VisionSettings)}
    for item in items:
        if item == "tiny":
            from mmzppo.data.vision import TINY_VISION

            base = TINY_VISION
            continue
        key, sep, value = item.partition("=")
        if not sep or key not in names:
            raise ValueError(f"--vision {item!r}: expected `tiny` or key=value with key in {sorted(names)}")
        try:
            parsed = None if value.lower() == "none" else float(value) if "." in value else int(value)
        except ValueError:
            raise ValueError(f"--vision {item!r}: {value!r} is not a number or none") from None
        base = dataclasses.replace(base, **{key: parsed})  # VisionSettings checks the values
    return base


def list_benchmarks(data_root: Path | None) -> None:
    benches = load_benchmarks()
    lines = [
        "| suite | benchmark | title | kind | metric | scoring | verified | data | expected layout |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    found = 0
    for b in benches.values():
        folder = locate(b, data_root)
        if b.path is None:
            data = "built in"
        elif data_root is None:
            data = f"- ({expected_path(b, None)})"
        else:
            data = f"found: {folder}" if folder else f"missing: {expected_path(b, data_root)}"
            found += folder is not None
        kind = "paper" if b.paper else "extra" if b.extra else "built in"
        scoring = "LLM judge (rule-only without one)" if b.judge else "rule"
        lines.append(
            f"| {b.suite} | {b.name} | {b.title} | {kind} | {b.metric} | {scoring} | "
            f"{'yes' if b.verified else 'no'} | {data} | {b.layout} |"
        )
    print("\n".join(lines))
    counts = {s: sum(1 for b in benches.values() if b.suite == s and b.paper) for s in PAPER_COUNTS}
    n_extra = sum(1 for b in benches.values() if b.extra)
    n_synth = sum(1 for b in benches.values() if b.suite == "synthetic")
    print(
        f"\n{sum(counts.values())} paper benchmarks ({', '.join(f'{s} {n}' for s, n in counts.items())}), "
        f"{n_extra} extras, {n_synth} synthetic" + (f"; data found for {found}" if data_root else "")
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m mmzppo.eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--suite", type=suite_list, help=f"benchmarks to run: all, {', '.join(SUITES)}, or several (vlm,video)"
    )
    what.add_argument("--list", action="store_true", help="list every benchmark and whether its data is found")
    what.add_argument("--rescore", type=Path, metavar="OUTPUT_DIR", help="re-grade saved responses, no generation")
    p.add_argument(
        "--model",
        help="hub id, model folder, training run folder (its newest complete checkpoint) or checkpoint folder",
    )
    p.add_argument("--revision", default=None, help="model revision (hub)")
    p.add_argument("--data-root", type=Path, default=None, help="folder with one subfolder per benchmark")
    p.add_argument("--tasks", default=None, help="comma-separated benchmark names within the suite")
    p.add_argument("--limit", type=int, default=None, help="first N items of each benchmark")
    p.add_argument("--output", type=Path, default=None, help="results folder (per-sample logs, results, summary)")
    p.add_argument("--resume", action="store_true", help="skip finished benchmarks and samples in --output")
    p.add_argument(
        "--backend", default="hf", choices=["hf", "vllm"], help="hf: transformers generate; vllm: an in-process engine"
    )
    p.add_argument(
        "--preset",
        choices=PRESETS,
        default=None,
        help="paper: temperature 0.6, top-p 0.95, top-k 20, presence penalty 1.5, 12,288 new tokens, image "
        "pixels 256x32x32 to 1280x32x32 (the defaults), held fixed: a flag that changes one is refused",
    )
    p.add_argument("--max-new-tokens", type=int, default=None, help=f"default {EVAL_SAMPLING.max_new_tokens}")
    p.add_argument("--batch-size", type=int, default=None, help="items per generate call (default: hf 8, vllm 32)")
    p.add_argument("--greedy", action="store_true", help="greedy decoding instead of the paper's sampling")
    p.add_argument("--seed", type=int, default=0, help="sampled decoding: item u draws under a seed from (seed, u)")
    p.add_argument(
        "--vision",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="VisionSettings override (repeatable), or `tiny` for the tiny models' budgets",
    )
    p.add_argument(
        "--vllm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend vllm: VLLMSettings override (repeatable), e.g. kv_cache_gb=0.25 max_model_len=16384",
    )
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"], help="transformers backend")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument(
        "--judge",
        default=None,
        metavar="URL[,URL...]",
        help="OpenAI-compatible server for judged benchmarks; several of one model comma-separated "
        "(each request to the least-loaded healthy one, as the served teacher's)",
    )
    p.add_argument("--judge-model", default=None, help="model name to send to the judge")
    p.add_argument("--judge-timeout", type=float, default=120.0)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="tqdm bars")
    args = p.parse_args(argv)

    if args.list:
        list_benchmarks(args.data_root)
        return 0
    judge = None
    if args.judge:
        if not args.judge_model:
            p.error("--judge needs --judge-model")
        judge = Judge(
            args.judge, args.judge_model, api_key=os.environ.get("MMZPPO_JUDGE_API_KEY"), timeout=args.judge_timeout
        )
    if args.rescore:
        try:
            rescore(args.rescore, judge)
        except (ValueError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    if not args.suite:
        p.error("give --suite (or --list / --rescore)")
    if not args.model:
        p.error("--suite needs --model")
    if args.resume and args.output is None:
        p.error("--resume needs --output")
    try:
        cfg = EvalConfig(
            model=args.model,
            data_root=args.data_root,
            output=args.output,
            suite=args.suite,
            tasks=[t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
            limit=args.limit,
            resume=args.resume,
            backend=args.backend,
            max_new_tokens=args.max_new_tokens or EVAL_SAMPLING.max_new_tokens,
            batch_size=args.batch_size or (32 if args.backend == "vllm" else 8),
            greedy=args.greedy,
            seed=args.seed,
            vision=parse_vision(args.vision),
            dtype=args.dtype,
            device=args.device,
            revision=args.revision,
            judge=judge,
            progress=args.progress,
            preset=args.preset,
            engine=parse_engine(args.vllm),
        )
        if (problem := missing_model(args.model)) is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        evaluate(cfg)
    except (ValueError, FileNotFoundError) as e:  # bad names or vision settings, settings that do not fit the model
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # transformers' "not a local folder and not on the hub" (several lines)
        if not Path(args.model).exists():
            print(
                f"error: --model {args.model}: no such folder, and the hub did not provide it "
                f"({str(e).strip().splitlines()[0][:200]})",
                file=sys.stderr,
            )
            return 2
        if e.filename is not None or e.strerror:  # a results file could not be written (a full disk, say)
            print(
                f"error: could not write {e.filename or args.output} ({e.strerror or e}); free space and rerun "
                "with --resume: the finished samples are kept",
                file=sys.stderr,
            )
            return 2
        raise
    return 0


def missing_model(model: str) -> str | None:
    """Why `--model` cannot be loaded, when that is clear before loading: a name with path syntax
    (absolute, ./, ../, ~, or more than one /) that is not a folder; other names may be hub ids. The hub client would
    otherwise answer with "Repo id must be in the form 'repo_name' ..."."""
    path = Path(model).expanduser()
    if path.exists():
        return None if path.is_dir() else f"--model {model}: not a folder (give a model folder or a hub id)"
    if model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model or os.sep != "/" and os.sep in model:
        return f"--model {model}: no such folder (give a local model folder or a hub id such as Qwen/Qwen3.5-0.8B)"
    return None


if __name__ == "__main__":
    sys.exit(main())
