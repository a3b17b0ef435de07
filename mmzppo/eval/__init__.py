"""Evaluation on the paper's 31 benchmarks (plus extras and a synthetic suite).

    python -m mmzppo.eval --suite {vlm,llm,video,synthetic,all}[,...] --model PATH_OR_ID --data-root DIR \
        [--tasks a,b] [--limit N] [--output DIR] [--resume] [--greedy | --preset paper] \
        [--backend {hf,vllm}] [--judge URL --judge-model NAME]
    python -m mmzppo.eval --list [--data-root DIR]
    python -m mmzppo.eval --rescore OUTPUT_DIR [--judge URL --judge-model NAME]

Benchmarks are declared in `mmzppo/eval/definitions/<suite>/<name>.yaml` (`suites`), read by the loaders
of `loaders`, generated in batches by transformers or an in-process vLLM engine (`generation`: the
model, a run folder or a checkpoint, and a seed per item) under the paper's evaluation decoding by
`runner` (which resumes) and scored by `metrics` (the training grader first; ANLS; an optional LLM
judge). `results` writes per-sample logs as they come, results per benchmark and a summary, and
re-grades saved logs (`rescore`).
"""

from mmzppo.eval.loaders import LOADERS, Failed, load_items
from mmzppo.eval.metrics import Judge, anls, ocr_match
from mmzppo.eval.results import rescore
from mmzppo.eval.runner import EVAL_SAMPLING, EvalConfig, evaluate
from mmzppo.eval.suites import Benchmark, load_benchmarks, locate, select

__all__ = [
    "EVAL_SAMPLING",
    "Benchmark",
    "EvalConfig",
    "Failed",
    "Judge",
    "LOADERS",
    "anls",
    "evaluate",
    "load_benchmarks",
    "load_items",
    "locate",
    "ocr_match",
    "rescore",
    "select",
]
