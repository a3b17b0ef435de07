"""Will a run config fit its GPUs? `python -m mmzppo.train.preflight --config C [--gpus N] [--gpu-memory 80GiB]`.

Prints, per GPU, what the update and the rollout phases hold (weights, gradients, optimizer
state, activations with and without checkpointing, the log-prob chunk, the colocated vLLM
engine's weights and KV cache), the largest `micro_batch_tokens` that fits, and a verdict;
exits 1 naming each reason when the config cannot fit. `python -m mmzppo.train` runs it
first and refuses such a config (`--no-preflight` overrides).

The model is counted, not loaded: its config (a local folder's config.json, or the real
dimensions of `Qwen/Qwen3.5-{0.8B,2B,4B,9B}` from `mmzppo.policy.shapes` when the hub is
out of reach) is instantiated on torch's meta device, which allocates nothing. The estimate:

* state, bytes per parameter: `bf16-mixed` 4 (fp32 master) + 4 (fp32 gradient) + 8 (AdamW's
  two fp32 moments) + 2 (the bf16 compute copy: under FSDP2 the gathered root unit and two
  decoder layers, replicated a whole copy); `bf16` 2 + 2 + 4; `fp32` 4 + 4 + 8. Under FSDP
  (several GPUs, `sharding` not 'none') the language model's share is divided by the GPUs;
  the vision tower stays replicated (`mmzppo.policy.parallel`).
* activations of one micro-batch of T tokens (T = `micro_batch_tokens`, else
  `micro_batch_size` x (prompt + `max_new_tokens`)): per token and layer, the values autograd
  keeps, counted from the layer's widths: full attention 4h + 8q + 6kv + 5f, Gated-DeltaNet
  4h + 5f + 10.6 c (h hidden, q = heads x head_dim, kv = KV heads x head_dim, f FFN, c the
  DeltaNet's conv width 2 x key + value), times the bytes a value takes: 4 in fp32; in bf16
  2.4 (full attention) and 3.1 (DeltaNet, whose torch path computes in fp32). The
  coefficients were read off transformers' Qwen3.5 layers (torch path, CPU) with
  `saved_tensors_hooks`, and the totals are checked against measured CPU peaks by
  `benchmarks/bench_shape.py` (within 25%); fla's GPU kernels keep less, so on a GPU with
  them this is an upper bound. With checkpointing: each layer's input (h values, fp32) plus
  twice the largest layer's activations (the one being recomputed, and its gradients).
* the log-prob pass (`mmzppo.policy.logprobs.HeadLogprob`, `logprob_chunk_tokens` at a time):
  8 bytes per (token x vocabulary entry) of a chunk in the forward (float32 logits and
  probabilities), or in the backward half that plus the LM head's float32 weight gradient
  (vocabulary x hidden x 4) before it is added to `.grad`, whichever is larger.
* the colocated vLLM engine (`rollout_backend: vllm`): `vllm_gpu_memory_utilization` of the
  GPU (or its weights in bf16 + `vllm_kv_cache_gb`); its KV cache is what is left after its
  bf16 weights and 1 GiB of overhead, and must hold one `vllm_max_model_len` sequence. With
  `vllm_sleep` the update phase keeps only 1 GiB of it (CUDA context and graphs).
* 10% of the GPU is kept free (allocator fragmentation, NCCL buffers, the CUDA context).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mmzppo.policy.shapes import SIZES, qwen35_config, size_of
from mmzppo.train.config import Config, ConfigError

GiB = 2**30
LOGPROB_BYTES = 8  # per (token x vocabulary entry) of a chunk: its float32 logits and probabilities
BYTES_PER_VALUE = {"fp32": (4.0, 4.0), "bf16-mixed": (2.4, 3.1), "bf16": (2.4, 3.1)}  # (full, DeltaNet)
STATE_BYTES = {"bf16-mixed": (4, 4, 8), "bf16": (2, 2, 4), "fp32": (4, 4, 8)}  # weights, grads, AdamW
ENGINE_OVERHEAD = 1 * GiB
HEADROOM = 0.10
PROMPT_TOKENS = 4096  # the paper's bound on plain prompts (text + image tokens); --prompt-tokens


@dataclass
class ModelCount:
    """A model's parameter counts and the widths the activation estimate needs."""

    language: int  # parameters of the language model (embeddings, LM head, decoder layers)
    vision: int
    largest_layer: int
    root: int  # language-model parameters outside the decoder layers (the FSDP root unit)
    vocab: int
    hidden: int
    layers: list[str]
    full_values: float  # values kept per token by a full-attention layer
    linear_values: float  # ... by a Gated-DeltaNet layer
    kv_bytes_per_token: int  # engine KV cache, bf16, full-attention layers
    state_bytes_per_sequence: int  # engine recurrent + conv state, DeltaNet layers


def model_config(student: str):
    """The student's transformers config: its folder's config.json, or a known Qwen3.5 size."""
    from transformers import AutoConfig

    if Path(student).is_dir():
        return AutoConfig.from_pretrained(student)
    size = size_of(student)
    if size is None:
        raise ConfigError(f"student: {student!r} is neither a local folder nor one of Qwen/Qwen3.5-{list(SIZES)}")
    return qwen35_config(size)


def count(config) -> ModelCount:
    """Count `config`'s parameters on the meta device (nothing allocated)."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    with torch.device("meta"):
        if getattr(config, "vision_config", None) is not None:
            model = AutoModelForImageTextToText.from_config(config)
        else:
            model = AutoModelForCausalLM.from_config(config)
    text = getattr(config, "text_config", config)
    inner = getattr(model, "model", model)
    visual = getattr(inner, "visual", None)
    unique = {id(p): p for p in model.parameters()}
    vision_ids = {id(p) for p in visual.parameters()} if visual is not None else set()
    layers = list(getattr(inner, "language_model", inner).layers)
    layer_sizes = [sum(p.numel() for p in layer.parameters()) for layer in layers]
    language = sum(p.numel() for i, p in unique.items() if i not in vision_ids)
    h, f = text.hidden_size, text.intermediate_size
    head_dim = getattr(text, "head_dim", None) or h // text.num_attention_heads
    q, kv = text.num_attention_heads * head_dim, text.num_key_value_heads * head_dim
    types = list(getattr(text, "layer_types", None) or ["full_attention"] * len(layers))
    conv = 0
    state = 0
    if "linear_attention" in types:
        key = text.linear_num_key_heads * text.linear_key_head_dim
        value = text.linear_num_value_heads * text.linear_value_head_dim
        conv = 2 * key + value
        per_layer = text.linear_num_value_heads * text.linear_key_head_dim * text.linear_value_head_dim * 4
        state = types.count("linear_attention") * (per_layer + conv * text.linear_conv_kernel_dim * 2)
    return ModelCount(
        language=language,
        vision=sum(unique[i].numel() for i in vision_ids),
        largest_layer=max(layer_sizes),
        root=language - sum(layer_sizes),
        vocab=text.vocab_size,
        hidden=h,
        layers=types,
        full_values=4 * h + 8 * q + 6 * kv + 5 * f,
        linear_values=4 * h + 5 * f + 10.6 * conv,
        kv_bytes_per_token=types.count("full_attention") * 2 * kv * 2,
        state_bytes_per_sequence=state,
    )


def precision_of(config: Config) -> str:
    """The run's precision (`precision`; older configs without the key: from `dtype`)."""
    precision = getattr(config, "precision", None)
    if precision:
        return precision
    return "fp32" if config.dtype == "float32" else "bf16"


@dataclass
class Estimate:
    """Bytes per GPU, by part; `problems` lists why it does not fit (empty: it fits)."""

    gpus: int
    gpu_memory: int
    parts: dict[str, float] = field(default_factory=dict)
    update_peak: float = 0.0
    rollout_peak: float = 0.0
    max_micro_batch_tokens: int = 0
    micro_batch_tokens: int = 0  # what the config's micro-batches hold (resolved)
    problems: list[str] = field(default_factory=list)


def activations(m: ModelCount, tokens: int, precision: str, checkpointing: bool) -> float:
    full_b, lin_b = BYTES_PER_VALUE[precision]
    per_layer = [m.full_values * full_b if t == "full_attention" else m.linear_values * lin_b for t in m.layers]
    if checkpointing:
        return tokens * (len(m.layers) * m.hidden * 4 + 2 * max(per_layer))
    return tokens * sum(per_layer)


def logprob_bytes(m: ModelCount, completion_tokens: int, chunk: int) -> float:
    return LOGPROB_BYTES * m.vocab * (min(chunk, completion_tokens) if chunk > 0 else completion_tokens)


def pass_peak(m: ModelCount, tokens: int, completion: int, chunk: int, precision: str, ckpt: bool) -> float:
    """What one forward + backward adds at its peak on top of the weights and the gradients
    already held: the activations, and either the head's forward over a chunk (logits and
    probabilities, float32) or its backward (the chunk's probabilities recomputed in place, and
    the LM head's float32 weight gradient before it is added to `.grad`)."""
    forward = logprob_bytes(m, completion, chunk)
    backward = forward / 2 + 4 * m.vocab * m.hidden
    return activations(m, tokens, precision, ckpt) + max(forward, backward)


def resolved(config: Config, gpus: int) -> Config:
    """The config as the trainer runs it on `gpus` processes (`resolve_auto`: a null
    micro_batch_tokens derived; `sharding: auto` is FSDP on several GPUs, as the GPU configs'
    headers launch them with configs/accelerate/fsdp.yaml)."""
    from mmzppo.train.config_files import resolve_auto

    return resolve_auto(config, fsdp_launch=gpus > 1 and config.sharding != "none")


def estimate(config: Config, gpus: int, gpu_memory: int, m: ModelCount, prompt_tokens: int = PROMPT_TOKENS) -> Estimate:
    c = resolved(config, gpus)
    precision = precision_of(c)
    checkpointing = bool(getattr(c, "gradient_checkpointing", False))
    chunk = int(getattr(c, "logprob_chunk_tokens", 0) or 0)
    sharded = gpus > 1 and c.sharding == "fsdp"
    w_b, g_b, o_b = STATE_BYTES[precision]
    share = m.language / gpus if sharded else m.language
    held = share + m.vision
    e = Estimate(gpus, gpu_memory)
    e.parts["weights"] = held * w_b
    e.parts["gradients"] = held * g_b
    e.parts["optimizer state"] = held * o_b
    if precision == "bf16-mixed":
        gathered = (m.root + 2 * m.largest_layer + m.vision) if sharded else (m.language + m.vision)
        e.parts["bf16 compute copy"] = 2 * gathered
    sequence = prompt_tokens + c.max_new_tokens
    tokens = c.micro_batch_tokens if c.micro_batch_tokens > 0 else c.micro_batch_size * sequence
    tokens = max(tokens, sequence)  # a sequence longer than the budget goes alone
    e.micro_batch_tokens = tokens
    completion = c.max_new_tokens * max(1, tokens // sequence)
    e.parts[f"activations ({tokens:,} tokens, checkpointing)"] = activations(m, tokens, precision, True)
    e.parts[f"activations ({tokens:,} tokens, no checkpointing)"] = activations(m, tokens, precision, False)
    e.parts["log-prob chunk" if chunk else "log-probs (whole completions)"] = logprob_bytes(m, completion, chunk)
    state = sum(e.parts[k] for k in ("weights", "gradients", "optimizer state")) + e.parts.get("bf16 compute copy", 0)
    engine = engine_awake = 0.0
    if c.rollout_backend == "vllm":
        weights = 2 * (m.language + m.vision)
        if c.vllm_kv_cache_gb is not None:
            engine_awake = weights + ENGINE_OVERHEAD + c.vllm_kv_cache_gb * GiB
        else:
            engine_awake = c.vllm_gpu_memory_utilization * gpu_memory
        kv = engine_awake - weights - ENGINE_OVERHEAD
        e.parts["vLLM engine (awake)"] = engine_awake
        e.parts["vLLM KV cache"] = max(kv, 0.0)
        max_len = c.vllm_max_model_len or sequence
        need = max_len * m.kv_bytes_per_token + m.state_bytes_per_sequence
        if kv < need:
            e.problems.append(
                f"the vLLM engine's KV cache ({kv / GiB:.1f} GiB after its {weights / GiB:.1f} GiB of weights) "
                f"cannot hold one {max_len:,}-token sequence ({need / GiB:.2f} GiB): raise vllm_gpu_memory_utilization"
            )
        engine = ENGINE_OVERHEAD if c.vllm_sleep else engine_awake
    budget = gpu_memory * (1 - HEADROOM)
    e.update_peak = state + engine + pass_peak(m, tokens, completion, chunk, precision, checkpointing)
    e.rollout_peak = state + engine_awake
    free = budget - state - engine - pass_peak(m, 0, c.max_new_tokens, chunk, precision, checkpointing)
    per_token = activations(m, 1, precision, checkpointing)
    e.max_micro_batch_tokens = max(0, int(free / per_token)) if per_token else 0
    where = f"{gpus} GPU(s) of {gpu_memory / GiB:.0f} GiB"
    if e.rollout_peak > budget:
        e.problems.append(
            f"rollout phase needs {e.rollout_peak / GiB:.1f} GiB per GPU on {where} (training state "
            f"{state / GiB:.1f} + engine {engine_awake / GiB:.1f}): more GPUs, or a smaller vllm_gpu_memory_utilization"
        )
    if e.update_peak > budget:
        fix = "gradient_checkpointing: true, " if not checkpointing else ""
        e.problems.append(
            f"update phase needs {e.update_peak / GiB:.1f} GiB per GPU on {where}, {budget / GiB:.1f} usable: "
            f"{fix}micro_batch_tokens <= {e.max_micro_batch_tokens:,}, logprob_chunk_tokens, or more GPUs"
        )
    elif e.max_micro_batch_tokens < sequence:
        e.problems.append(
            f"one {sequence:,}-token sequence does not fit its activations ({e.max_micro_batch_tokens:,} tokens do)"
        )
    return e


def parse_memory(text: str) -> int:
    """'80GiB', '80GB', '81920MiB', '85899345920' -> bytes (GB read as GiB: GPU makers' '80 GB' is 80 GiB)."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)(i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"--gpu-memory: {text!r} is not a size such as 80GiB")
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[match.group(2).upper()]
    return int(float(match.group(1)) * scale)


def local_memory() -> tuple[int, str]:
    """This machine's device memory: the first GPU's, else the host's RAM (a CPU run)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory, torch.cuda.get_device_name(0)
    import psutil

    return psutil.virtual_memory().total, "CPU (host RAM)"


def report(config: Config, e: Estimate, m: ModelCount, device: str) -> str:
    lines = [
        f"preflight: {config.name} ({config.student}, {precision_of(config)}, "
        f"{(m.language + m.vision) / 1e9:.2f} B parameters) on {e.gpus} x {device} of {e.gpu_memory / GiB:.0f} GiB",
    ]
    lines += [f"  {name:<48} {value / GiB:8.2f} GiB per GPU" for name, value in e.parts.items()]
    lines += [
        f"  {'update phase peak':<48} {e.update_peak / GiB:8.2f} GiB",
        f"  {'rollout phase peak':<48} {e.rollout_peak / GiB:8.2f} GiB",
        f"  largest micro_batch_tokens that fits: {e.max_micro_batch_tokens:,} "
        f"(the config's micro-batches: {e.micro_batch_tokens:,}); {int(HEADROOM * 100)}% of the GPU kept free",
    ]
    lines.append(
        "  verdict: fits" if not e.problems else "  verdict: DOES NOT FIT\n" + "\n".join(f"  - {p}" for p in e.problems)
    )
    return "\n".join(lines)


def check(config: Config, gpus: int | None = None, gpu_memory: int | None = None, prompt_tokens: int = PROMPT_TOKENS):
    """(the estimate, its report) for `config` on `gpus` devices of `gpu_memory` bytes each
    (default: this machine's: its GPUs, or the host's RAM)."""
    device = "GPU"
    if gpu_memory is None:
        gpu_memory, device = local_memory()
    gpus = gpus or max(1, torch.cuda.device_count())
    m = count(model_config(config.student))
    e = estimate(config, gpus, gpu_memory, m, prompt_tokens)
    return e, report(config, e, m, device)


def main(argv: list[str] | None = None) -> None:
    from mmzppo.train.config_files import load_config

    parser = argparse.ArgumentParser(prog="python -m mmzppo.train.preflight", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="YAML run config")
    parser.add_argument("--gpus", type=int, default=None, help="GPUs the run uses (default: this machine's)")
    parser.add_argument("--gpu-memory", default=None, help="memory per GPU, e.g. 80GiB (default: this machine's)")
    parser.add_argument("--prompt-tokens", type=int, default=PROMPT_TOKENS, help="longest prompt, in tokens")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, as for python -m mmzppo.train")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
        e, text = check(
            config, args.gpus, parse_memory(args.gpu_memory) if args.gpu_memory else None, args.prompt_tokens
        )
    except (ConfigError, ValueError) as err:
        sys.exit(f"preflight: {err}")
    print(text)
    if e.problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
