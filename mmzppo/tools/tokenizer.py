"""The tiny models' tokenizer and processor: a byte-level BPE trained offline with Qwen's own
pre-tokenizer, and a real `Qwen3VLProcessor` around it.

Shared by the tiny random-weight models (`mmzppo.tools.models`) and the real-shape ones
(`mmzppo.tools.shape`, where it is the stand-in tokenizer). One tokenizer for every size and
seed, so a tiny teacher and a tiny student share a vocabulary.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from mmzppo.data.vision import TINY_VISION, VisionSettings
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

TINY_VOCAB = 2048  # upper bound; the built-in corpus yields about 1.8k tokens


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
