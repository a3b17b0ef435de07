"""The real dimensions of the Qwen3.5 students (0.8B, 2B, 4B, 9B), as `transformers` configs.

Real Qwen3.5 weights cannot be downloaded on the project's machines, but their shapes can be
built: `qwen35_config(size)` gives a `Qwen3_5Config` with the published dimensions, which
`python -m mmzppo.tools.models shape` fills with random weights and `mmzppo.train.preflight`
counts (on the meta device: no memory) to size a GPU run. Every number, and where it comes from:

* 0.8B text stack: the spec's section 8 (from the paper's public model scripts): 24 layers,
  hidden 1,024, FFN 3,584, 8 query / 2 KV heads of dim 256, Gated-DeltaNet in 3 of every 4
  layers with 16 key and 16 value heads of dim 128, vocabulary 248,320, tied embeddings.
* 2B, 4B and 9B text stacks (hidden, layers, FFN, heads, KV heads, linear value heads): the
  models' published config.json files as quoted in public repositories (none can be fetched
  here). The 9B's also equals transformers 5.19's `Qwen3_5TextConfig()` defaults.
  Shared by all four: head_dim 256, 16 linear key heads, linear head dims 128, conv kernel 4,
  partial rotary 0.25 with interleaved M-RoPE sections [11, 11, 10], rope theta 1e7.
* Tied embeddings: 0.8B tied (spec); 9B untied (its config.json); 2B and 4B ASSUMED tied like
  the 0.8B (Qwen3 and Qwen3-VL tie at those sizes; not confirmed for Qwen3.5).
* Vision towers (patch 16, 2x2 merge, temporal patch 2, 2,304 position embeddings): 0.8B depth
  12, hidden 768, MLP 3,072, 12 heads; 4B depth 24, hidden 1,024, MLP 4,096, 16 heads (both
  quoted from the published configs); 9B depth 27, hidden 1,152, MLP 4,304, 16 heads (quoted,
  and transformers' `Qwen3_5VisionConfig()` defaults); 2B ASSUMED equal to the 4B's (the
  Qwen3-VL-2B tower; not confirmed for Qwen3.5-2B). `out_hidden_size` is the text hidden size.

`layers` and `vision_depth` cut a stack shorter (tests and CPU checks: the 0.8B text stack
cut to 2 layers keeps one Gated-DeltaNet and one full-attention layer when it starts at the
pattern's end; see `layer_types`).
"""

from __future__ import annotations

from dataclasses import dataclass

QWEN35_VOCAB = 248_320


@dataclass(frozen=True)
class Qwen35Shape:
    """One student size: the text stack, the vision tower, whether the LM head is tied."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    linear_value_heads: int
    tied: bool
    vision_depth: int
    vision_hidden: int
    vision_intermediate: int
    vision_heads: int
    head_dim: int = 256
    linear_key_heads: int = 16
    linear_head_dim: int = 128


SIZES: dict[str, Qwen35Shape] = {
    "0.8b": Qwen35Shape(1024, 3584, 24, 8, 2, 16, True, 12, 768, 3072, 12),
    "2b": Qwen35Shape(2048, 6144, 24, 8, 2, 16, True, 24, 1024, 4096, 16),
    "4b": Qwen35Shape(2560, 9216, 32, 16, 4, 32, True, 24, 1024, 4096, 16),
    "9b": Qwen35Shape(4096, 12288, 32, 16, 4, 32, False, 27, 1152, 4304, 16),
}


def size_of(name: str) -> str | None:
    """'0.8b' for 'Qwen/Qwen3.5-0.8B' (any case), None for other names."""
    lowered = str(name).lower()
    return next((s for s in SIZES if lowered.endswith(f"qwen3.5-{s}")), None)


def layer_types(n: int) -> list[str]:
    """Qwen3.5's pattern: every 4th layer full attention, the others Gated-DeltaNet. A stack
    cut to n < 4 layers ends with a full-attention layer, so both kinds are present."""
    if n < 4:
        return ["linear_attention"] * (n - 1) + ["full_attention"]
    return ["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(n)]


def qwen35_config(
    size: str,
    *,
    layers: int | None = None,
    vision_depth: int | None = None,
    vocab_size: int = QWEN35_VOCAB,
    special_ids: dict[str, int] | None = None,
):
    """A `Qwen3_5Config` of `size` with the real dimensions (see the module docstring).

    special_ids: image_token_id, video_token_id, vision_start_token_id, vision_end_token_id,
    pad_token_id, eos_token_id of the tokenizer the model will be used with."""
    from transformers import Qwen3_5Config

    if size not in SIZES:
        raise ValueError(f"size: {size!r} is not one of {sorted(SIZES)}")
    s = SIZES[size]
    n_layers = layers or s.layers
    ids = dict(special_ids or {})
    text = dict(
        vocab_size=vocab_size,
        hidden_size=s.hidden,
        intermediate_size=s.intermediate,
        num_hidden_layers=n_layers,
        num_attention_heads=s.heads,
        num_key_value_heads=s.kv_heads,
        head_dim=s.head_dim,
        linear_key_head_dim=s.linear_head_dim,
        linear_value_head_dim=s.linear_head_dim,
        linear_num_key_heads=s.linear_key_heads,
        linear_num_value_heads=s.linear_value_heads,
        linear_conv_kernel_dim=4,
        max_position_embeddings=262_144,
        tie_word_embeddings=s.tied,
        layer_types=layer_types(n_layers),
        rope_parameters=dict(
            rope_type="default",
            rope_theta=10_000_000.0,
            partial_rotary_factor=0.25,
            mrope_section=[11, 11, 10],
            mrope_interleaved=True,
        ),
        pad_token_id=ids.pop("pad_token_id", None),
        eos_token_id=ids.pop("eos_token_id", None),
    )
    vision = dict(
        depth=s.vision_depth if vision_depth is None else vision_depth,
        hidden_size=s.vision_hidden,
        intermediate_size=s.vision_intermediate,
        num_heads=s.vision_heads,
        out_hidden_size=s.hidden,
        patch_size=16,
        spatial_merge_size=2,
        temporal_patch_size=2,
        num_position_embeddings=2304,
    )
    return Qwen3_5Config(text_config=text, vision_config=vision, tie_word_embeddings=s.tied, **ids)
