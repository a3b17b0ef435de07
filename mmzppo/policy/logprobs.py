"""Log-probs of sampled completions under the current policy: the log pi_theta(o_t) every loss reads.

`completion_logprobs(model, tokenizer, prompts, completions, with_grad=...)` pairs encoded
prompt i (`mmzppo.policy.encoding.EncodedPrompt`) with completion i (the caller repeats a
group's prompt), builds one batch

    [left pad | prompt (text, image/video tokens) | completion | right pad]

and reads, from one forward pass, the log-prob of every completion token under the logits at
the position before it. What makes this equal to what the sampler saw:

* the attention mask is 1 on the prompt and the real completion tokens, 0 on both pads;
* `mm_token_type_ids` (Qwen3.5's token types: text 0, image 1, video 2) is extended with 0
  for the completion, so M-RoPE treats the completion as text following the media;
* M-RoPE positions are computed by the model from the attention mask when the batch has
  media; for text-only batches we pass positions counted over the mask (as `generate`
  does), so left padding does not shift them;
* the vision control tokens are masked out of the softmax by default, exactly as the
  rollout suppresses them, so a rollout at temperature 1 / top-p 1 / top-k 0 records the
  same log-probs (to ~1e-5 in fp32) and the PPO ratio starts at 1;
* `temperature` divides the logits as the sampler did (top-p / top-k and the presence
  penalty are not re-applied: training rollouts use neither).

Only the logits of the completion positions are computed (`logits_to_keep`), so a long
image prompt does not cost a (prompt length x vocab) tensor. `full=True` also returns the
whole next-token distribution at every completion position (the distillation losses
compare the student's and the teacher's), as log-probs under the same suppression and
temperature.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mmzppo.policy.encoding import EncodedPrompt, collate
from mmzppo.policy.loading import suppressed_token_ids

# Per-token tensors of the processor output that must grow with the completion (value for it).
PER_TOKEN_FILL = {"mm_token_type_ids": 0, "token_type_ids": 0}


@dataclass
class LogprobBatch:
    """Per-token results for B (prompt, completion) pairs, right padded to T = longest completion."""

    logprobs: torch.Tensor  # (B, T) float32 log p(token); 0 where mask is False; has grad if asked
    mask: torch.Tensor  # (B, T) bool, True on real completion tokens
    entropy: torch.Tensor  # (B, T) float32 entropy of the scoring distribution, detached, for logs
    distributions: torch.Tensor | None = None  # (B, T, V) log-probs of every token (`full=True`), else None


def append_completions(inputs: dict, completions: list[list[int]], pad_id: int, length: int | None = None) -> dict:
    """Processor output of left-padded prompts + completions, right padded to `length`
    (default: the longest completion).

    input_ids get the completion tokens (pad after), attention_mask 1/0, the token-type
    tensors 0; media tensors (pixel_values, grid_thw) pass through unchanged.
    """
    ids = inputs["input_ids"]
    batch = ids.shape[0]
    t_max = max((len(c) for c in completions), default=0) if length is None else length
    if len(completions) != batch:
        raise ValueError(f"{len(completions)} completions for {batch} prompts")
    tail = torch.full((batch, t_max), pad_id, dtype=ids.dtype)
    tail_mask = torch.zeros((batch, t_max), dtype=inputs["attention_mask"].dtype)
    for i, c in enumerate(completions):
        tail[i, : len(c)] = torch.as_tensor(c, dtype=ids.dtype)
        tail_mask[i, : len(c)] = 1
    out = dict(inputs)
    out["input_ids"] = torch.cat([ids, tail.to(ids.device)], dim=1)
    out["attention_mask"] = torch.cat([inputs["attention_mask"], tail_mask.to(ids.device)], dim=1)
    for key, fill in PER_TOKEN_FILL.items():
        if key in inputs:
            extra = torch.full((batch, t_max), fill, dtype=inputs[key].dtype, device=inputs[key].device)
            out[key] = torch.cat([inputs[key], extra], dim=1)
    return out


def text_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens only (what `generate` uses), 0 on padding."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def token_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, suppress: list[int], temperature: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log p(target), the entropy and the full log-probs at each position, under
    softmax(logits / temperature) with the `suppress` ids removed (as the sampler removed them)."""
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    if suppress:
        idx = torch.as_tensor(suppress, device=logits.device)
        logits = logits.index_fill(-1, idx, float("-inf"))
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():
        entropy = torch.special.entr(logp.exp()).sum(-1)  # entr(0) = 0 at suppressed tokens
    return picked, entropy, logp


def completion_logprobs(
    model: torch.nn.Module,
    tokenizer,
    prompts: Sequence[EncodedPrompt],
    completions: list[list[int]],
    *,
    with_grad: bool,
    micro_batch_size: int | None = None,
    temperature: float = 1.0,
    suppress_tokens: list[int] | None = None,
    full: bool = False,
) -> LogprobBatch:
    """Log-probs of `completions[i]` given `prompts[i]` under `model`.

    tokenizer: the policy's (its pad id, and the vision control tokens to suppress).
    with_grad: build the autograd graph (the loss) or not (old / reference log-probs).
    micro_batch_size: pairs per forward pass (None = all); results are concatenated, so
        with grad the graphs of all micro-batches are kept until the caller's backward.
    temperature: the rollout's temperature (1.0 in the paper's training).
    suppress_tokens: ids excluded from the softmax; None = the vision control tokens that
        the rollout suppresses; [] = none.
    full: also return every position's whole log-prob distribution (`distributions`).
    """
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 to score, got {temperature}")
    suppress = suppressed_token_ids(tokenizer) if suppress_tokens is None else list(suppress_tokens)
    t_max = max((len(c) for c in completions), default=0)
    if not prompts or t_max == 0:  # nothing to score
        empty = torch.zeros(len(prompts), 0)
        return LogprobBatch(empty, empty.bool(), empty, torch.zeros(len(prompts), 0, 0) if full else None)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    step = micro_batch_size or max(1, len(prompts))
    parts = []
    grad = torch.enable_grad() if with_grad else torch.no_grad()
    with grad:
        for start in range(0, len(prompts), step):
            chunk, tokens = prompts[start : start + step], completions[start : start + step]
            parts.append(_forward(model, collate(chunk, pad_id), tokens, pad_id, t_max, suppress, temperature, full))
    logprobs, mask, entropy, distributions = (torch.cat(x, dim=0) if x[0] is not None else None for x in zip(*parts))
    return LogprobBatch(logprobs, mask, entropy, distributions)


def _forward(model, inputs, completions, pad_id, t_max, suppress, temperature, full):
    """One forward pass; results right padded to `t_max` (shared by all micro-batches)."""
    device = next(model.parameters()).device
    inputs = append_completions(inputs, completions, pad_id, t_max)
    if "token_type_ids" in inputs and "token_type_ids" not in inspect.signature(model.forward).parameters:
        inputs.pop("token_type_ids")
    if inputs.get("image_grid_thw") is None and inputs.get("video_grid_thw") is None:
        inputs["position_ids"] = text_position_ids(inputs["attention_mask"])
    inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    # logits at the positions that predict completion tokens: the last t_max + 1 minus the last one
    logits = model(**inputs, logits_to_keep=t_max + 1).logits[:, :-1]
    targets = inputs["input_ids"][:, -t_max:]
    mask = inputs["attention_mask"][:, -t_max:].bool()
    logprobs, entropy, distributions = token_logprobs(logits, targets, suppress, temperature)
    return logprobs.masked_fill(~mask, 0.0), mask, entropy.masked_fill(~mask, 0.0), distributions if full else None
