"""Random-weight Qwen3.5 students with the real dimensions: `python -m mmzppo.tools.models shape`.

`build_shape(out, "0.8b")` saves a `Qwen3_5ForConditionalGeneration` with the published
dimensions of Qwen3.5-0.8B (or 2B, 4B, 9B; every number and its source in
`mmzppo.policy.shapes`) and random weights, in bfloat16 (the real checkpoints' dtype), with a
real `Qwen3VLProcessor`. The tokenizer is a STAND-IN: the tiny models' byte-level BPE (about
2k tokens, Qwen's pre-tokenizer and special tokens), while the model's vocabulary is padded
to the real 248,320 rows, so the embedding, the LM head and every log-prob cost what they
cost at the real size (ids past the tokenizer's are never produced by it, but the softmax
runs over all of them). `layers` and `vision_depth` cut the stacks for CPU tests; the
widths stay real. Memory to build: about 2 bytes per parameter (0.8B: 1.7 GiB; 9B: 19 GiB).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mmzppo.policy.loading import count_parameters, suppressed_token_ids
from mmzppo.policy.shapes import QWEN35_VOCAB, SIZES, qwen35_config
from mmzppo.tools.tokenizer import tiny_processor, train_tokenizer


def build_shape(
    out: str | Path,
    size: str = "0.8b",
    *,
    layers: int | None = None,
    vision_depth: int | None = None,
    dtype: str = "bfloat16",
    seed: int = 0,
) -> Path:
    """Build, save and return the folder of a random-weight Qwen3.5 of `size` (see the module docstring)."""
    from transformers import GenerationConfig, Qwen3_5ForConditionalGeneration

    if size not in SIZES:
        raise ValueError(f"size: {size!r} is not one of {sorted(SIZES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer()
    processor = tiny_processor(tokenizer)
    vocab = tokenizer.get_vocab()
    ids = dict(
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
        pad_token_id=vocab["<|endoftext|>"],
        eos_token_id=vocab["<|im_end|>"],
    )
    config = qwen35_config(size, layers=layers, vision_depth=vision_depth, vocab_size=QWEN35_VOCAB, special_ids=ids)
    torch.manual_seed(seed)
    default = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))  # built in the saved dtype: no fp32 copy at 2x the memory
    try:
        model = Qwen3_5ForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    model.generation_config = GenerationConfig(
        eos_token_id=ids["eos_token_id"],
        pad_token_id=ids["pad_token_id"],
        suppress_tokens=suppressed_token_ids(tokenizer),
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    info = {
        "size": size,
        "layers": config.text_config.num_hidden_layers,
        "vision_depth": config.vision_config.depth,
        "parameters": count_parameters(model),
        "tied": bool(config.tie_word_embeddings),
        "vocab_size": QWEN35_VOCAB,
        "tokenizer": f"stand-in: {len(tokenizer)} tokens (the tiny models' BPE); model vocabulary padded to {QWEN35_VOCAB:,}",
        "dtype": dtype,
        "seed": seed,
    }
    (out / "mmzppo_shape.json").write_text(json.dumps(info, indent=2))
    return out
