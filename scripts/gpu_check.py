"""The prepared GPU check of the paper's shape (run by scripts/gpu_check.sh; see its header).

1. build the Qwen3.5-0.8B shape (`mmzppo.tools.shape.build_shape`: real dimensions, random
   weights, the stand-in tokenizer, vocabulary 248,320);
2. 2 ZPPO steps with the transformers rollout backend (the reference-solution teacher, so no
   second model), in `bf16-mixed` with gradient checkpointing where this checkout's config has
   those keys, a checkpoint at the end, and the checkpoint reloaded;
3. one log-prob pass (forward + backward) over 4 sequences of 12,288 completion tokens, with
   the trainer's own `completion_logprobs`;
and prints and writes (`<out>/gpu_check.json`) the device, the attention kernels in use, the
peak memory of each phase and the step times. `--cpu-smoke` runs the same path on the CPU at
tiny lengths (the 0.8B widths and vocabulary, the text stack cut to 2 layers, 1 vision block):
how it is tested. `--cpu-full` (benchmarks/bench_shape.py) keeps the whole 0.8B on the CPU at
short lengths. On a GPU the lengths are: 8 questions x 4 rollouts of up to 512 tokens a step,
then the 4 x 12,288-token log-prob pass; the target is under 8 minutes on one H100.
NOT YET RUN ON A GPU: no GPU was available where it was written.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

GPU = dict(layers=None, vision_depth=None, prompts=8, group=4, new_tokens=512, logprob_seqs=4, logprob_tokens=12_288)
CPU_SMOKE = dict(layers=2, vision_depth=1, prompts=2, group=2, new_tokens=8, logprob_seqs=4, logprob_tokens=32)
CPU_FULL = dict(CPU_SMOKE, layers=None, vision_depth=None, logprob_tokens=64)


def peak_bytes() -> int:
    """Peak memory so far: the GPU's allocated peak, or this process's peak RSS on CPU."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="gpu_check_out", help="work folder; gpu_check.json is written there")
    parser.add_argument("--cpu-smoke", action="store_true", help="the same path on CPU at tiny lengths, 2 layers")
    parser.add_argument("--cpu-full", action="store_true", help="the whole 0.8B on CPU at short lengths")
    parser.add_argument("--precision", default="bf16-mixed", choices=["bf16-mixed", "bf16", "fp32"])
    parser.add_argument("--steps", type=int, default=2, help="ZPPO steps (2)")
    args = parser.parse_args(argv)
    cpu = args.cpu_smoke or args.cpu_full
    if not cpu and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device (--cpu-smoke runs the same path on the CPU)")
    p = CPU_FULL if args.cpu_full else CPU_SMOKE if args.cpu_smoke else GPU
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import mmzppo  # noqa: F401  (torchvision compat first)
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.policy.encoding import encode_prompts
    from mmzppo.policy.kernels import kernel_report
    from mmzppo.policy.loading import load_policy
    from mmzppo.policy.logprobs import completion_logprobs
    from mmzppo.policy.precision import autocast
    from mmzppo.prompting.builders import plain
    from mmzppo.tools.shape import build_shape
    from mmzppo.train.config_files import load_config
    from mmzppo.train.loop import Trainer

    device = "cpu" if cpu else torch.cuda.get_device_name(0)
    result: dict = {"device": device, "mode": "cpu-full" if args.cpu_full else "cpu-smoke" if cpu else "gpu"}
    start = t0 = time.perf_counter()
    model_dir = build_shape(out / "model", "0.8b", layers=p["layers"], vision_depth=p["vision_depth"])
    result["build_s"] = round(time.perf_counter() - t0, 1)
    result["model"] = json.loads((model_dir / "mmzppo_shape.json").read_text())
    shards = out / "shards"
    if not (shards / "index.json").is_file():
        samples = generate_suite(
            ["arith_chain", "word_problem"], 2 * p["prompts"], 0, "train", out / "media", levels=[1]
        )
        write_shards(list(samples), shards)

    settings = [f"precision={args.precision}", "gradient_checkpointing=true", "logprob_chunk_tokens=1024"]
    result["settings"] = settings
    vision = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]
    overrides = [
        f"student={model_dir}",
        "teacher_kind=reference",
        f"train_shards={shards}",
        f"output_dir={out}",
        "name=run",
        f"steps={args.steps}",
        "save_every=2",
        f"prompts_per_step={p['prompts']}",
        f"group_size={p['group']}",
        f"max_new_tokens={p['new_tokens']}",
        "updates_per_step=2",
        "micro_batch_size=8",
        "attn_implementation=" + ("flash_attention_2" if _has("flash_attn") and not cpu else "sdpa"),
        *vision,
        *settings,
    ]
    reset_peak()
    trainer = Trainer(load_config(None, overrides))
    result["kernels"] = kernel_report(trainer.model)
    result["memory_after_load_gib"] = round(peak_bytes() / 2**30, 2)
    steps = []
    while trainer.step_idx < args.steps:
        reset_peak()
        metrics, _ = trainer.step()
        steps.append(
            {
                "step_s": round(metrics["time/step"], 2),
                "rollout_s": round(metrics.get("time/rollout", 0.0), 2),
                "update_s": round(metrics.get("time/update", 0.0), 2),
                "loss": metrics.get("loss"),
                "peak_gib": round(peak_bytes() / 2**30, 2),
            }
        )
        print(f"gpu_check: step {len(steps)}: {steps[-1]}", flush=True)
    checkpoint = trainer.save_state()
    result["steps"] = steps
    reloaded = load_policy(checkpoint, vision=TINY_VISION, dtype="float32", device=trainer.acc.device)
    # the export is bf16 (the masters stay in the checkpoint for resume): equal to the bf16 view
    trained = {k: v.to(torch.bfloat16) for k, v in trainer.model.state_dict().items()}
    result["reloaded_equal"] = all(
        torch.equal(v.to(torch.bfloat16), trained[k]) for k, v in reloaded.model.state_dict().items()
    )
    del reloaded

    # the log-prob pass: 4 sequences of 12,288 completion tokens, forward and backward
    policy = trainer.student
    sample = next(iter(trainer.reader))
    (encoded,) = encode_prompts(policy.processor, policy.vision, [plain(sample)])
    gen = torch.Generator().manual_seed(0)
    n_text = len(policy.tokenizer) - 16  # ids the stand-in tokenizer has, below its special tokens
    completions = [
        torch.randint(0, n_text, (p["logprob_tokens"],), generator=gen).tolist() for _ in range(p["logprob_seqs"])
    ]
    trainer.optimizer.zero_grad(set_to_none=True)
    reset_peak()
    t0 = time.perf_counter()
    for c in completions:  # one sequence per forward and backward, as the update's micro-batches go
        with autocast(args.precision, trainer.acc.device):
            scored = completion_logprobs(policy.model, policy.tokenizer, [encoded], [c], with_grad=True)
        scored.logprobs.sum().backward()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    result["logprob_pass"] = {
        "sequences": p["logprob_seqs"],
        "tokens": p["logprob_tokens"],
        "seconds": round(time.perf_counter() - t0, 2),
        "peak_gib": round(peak_bytes() / 2**30, 2),
        "finite": bool(torch.isfinite(scored.logprobs).all()),
    }
    result["total_s"] = round(time.perf_counter() - start, 1)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    trainer.acc.end_training()
    return result


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
