"""The Qwen3.5-0.8B shape on this CPU: one ZPPO step, and the preflight's estimates against measured peaks.

    flock /tmp/mmzppo-measure.lock python benchmarks/bench_shape.py [--skip-step]

1. `scripts/gpu_check.py` on the CPU with the FULL 0.8B text stack (24 layers, hidden 1,024,
   vocabulary 248,320, tied) and its 12-block vision tower: 2 ZPPO steps (2 questions x 2
   rollouts of 8 tokens, pure bf16 to stay inside a shared 24 GiB machine), a checkpoint,
   the reload, a log-prob pass over 4 x 64 tokens; step times and peak RSS.
2. The preflight's estimate (`mmzppo.train.preflight.pass_peak`) of what a forward + backward
   adds on top of the weights (activations, the log-prob chunk, the head's gradient), against
   the peak RSS measured for
   the same pass in a fresh process: the 0.8B widths and vocabulary, the text stack cut to
   4 layers (3 Gated-DeltaNet + 1 full attention), fp32, one sequence of T tokens
   (half prompt, half completion; the LM head in 1,024-token chunks), with and without
   gradient checkpointing. Prints estimate / measured for each; the target is within 25%.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = [(512, False), (512, True), (2048, False), (2048, True)]


def measure(tokens: int, checkpointing: bool) -> dict:
    """(in a fresh process) peak RSS of one forward + backward of the completion's log-probs
    (the trainer's `completion_logprobs`, LM head in 1,024-token chunks), minus the RSS once the
    model is built: what the gradients, the activations and the log-prob chunk add."""
    from types import SimpleNamespace

    import psutil
    import torch
    from transformers import Qwen3_5ForConditionalGeneration

    import mmzppo  # noqa: F401
    from mmzppo.policy.encoding import EncodedPrompt
    from mmzppo.policy.logprobs import completion_logprobs
    from mmzppo.policy.shapes import qwen35_config

    torch.manual_seed(0)
    model = Qwen3_5ForConditionalGeneration(qwen35_config("0.8b", layers=4, vision_depth=1))
    if checkpointing:
        model.gradient_checkpointing_enable()
    model.train()
    half = tokens // 2
    ids = torch.randint(0, 200_000, (1, half))
    prompt = EncodedPrompt("q", "", [], [], {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    completion = torch.randint(0, 200_000, (half,)).tolist()
    tokenizer = SimpleNamespace(pad_token_id=0, eos_token_id=0)
    base = psutil.Process().memory_info().rss
    scored = completion_logprobs(model, tokenizer, [prompt], [completion], with_grad=True, suppress_tokens=[])
    scored.logprobs.sum().backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"tokens": tokens, "checkpointing": checkpointing, "measured": peak - base}


def estimated(tokens: int, checkpointing: bool) -> float:
    from mmzppo.policy.shapes import qwen35_config
    from mmzppo.train.preflight import count, pass_peak

    m = count(qwen35_config("0.8b", layers=4, vision_depth=1))
    # a first pass holds no gradients before its backward: its peak is the pass's own (what the
    # preflight adds to a step's state), or the end of the backward: every gradient, plus the tied
    # matrix's second gradient (embedding and head) before the two are summed
    gradients = 4 * (m.language + m.vision)
    return max(pass_peak(m, tokens, tokens // 2, 1024, "fp32", checkpointing), gradients + 4 * m.vocab * m.hidden)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-step", action="store_true", help="only the preflight comparison")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)  # internal: one case in this process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(int(args.measure[0]), args.measure[1] == "1")))
        return
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "HF_HUB_OFFLINE": "1"}
    if not args.skip_step:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [
                sys.executable,
                str(REPO / "scripts/gpu_check.py"),
                "--cpu-full",
                "--precision",
                "bf16",
                "--out",
                tmp,
            ]
            r = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
            if r.returncode:
                sys.exit(r.stderr[-3000:])
            result = json.loads((Path(tmp) / "gpu_check.json").read_text())
        print("0.8B shape (24 layers, vocab 248,320, tied), 2 ZPPO steps on this CPU, bf16:")
        for i, s in enumerate(result["steps"]):
            print(
                f"  step {i}: {s['step_s']:.1f} s (rollout {s['rollout_s']:.1f}, update {s['update_s']:.1f}), peak RSS {s['peak_gib']:.2f} GiB"
            )
        lp = result["logprob_pass"]
        print(
            f"  log-prob pass {lp['sequences']} x {lp['tokens']} tokens: {lp['seconds']:.1f} s; build {result['build_s']} s"
        )
        print(f"  parameters {result['model']['parameters']:,}; reloaded equal: {result['reloaded_equal']}")
    print("preflight estimate vs measured peak (0.8B widths, 4 layers, fp32, forward + backward of 1 sequence):")
    for tokens, ckpt in CASES:
        r = subprocess.run(
            [sys.executable, __file__, "--measure", str(tokens), "1" if ckpt else "0"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if r.returncode:
            sys.exit(r.stderr[-3000:])
        got = json.loads(r.stdout.strip().splitlines()[-1])["measured"]
        est = estimated(tokens, ckpt)
        label = "checkpointing" if ckpt else "no checkpointing"
        print(
            f"  {tokens:5d} tokens, {label:<16}: estimate {est / 2**30:6.2f} GiB, measured {got / 2**30:6.2f} GiB, ratio {est / got:.2f}"
        )


if __name__ == "__main__":
    main()
