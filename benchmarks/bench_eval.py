"""Evaluation speed: items/s of both backends, greedy and sampled, image / video / text, on the
tiny `s` Qwen3.5 on this CPU, measured side by side in one run; then the greedy responses of
the two backends compared item by item; then an ESTIMATE for Qwen3.5-0.8B on one H100 at the
paper's preset (how it is made is printed with it).

    flock /tmp/mmzppo-vllm.lock .venv/bin/python benchmarks/bench_eval.py
        [--items 8] [--batch 8] [--new-tokens 32] [--repeats 2] [--compare 6] [--compare-tokens 24] [--tied]

The tiny `s` model is built untied: with random weights and its LM head tied to the input
embeddings (`--tied`, as Qwen3.5-0.8B has it), greedy decoding repeats one token ("\n") on
every prompt, and the backends' agreement says nothing.

1. Speed: the first `--items` items of each synthetic test suite through the runner's real path
   (`evaluate_benchmark`: prompts, generation, grading, the per-sample log), exactly
   `--new-tokens` tokens per item (min_new_tokens, so both backends generate the same amount):
   transformers (fp32, the CPU reference) and the in-process vLLM engine (bf16), greedy and
   sampled (the paper's decoding, a seed per item). "sampled, one per call" is how sampled
   evaluation ran before per-row seeds (batch 1, what resume needed then); "sampled, batched"
   is now. Rows alternate within each repeat after one warm-up each; medians.
2. Greedy agreement: both backends greedy on the synthetic suites and on real items of
   ../shared/benchdata (MathVision, MMMU with a two-image item, TempCompass and TGIF-QA videos,
   GSM8K), `--compare-tokens` new tokens: how many responses are equal token for token; for
   the others, the first position where they part and the transformers model's log-prob margin
   there between its own token and the engine's (small margins: a near tie that bf16 flips).
3. The H100 estimate (printed with its inputs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path

# ESTIMATE inputs (not measured here: no GPU and no Qwen3.5 weights on these machines).
# Qwen3.5-0.8B (the config of environment.md's 0.8B-shaped probe): 752 M parameters in bf16,
# 24 layers of which 6 full attention (2 KV heads of 256) and 18 Gated-DeltaNet (16 heads,
# 128 x 128 fp32 state). H100 SXM: 3.35 TB/s HBM3, taken at 60% in decode.
H100 = dict(
    params=752e6,
    bandwidth=3.35e12 * 0.6,
    full_layers=6,
    kv_bytes_per_token_layer=2 * 2 * 256 * 2,  # K and V, 2 heads of 256, bf16
    linear_layers=18,
    state_bytes_per_seq_layer=16 * 128 * 128 * 4,
    concurrent=256,  # sequences in flight (vLLM's default max_num_seqs)
    prompt_tokens=1_000,  # a plain prompt with one image at the paper's pixels (256-1280 vision tokens)
)


def h100_estimate(mean_response: float) -> tuple[float, float]:
    """(tokens/s, items/s) of decode-bound generation: each step reads the weights once and every
    sequence's KV cache and recurrent state; prefill and the vision tower are left out (under 5%
    of the work at these lengths)."""
    e = H100
    context = e["prompt_tokens"] + mean_response / 2  # mean context over a response
    per_seq = (
        context * e["full_layers"] * e["kv_bytes_per_token_layer"] + e["linear_layers"] * e["state_bytes_per_seq_layer"]
    )
    step_s = (2 * e["params"] + e["concurrent"] * per_seq) / e["bandwidth"]
    tokens_s = e["concurrent"] / step_s
    return tokens_s, tokens_s / mean_response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--compare", type=int, default=6, help="items per benchmark in the greedy comparison")
    parser.add_argument("--compare-tokens", type=int, default=24)
    parser.add_argument("--tied", action="store_true", help="tie the LM head to the embeddings (see the docstring)")
    args = parser.parse_args()

    import torch

    from mmzppo.data.formats import DEFAULT_BENCHDATA
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.eval.generation import Generator, load_model
    from mmzppo.eval.loaders import load_items
    from mmzppo.eval.runner import EvalConfig, build_prompt, evaluate_benchmark, run_settings
    from mmzppo.eval.suites import load_benchmarks, locate
    from mmzppo.policy.encoding import encode_prompts
    from mmzppo.policy.generation.vllm import VLLMSettings
    from mmzppo.policy.logprobs import completion_logprobs
    from mmzppo.tools.models import build_tiny

    tmp = Path(tempfile.mkdtemp(prefix="bench_eval_"))
    model_dir = build_tiny(tmp / "s", "s", tied=args.tied)
    engine = VLLMSettings(kv_cache_gb=0.25, max_model_len=1024, max_images=2)
    benches = load_benchmarks()

    def config(backend: str, greedy: bool, batch: int, tokens: int) -> EvalConfig:
        return EvalConfig(
            model=str(model_dir),
            suite="synthetic",
            limit=args.items,
            backend=backend,
            greedy=greedy,
            batch_size=batch,
            max_new_tokens=tokens,
            vision=TINY_VISION,
            dtype="float32",
            progress=False,
            engine=engine,
        )

    # one policy and one generator per backend (the engine starts once)
    policy = load_model(config("hf", True, args.batch, args.new_tokens))
    start = time.perf_counter()
    generators = {
        "hf": Generator(policy, config("hf", True, 1, 1)),
        "vllm": Generator(policy, config("vllm", True, 1, 1)),
    }
    engine_start = time.perf_counter() - start
    generators["hf"].rollout.batch_size = None  # one generate call per runner batch (cfg.batch_size items)
    for g in generators.values():
        g.rollout.min_new_tokens = args.new_tokens

    # 1. items/s through the runner
    decodings = {  # label: (greedy, batch)
        "greedy, batched": (True, args.batch),
        "sampled, one item per call": (False, 1),
        "sampled, batched": (False, args.batch),
    }
    modalities = ("image", "video", "text")

    def run(modality: str, backend: str, label: str, out: Path) -> float:
        greedy, batch = decodings[label]
        cfg = config(backend, greedy, batch, args.new_tokens)
        cfg.output = out
        out.mkdir(parents=True)
        gen = generators[backend]
        gen.sampling, gen.seed = cfg.sampling, cfg.seed
        bench = benches[f"synthetic_{modality}"]
        settings = run_settings(cfg, policy)
        begin = time.perf_counter()
        result = evaluate_benchmark(bench, locate(bench, None), cfg, lambda: gen, settings, tmp / "media")
        return result["n"] / (time.perf_counter() - begin)

    cells = [(m, label, backend) for m in modalities for label in decodings for backend in generators]
    for m, label, backend in cells:  # warm-up
        run(m, backend, label, tmp / "warm" / f"{m}-{backend}-{list(decodings).index(label)}")
    rates: dict[tuple, list[float]] = {cell: [] for cell in cells}
    for r in range(args.repeats):
        for m, label, backend in cells:
            out = tmp / f"r{r}" / f"{m}-{backend}-{list(decodings).index(label)}"
            rates[(m, label, backend)].append(run(m, backend, label, out))
    med = {cell: statistics.median(v) for cell, v in rates.items()}

    print(f"\n## Speed: tiny s Qwen3.5 on this CPU ({torch.get_num_threads()} torch threads)")
    print(
        f"{args.items} synthetic test items per modality, exactly {args.new_tokens} new tokens each, batch "
        f"{args.batch}, median of {args.repeats}; vLLM engine start {engine_start:.0f} s (not counted)\n"
    )
    print("| modality | decoding | transformers items/s | vLLM items/s | vLLM / transformers |")
    print("|---|---|---:|---:|---:|")
    for m in modalities:
        for label in decodings:
            hf, vl = med[(m, label, "hf")], med[(m, label, "vllm")]
            print(f"| {m} | {label} | {hf:.2f} | {vl:.2f} | {vl / hf:.2f}x |")
    print("\nsampled decoding, one item per call (before per-row seeds) -> batched (now), items/s:")
    for m in modalities:
        for backend, name in (("hf", "transformers"), ("vllm", "vLLM")):
            before, after = med[(m, "sampled, one item per call", backend)], med[(m, "sampled, batched", backend)]
            print(f"  {m}, {name}: {before:.2f} -> {after:.2f} ({after / before:.2f}x)")

    # 2. greedy agreement
    for g in generators.values():
        g.rollout.min_new_tokens = 0
        g.sampling, g.seed = config("hf", True, 1, args.compare_tokens).sampling, 0
    some = range(args.compare)
    sources = {  # benchmark: item indices
        "synthetic_image": some,
        "synthetic_video": some,
        "synthetic_text": some,
        "mathvision": some,
        "mmmu": [0, 43],  # item 43 has two images
        "tempcompass": some,
        "tgifqa": some,
        "gsm8k": some,
    }
    print(f"\n## Greedy responses, transformers (fp32) vs vLLM (bf16), tiny s, {args.compare_tokens} new tokens\n")
    print("| benchmark | items | equal | differ | first difference at token | margin there (nats) |")
    print("|---|---:|---:|---:|---|---|")
    totals = [0, 0]
    for name, index in sources.items():
        bench = benches[name]
        folder = locate(bench, DEFAULT_BENCHDATA)
        items = list(islice(load_items(bench, folder, tmp / "cmp" / name), max(index) + 1))
        prompts = [build_prompt(bench, items[i]) for i in index]
        hf = [c for c, _, _ in generators["hf"].run(prompts)]
        vl = [c for c, _, _ in generators["vllm"].run(prompts)]
        where, margins = [], []
        for p, a, b in zip(prompts, hf, vl):
            if a.token_ids == b.token_ids:
                continue
            j = next((k for k, (x, y) in enumerate(zip(a.token_ids, b.token_ids)) if x != y), None)
            if j is None:  # one is a prefix of the other: not expected at equal max lengths
                where.append("prefix")
                continue
            (enc,) = encode_prompts(policy.processor, policy.vision, [p])
            pair = [a.token_ids[: j + 1], b.token_ids[: j + 1]]
            scored = completion_logprobs(policy.model, policy.tokenizer, [enc, enc], pair, with_grad=False).logprobs
            margins.append(float(scored[0, j] - scored[1, j]))
            where.append(str(j))
        equal = len(prompts) - len(where)
        totals[0] += equal
        totals[1] += len(where)
        shown = ", ".join(f"{m:.4f}" for m in margins) or "-"
        print(f"| {name} | {len(prompts)} | {equal} | {len(where)} | {', '.join(where) or '-'} | {shown} |")
    print(f"\nequal {totals[0]} of {sum(totals)}; differ {totals[1]}")

    # 3. the estimate
    print("\n## ESTIMATE (not measured): Qwen3.5-0.8B, one H100, vLLM, paper preset")
    print(
        "decode-bound model: each decode step reads the bf16 weights once plus every sequence's KV cache "
        "(full-attention layers) and recurrent state (Gated-DeltaNet layers) at 60% of the H100's 3.35 TB/s, "
        f"{H100['concurrent']} sequences in flight, prompts of {H100['prompt_tokens']} tokens; prefill, the "
        "vision tower, sampling and scheduling left out. Inputs: benchmarks/bench_eval.py H100.\n"
    )
    print("| mean response (tokens) | tokens/s | items/s |")
    print("|---:|---:|---:|")
    for length in (1_000, 4_000, 12_288):
        tokens_s, items_s = h100_estimate(length)
        print(f"| {length:,} | {tokens_s:,.0f} | {items_s:.1f} |")


if __name__ == "__main__":
    main()
