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

Never a (tokens x vocabulary) tensor for a whole sequence. Qwen3.5's vocabulary has 248,320
entries: float32 logits, log-probs and their gradients over a 12,288-token answer would take
tens of GiB. So the model's own LM head computes ONE position (a forward pre-hook takes its
input, the final hidden states of the completion positions, and hands it the last row only),
and `HeadLogprob` applies the head to the real completion tokens `chunk_tokens` at a time:
logits, log-softmax, the target's log-prob and the entropy per chunk, keeping only (tokens,)
results; its backward recomputes each chunk's logits and forms the gradient in closed form
(d log p(y) / d logits = onehot(y) - p, over the temperature). Peak memory then grows with
the chunk, not the answer (`benchmarks/bench_logprob_memory.py`). The head must be a plain
linear map (`torch.nn.Linear`, with or without bias: Qwen3.5 and Llama-type models; anything
else is refused).

`full=True` (the distillation losses compare the student's and the teacher's next-token
distributions) returns `HeadStates`: the head's input at every real completion position, from
which `logprobs(rows)` computes the distributions of a chunk of rows (differentiable; the
objective recomputes them in backward with `torch.utils.checkpoint`) and `top_k(k)` the k
largest of every row, a chunk at a time.
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
CHUNK_TOKENS = 1024  # completion tokens per LM-head chunk (config `logprob_chunk_tokens`)


@dataclass
class HeadStates:
    """The LM head's input at the N real completion positions of a batch (row-major over the
    (B, T) positions where `LogprobBatch.mask` is True), to compute next-token distributions a
    chunk of rows at a time."""

    hidden: torch.Tensor  # (N, H) final hidden states; with grad when scored with grad
    weight: torch.Tensor  # (V, H) the LM head
    bias: torch.Tensor | None  # (V,) its bias, if it has one
    suppress: torch.Tensor  # token ids removed from the softmax
    temperature: float
    compute_dtype: torch.dtype  # the head's matmul dtype (bfloat16 under autocast)
    chunk_tokens: int = CHUNK_TOKENS

    def __len__(self) -> int:
        return self.hidden.shape[0]

    def chunks(self) -> list[slice]:
        return [slice(i, i + self.chunk_tokens) for i in range(0, len(self), self.chunk_tokens)]

    def logprobs(self, rows: slice, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """(n, V) float32 log-probs of rows `rows` (plain autograd: wrap it in a checkpoint);
        `hidden`: those rows of `self.hidden` as passed through the checkpoint."""
        hidden = self.hidden[rows] if hidden is None else hidden
        logits = head_logits(hidden, self.weight, self.bias, self.suppress, self.temperature, self.compute_dtype)
        return torch.log_softmax(logits, dim=-1)

    def top_k(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The k largest log-probs of every row and their token ids, (N, k) each (no grad)."""
        with torch.no_grad():
            parts = [self.logprobs(rows).topk(min(k, self.weight.shape[0]), dim=-1) for rows in self.chunks()]
        if not parts:
            return torch.zeros(0, k), torch.zeros(0, k, dtype=torch.long)
        return torch.cat([p.values for p in parts]), torch.cat([p.indices for p in parts])


@dataclass
class LogprobBatch:
    """Per-token results for B (prompt, completion) pairs, right padded to T = longest completion."""

    logprobs: torch.Tensor  # (B, T) float32 log p(token); 0 where mask is False; has grad if asked
    mask: torch.Tensor  # (B, T) bool, True on real completion tokens
    entropy: torch.Tensor  # (B, T) float32 entropy of the scoring distribution, detached, for logs
    head: HeadStates | None = None  # `full=True`: the distributions at the mask's positions, by chunk


def head_logits(hidden, weight, bias, suppress, temperature, compute_dtype) -> torch.Tensor:
    """float32 logits / temperature of hidden rows, the `suppress` ids at -inf."""
    logits = hidden.to(compute_dtype) @ weight.to(compute_dtype).T
    logits = (logits if bias is None else logits + bias.to(compute_dtype)).float()
    if temperature != 1.0:
        logits.div_(temperature)
    if suppress.numel():
        logits.index_fill_(-1, suppress, float("-inf"))
    return logits


class HeadLogprob(torch.autograd.Function):
    """log p(target) and the entropy of softmax(head(hidden) / temperature) for one chunk of
    rows, saving only the inputs: backward recomputes the chunk's logits."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, suppress, temperature, compute_dtype):
        logits = head_logits(hidden, weight, bias, suppress, temperature, compute_dtype)
        lse = torch.logsumexp(logits, dim=-1, keepdim=True)
        picked = logits.gather(-1, targets[:, None]).squeeze(-1) - lse.squeeze(-1)
        logp = logits.sub_(lse)
        probs = logp.exp()
        entropy = -probs.mul_(logp.clamp_min_(torch.finfo(logp.dtype).min)).sum(-1)  # 0 * log 0 = 0
        ctx.save_for_backward(hidden, weight, bias, targets, suppress, lse)
        ctx.temperature, ctx.compute_dtype = temperature, compute_dtype
        ctx.mark_non_differentiable(entropy)
        return picked, entropy

    @staticmethod
    def backward(ctx, grad_picked, _grad_entropy):
        hidden, weight, bias, targets, suppress, lse = ctx.saved_tensors
        probs = head_logits(hidden, weight, bias, suppress, ctx.temperature, ctx.compute_dtype).sub_(lse).exp_()
        grad = probs.mul_(-grad_picked[:, None])  # d/d logits of g * log p(y) = g * (onehot(y) - p)
        grad.scatter_add_(-1, targets[:, None], grad_picked[:, None])
        if ctx.temperature != 1.0:
            grad.div_(ctx.temperature)
        grad_bias = grad.sum(0).to(bias.dtype) if ctx.needs_input_grad[2] else None
        grad = grad.to(ctx.compute_dtype)
        grad_hidden = (grad @ weight.to(ctx.compute_dtype)).to(hidden.dtype) if ctx.needs_input_grad[0] else None
        grad_weight = (grad.T @ hidden.to(ctx.compute_dtype)).to(weight.dtype) if ctx.needs_input_grad[1] else None
        return grad_hidden, grad_weight, grad_bias, None, None, None, None


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


def output_head(model: torch.nn.Module) -> torch.nn.Linear:
    """The model's LM head, checked to be what `head_logits` computes (a linear map)."""
    head = model.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear):
        raise ValueError(f"{type(model).__name__}: chunked log-probs need a linear LM head, got {head!r}")
    return head


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
    chunk_tokens: int = CHUNK_TOKENS,
) -> LogprobBatch:
    """Log-probs of `completions[i]` given `prompts[i]` under `model`.

    tokenizer: the policy's (its pad id, and the vision control tokens to suppress).
    with_grad: build the autograd graph (the loss) or not (old / reference log-probs).
    micro_batch_size: pairs per forward pass (None = all); results are concatenated, so
        with grad the graphs of all micro-batches are kept until the caller's backward.
    temperature: the rollout's temperature (1.0 in the paper's training).
    suppress_tokens: ids excluded from the softmax; None = the vision control tokens that
        the rollout suppresses; [] = none.
    full: also return the head's input at every completion token (`head`), for whole
        distributions a chunk at a time (one micro-batch only).
    chunk_tokens: completion tokens per LM-head chunk (config `logprob_chunk_tokens`).
    """
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 to score, got {temperature}")
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be >= 1, got {chunk_tokens}")
    suppress = suppressed_token_ids(tokenizer) if suppress_tokens is None else list(suppress_tokens)
    t_max = max((len(c) for c in completions), default=0)
    if not prompts or t_max == 0:  # nothing to score
        empty = torch.zeros(len(prompts), 0)
        return LogprobBatch(empty, empty.bool(), empty)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    step = micro_batch_size or max(1, len(prompts))
    if full and step < len(prompts):
        raise ValueError("full=True scores one micro-batch (its HeadStates cover one batch)")
    parts = []
    grad = torch.enable_grad() if with_grad else torch.no_grad()
    with grad:
        for start in range(0, len(prompts), step):
            chunk, tokens = prompts[start : start + step], completions[start : start + step]
            inputs = collate(chunk, pad_id)
            parts.append(_forward(model, inputs, tokens, pad_id, t_max, suppress, temperature, chunk_tokens))
    logprobs, mask, entropy = (torch.cat(x, dim=0) for x in list(zip(*parts))[:3])
    return LogprobBatch(logprobs, mask, entropy, parts[0][3] if full else None)


def _forward(model, inputs, completions, pad_id, t_max, suppress, temperature, chunk_tokens):
    """One forward pass; results right padded to `t_max` (shared by all micro-batches)."""
    device = next(model.parameters()).device
    inputs = append_completions(inputs, completions, pad_id, t_max)
    if "token_type_ids" in inputs and "token_type_ids" not in inspect.signature(model.forward).parameters:
        inputs.pop("token_type_ids")
    if inputs.get("image_grid_thw") is None and inputs.get("video_grid_thw") is None:
        inputs["position_ids"] = text_position_ids(inputs["attention_mask"])
    inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    head, captured = output_head(model), []

    def last_row_only(module, args):  # keep the head's input; let it compute one position
        captured.append(args[0])
        return (args[0][:, -1:], *args[1:])

    hook = head.register_forward_pre_hook(last_row_only)
    try:
        # the hidden states at the last t_max + 1 positions; those before the last predict the completion
        out = model(**inputs, logits_to_keep=t_max + 1, use_cache=False)
    finally:
        hook.remove()
    mask = inputs["attention_mask"][:, -t_max:].bool()
    hidden = captured[0][:, :-1][mask]  # (N, H): only real completion tokens are scored
    targets = inputs["input_ids"][:, -t_max:][mask]
    states = HeadStates(
        hidden,
        head.weight,
        head.bias,
        torch.as_tensor(suppress, dtype=torch.long, device=device),
        temperature,
        torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else head.weight.dtype,
        chunk_tokens,
    )
    picked, entropy = [], []
    for rows in states.chunks():
        lp, ent = HeadLogprob.apply(
            hidden[rows], head.weight, head.bias, targets[rows], states.suppress, temperature, states.compute_dtype
        )
        picked.append(lp)
        entropy.append(ent)
    # the model's own (one-position) output joins the graph with weight 0: under FSDP2 its root
    # unit's backward hooks run from it
    zero = out.logits.float().sum() * 0.0
    picked = (torch.cat(picked) if picked else hidden.new_zeros(0, dtype=torch.float32)) + zero
    entropy = torch.cat(entropy) if entropy else picked.detach()
    blank = torch.zeros(mask.shape, dtype=torch.float32, device=device)
    return blank.masked_scatter(mask, picked), mask, blank.masked_scatter(mask, entropy), states
