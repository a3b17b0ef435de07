"""Prompts as the model takes them: the chat template, the media, the processor, once per prompt.

A `Prompt` (`mmzppo.prompting`) only describes a conversation. `encode_prompts(processor,
vision, prompts)` makes each one an `EncodedPrompt`: the text after the chat template, its
media read and sized under the run's `VisionSettings` (`mmzppo.data.media.load_media`, the one
place they are applied), and the processor's output for that prompt alone (token ids with the
media placeholders expanded, pixel values, grids, token types). A training step encodes each
prompt once, when it generates; the old-log-prob pass and every update then `collate` the same
encodings (a group's G rollouts share one), so no prompt is encoded twice in a step.

`collate(encoded, pad_id)` left pads a batch (the pad id, attention 0, token type 0) and
concatenates the media tensors in batch order: the tensors the processor gives for the whole
batch at once (tests/integration/test_encoding.py checks them equal), so generation and scoring
see exactly the inputs a batched processor call would have made.

Text-only models (a tokenizer as `processor`, `vision` None) take no media: a prompt with an
image or a video is a `MediaError`, as is any unreadable file (it names the sample, the field
and the file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

import mmzppo  # noqa: F401  (torchvision compat before qwen-vl-utils imports torchvision)
from mmzppo.data.media import MediaError, load_media
from mmzppo.data.vision import VisionSettings
from mmzppo.prompting.builders import Prompt, text_content

# Per-token tensors of a processor output, and what pads them on the left.
PAD_ATTENTION = {"attention_mask": 0, "mm_token_type_ids": 0, "token_type_ids": 0}


@dataclass(eq=False)
class EncodedPrompt:
    """One prompt as the model takes it, made once and read by generation and every forward."""

    uid: str  # the prompt's (its question's) uid, for error messages
    text: str  # the conversation after the chat template
    images: list  # its images (PIL), sized under the VisionSettings, in order (a vLLM request sends them)
    videos: list  # its videos as (frames (T, C, H, W), metadata), in order
    inputs: dict[str, torch.Tensor]  # the processor's output for this prompt alone (a batch of 1, no padding)

    @property
    def length(self) -> int:
        """Tokens, image and video tokens included."""
        return int(self.inputs["input_ids"].shape[1])


def chat_text(processor, prompt: Prompt, vision: VisionSettings | None) -> str:
    """One conversation through the chat template (continued, not closed, when it ends in an
    assistant prefix). A text-only model (`vision` None) takes no media and plain-string content."""
    conversation = prompt.messages
    if vision is None:
        if any(
            isinstance(m["content"], list) and any(p.get("type") != "text" for p in m["content"]) for m in conversation
        ):
            raise MediaError(prompt.uid, "images/video", "-", "this model is text-only and cannot take media")
        conversation = [{**m, "content": text_content(m["content"])} for m in conversation]
    cont = prompt.continue_final
    return processor.apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=not cont, continue_final_message=cont
    )


def prompt_media(prompt: Prompt, vision: VisionSettings) -> tuple[list, list]:
    """A conversation's images (PIL, sized under `vision`) and videos ((T, C, H, W) tensor,
    metadata), in order."""
    images, videos, n_image = [], [], 0
    for message in prompt.messages:
        if isinstance(message["content"], str):
            continue
        for part in message["content"]:
            if part.get("type") not in ("image", "video"):
                continue
            field_name = f"images[{n_image}]" if part["type"] == "image" else "video"
            kind, *media = load_media(part, vision, prompt.uid, field_name)
            if kind == "image":
                images.append(media[0])
                n_image += 1
            else:
                videos.append((media[0], media[1]))
    return images, videos


def processor_inputs(processor, text: str, images: list, videos: list) -> dict[str, torch.Tensor]:
    """The processor's output for one conversation whose media are loaded and sized already
    (so the processor's own resizing and frame sampling are off)."""
    kwargs: dict[str, Any] = dict(text=[text], return_tensors="pt")
    if images:
        kwargs.update(images=images, images_kwargs={"do_resize": False})
    if videos:
        video_kwargs = {"do_resize": False, "do_sample_frames": False, "video_metadata": [m for _, m in videos]}
        if hasattr(getattr(processor, "video_processor", None), "cap_pixels_per_frame"):
            # transformers >= 5.19 warns unless told: the cap only changes its own resizing,
            # which is off (qwen-vl-utils already sized the frames under `vision`)
            video_kwargs["cap_pixels_per_frame"] = False
        kwargs.update(videos=[v for v, _ in videos], videos_kwargs=video_kwargs)
    return dict(processor(**kwargs))


def encode_prompts(processor, vision: VisionSettings | None, prompts: Sequence[Prompt]) -> list[EncodedPrompt]:
    """Each prompt through the chat template, its media and the processor (see the module docstring)."""
    out = []
    for prompt in prompts:
        text = chat_text(processor, prompt, vision)
        if vision is None:
            inputs = dict(processor([text], return_tensors="pt", add_special_tokens=False))
            out.append(EncodedPrompt(prompt.uid, text, [], [], inputs))
            continue
        images, videos = prompt_media(prompt, vision)
        out.append(EncodedPrompt(prompt.uid, text, images, videos, processor_inputs(processor, text, images, videos)))
    return out


def encoded(processor, vision: VisionSettings | None, prompts: Sequence[Prompt | EncodedPrompt]) -> list[EncodedPrompt]:
    """`prompts` as encodings: `Prompt`s are encoded here, `EncodedPrompt`s (made earlier in the
    step) are taken as they are."""
    todo = [p for p in prompts if not isinstance(p, EncodedPrompt)]
    made = iter(encode_prompts(processor, vision, todo))
    return [p if isinstance(p, EncodedPrompt) else next(made) for p in prompts]


def collate(prompts: Sequence[EncodedPrompt], pad_id: int) -> dict[str, torch.Tensor]:
    """One left-padded batch of encoded prompts (see the module docstring)."""
    length = max(p.length for p in prompts)
    keys = list(dict.fromkeys(k for p in prompts for k in p.inputs))
    out: dict[str, torch.Tensor] = {}
    for key in keys:
        if key == "input_ids" or key in PAD_ATTENTION:
            fill = pad_id if key == "input_ids" else PAD_ATTENTION[key]
            rows = []
            for p in prompts:
                row = p.inputs[key][0]
                rows.append(torch.nn.functional.pad(row, (length - row.shape[0], 0), value=fill))
            out[key] = torch.stack(rows)
        else:  # media tensors: pixel values, grids, per-video values, in batch order
            out[key] = torch.cat([p.inputs[key] for p in prompts if key in p.inputs], dim=0)
    return out
