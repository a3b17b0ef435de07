"""The tiny models' tokenizer (trained here, no model weights): save and reload give the same
ids, byte-level lossless, the chat and vision control tokens single ids."""

from __future__ import annotations

from mmzppo.policy.loading import VISION_CONTROL_TOKENS
from mmzppo.tools.models import train_tokenizer

TEXTS = [
    "How many digits can you find? Think inside <think> </think>, then \\boxed{6}.",
    "Résumé: 3.14159 × 2 = 6.28318; naïve café — 東京 ✓ 🙂",
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is $\\frac{1}{2}$?<|im_end|>",
    "  leading spaces\n\n\ttabs and CRLF\r\n end ",
]


def test_tokenizer_save_reload_same_ids(tmp_path):
    from transformers import AutoTokenizer

    tok = train_tokenizer()
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert type(again).__name__ == "Qwen3_5Tokenizer"
    for text in TEXTS:
        ids = tok(text)["input_ids"]
        assert again(text)["input_ids"] == ids
        assert again.decode(ids) == text  # byte-level BPE: lossless
    vocab = again.get_vocab()
    for special in VISION_CONTROL_TOKENS + ["<|im_start|>", "<|im_end|>"]:
        assert again(special)["input_ids"] == [vocab[special]], special
