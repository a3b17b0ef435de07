"""What the model receives, token by token: the encoded prompt split into its parts and its exact
token sequence with long runs (media placeholders) collapsed."""

from __future__ import annotations

import itertools
import re
from collections import Counter

from mmzppo.data.sample import Sample
from mmzppo.data.vision import VisionSettings
from mmzppo.tools.inspector.report import clean

# --------------------------------------------------------------------------- tokens


PLACEHOLDER = re.compile(r"(?:<\|vision_start\|>)?<\|(?:image|video)_pad\|>(?:<\|vision_end\|>)?")
PARTS = ("question", "media", "candidates", "hint", "prefix", "instructions and chat template")


def part_spans(text: str, prompt, sample: Sample | None) -> list[tuple[int, int, str]]:
    """Character spans of the named parts of a chat-templated prompt."""
    from mmzppo.prompting.builders import question_text

    spans = [(m.start(), m.end(), "media") for m in PLACEHOLDER.finditer(text)]
    if sample is not None:
        q = question_text(sample)
        start = text.find(q)
        if start >= 0:
            spans.append((start, start + len(q), "question"))
    pos = 0
    for c in prompt.candidates:
        block = f"<candidate>\n{c.text}\n</candidate>"
        start = text.find(block, pos)
        if start >= 0:
            spans.append((start, start + len(block), "candidates"))
            pos = start + len(block)
    spans += [(m.start(), m.end(), "hint") for m in re.finditer(r"<hint>.*?</hint>", text, re.DOTALL)]
    if prompt.continue_final:
        from mmzppo.prompting.builders import text_content

        head = text_content(prompt.messages[-1]["content"])
        start = text.rfind(head)
        if head and start >= 0:
            spans.append((start, start + len(head), "prefix"))
    return spans


def token_counts(processor, prompt, vision: VisionSettings, sample: Sample | None = None) -> dict[str, int]:
    """Tokens the model receives for each part of the prompt, and the total.

    Text parts are counted exactly from the tokenizer's offsets in the chat-templated text;
    media are everything the processor puts in place of the image/video placeholders (pad
    tokens, vision start/end, video timestamps). The parts add up to `total`."""
    from mmzppo.policy.encoding import chat_text, encode_prompts

    text = chat_text(processor, prompt, vision)
    total = encode_prompts(processor, vision, [prompt])[0].length
    spans = part_spans(text, prompt, sample)
    tokenizer = getattr(processor, "tokenizer", processor)
    offsets = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
    counts = Counter()
    for a, b in offsets:
        part = next((name for s, e, name in spans if s <= a and b <= e and name == "media"), None)
        part = part or next((name for s, e, name in spans if s <= a < e), "instructions and chat template")
        if part != "media":
            counts[part] += 1
    counts["media"] = total - sum(counts.values())
    out = {p: counts[p] for p in PARTS if counts[p] or p in ("question", "media", "candidates")}
    out["total"] = total
    return out


def token_runs(processor, prompt, vision: VisionSettings, min_run: int = 3) -> list[tuple[str, int]]:
    """The exact token sequence the model receives (media expanded) as (token text, repeat
    count) pairs: runs of at least `min_run` equal tokens are collapsed into one pair."""
    from mmzppo.policy.encoding import encode_prompts

    ids = encode_prompts(processor, vision, [prompt])[0].inputs["input_ids"][0].tolist()
    tokenizer = getattr(processor, "tokenizer", processor)
    out: list[tuple[str, int]] = []
    for token_id, group in itertools.groupby(ids):
        n, text = len(list(group)), tokenizer.decode([token_id])
        out += [(text, n)] if n >= min_run else [(text, 1)] * n
    return out


def format_tokens(runs: list[tuple[str, int]]) -> str:
    """Plain text of `token_runs`: each token in brackets, newlines as \\n, runs as `tokxN`."""
    return "".join(f"[{t.replace(chr(10), chr(92) + 'n')}{f'x{n}' if n > 1 else ''}]" for t, n in runs)


def tokens_html(runs: list[tuple[str, int]]) -> str:
    """`token_runs` as HTML: alternating colours per token, collapsed runs in green."""
    spans = []
    for i, (t, n) in enumerate(runs):
        shown = t.replace("\n", "\\n")
        css = "mz-run" if n > 1 else f"mz-t{i % 2}"
        spans.append(f'<span class="{css}">{clean(shown)}{f"x{n}" if n > 1 else ""}</span>')
    return f'<div class="mz-tokens mz-report">{"".join(spans)}</div>'
