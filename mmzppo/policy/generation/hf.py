"""Rollouts with transformers `generate`: the reference backend, and the one that runs on CPU.

`HFRollout(policy).generate(prompts, n, sampling)` draws `n` completions for every prompt
(a GRPO group) and records, for every sampled token, its log-prob under the distribution it
was drawn from. How it maps the paper's sampling to `generate`:

* group sampling: each prompt is encoded once and repeated `n` times in the batch (media
  included, so the pixel tensors always match the expanded batch), in chunks of
  `batch_size` sequences; prompts are left padded (`mmzppo.policy.encoding.collate`);
* the vision control tokens are suppressed (an untrained policy samples `<|image_pad|>`,
  and re-scoring such a completion fails), EOS is the tokenizer's and the generation
  config's end-of-turn token;
* temperature 0 means greedy; otherwise temperature, top-k (0 = off) and top-p are applied
  in vLLM's order, after the presence penalty (vLLM semantics: subtract the penalty from
  the logit of every token already present in the completion, prompt excluded);
* a seed per prompt (`generate(..., seeds=)`, what evaluation uses): each row then draws from
  its own `torch.Generator` (`RowSampler`, after the recorder), so a row's tokens depend on its
  seed alone and not on the rows batched beside it; without seeds, `generate`'s own sampler on
  the global RNG (seeded per call by `seed`);
* log-probs: `LogprobRecorder`, the last logits processor, keeps log_softmax of the fully
  processed scores of one step and reads off the sampled token at the next step, so the
  recorded value is exactly log p(token) of the distribution the sampler drew from, and
  memory stays at one (batch, vocab) tensor instead of `output_scores`' (steps, batch,
  vocab). For greedy decoding there is no temperature, so the recorded log-probs are
  the temperature-1 log-probs of the (suppressed, penalised) distribution.

With temperature 1, top-p 1, top-k 0 and no presence penalty (the paper's training
rollouts) the recorded log-probs equal `mmzppo.policy.logprobs.completion_logprobs` of the same tokens.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence

import torch
from transformers import LogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from mmzppo.policy import parallel
from mmzppo.policy.encoding import EncodedPrompt, collate, encoded
from mmzppo.policy.generation.base import Completion, SamplingParams
from mmzppo.policy.loading import Policy, suppressed_token_ids
from mmzppo.prompting.builders import Prompt

# Generation settings a checkpoint's generation_config.json may carry (the real Qwen3.5 has
# top_k=20, top_p=0.95, ...). transformers fills every setting we leave unset from it, so
# rollouts set them all to "off" and apply only what `SamplingParams` asks for.
# (Sampling-only settings are left out of greedy calls: transformers ignores them there and
# warns about them.)
NEUTRAL_GENERATION = dict(repetition_penalty=1.0, no_repeat_ngram_size=0, num_beams=1, num_return_sequences=1)
NEUTRAL_SAMPLING = dict(temperature=1.0, top_k=0, top_p=1.0, typical_p=1.0, epsilon_cutoff=0.0, eta_cutoff=0.0)


class PresencePenalty(LogitsProcessor):
    """vLLM's presence penalty: logits of tokens already in the completion (not the prompt)
    are lowered by `penalty`, once, however often the token occurred."""

    def __init__(self, penalty: float, prompt_len: int):
        self.penalty, self.prompt_len = penalty, prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        completion = input_ids[:, self.prompt_len :]
        if completion.shape[1] == 0:
            return scores
        present = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, completion, True)
        return scores - self.penalty * present.to(scores.dtype)


class LogprobRecorder(LogitsProcessor):
    """Records log p(sampled token) under the final processed scores of each step.

    Must be the last processor. A processor does not see the token drawn from its scores,
    but the next call's `input_ids` end with it; `finish` reads off the last step's token.
    """

    def __init__(self):
        self.previous: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.previous is not None:
            self.steps.append(self.previous.gather(1, input_ids[:, -1:]))
        self.previous = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, sequences: torch.LongTensor) -> torch.Tensor:
        """(batch, new tokens) log-probs, given the sequences `generate` returned."""
        if self.previous is not None:
            self.steps.append(self.previous.gather(1, sequences[:, -1:]))
            self.previous = None
        if not self.steps:
            return torch.zeros(sequences.shape[0], 0)
        return torch.cat(self.steps, dim=1).cpu()


def eos_token_ids(policy: Policy) -> list[int]:
    """Every id that ends a turn: the tokenizer's EOS and the generation config's (SmolLM2's
    chat turns end with a token its GGUF tokenizer does not call EOS)."""
    ids = {policy.tokenizer.eos_token_id}
    config_eos = getattr(getattr(policy.model, "generation_config", None), "eos_token_id", None)
    ids.update(config_eos if isinstance(config_eos, (list, tuple)) else [config_eos])
    return sorted(i for i in ids if i is not None)


def generation_kwargs(sampling: SamplingParams, eos: list[int], pad: int, suppress: list[int]) -> dict:
    """`generate` settings for `sampling`, with every unrequested warper switched off."""
    if sampling.temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {sampling.temperature}")
    if not 0.0 < sampling.top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {sampling.top_p}")
    do_sample = sampling.temperature > 0
    return dict(
        NEUTRAL_GENERATION,
        **(NEUTRAL_SAMPLING if do_sample else {}),
        do_sample=do_sample,
        max_new_tokens=sampling.max_new_tokens,
        eos_token_id=eos,
        pad_token_id=pad,
        suppress_tokens=suppress or None,
    )


def model_sampling_overrides(model) -> dict:
    """Switch off the warpers a checkpoint's generation config turns on that `generate` has
    no "off" value for in NEUTRAL_SAMPLING: transformers would apply them after our log-prob
    recorder, so the recorded distribution would not be the one sampled from."""
    config = getattr(model, "generation_config", None)
    if getattr(config, "top_h", None) is not None:
        raise ValueError(f"the model's generation config sets top_h={config.top_h}; unset it for RL rollouts")
    return {"min_p": 0.0} if getattr(config, "min_p", None) is not None else {}  # min_p 0 removes nothing


def sampling_processors(sampling: SamplingParams, prompt_len: int) -> list[LogitsProcessor]:
    """Presence penalty, then temperature / top-k / top-p (vLLM's order), as processors that
    run before the recorder (transformers would otherwise append its warpers after it)."""
    out: list[LogitsProcessor] = []
    if sampling.presence_penalty > 0:
        out.append(PresencePenalty(sampling.presence_penalty, prompt_len))
    if sampling.temperature > 0:
        if sampling.temperature != 1.0:
            out.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_k > 0:
            out.append(TopKLogitsWarper(sampling.top_k))
        if sampling.top_p < 1.0:
            out.append(TopPLogitsWarper(sampling.top_p))
    return out


class RowSampler(LogitsProcessor):
    """Draws each row's next token from the row's own `torch.Generator` (inverse CDF of the
    processed distribution) and hands `generate` a score of 0 for it and -inf elsewhere, which
    `generate` then picks greedily. Must come after every other processor (the recorder
    included): it samples from the distribution they made."""

    def __init__(self, seeds: list[int], device: torch.device):
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        cdf = torch.softmax(scores.double(), dim=-1).cumsum(dim=-1)
        u = torch.stack([torch.rand((), generator=g, device=g.device, dtype=torch.float64) for g in self.generators])
        tokens = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True)  # u < total: never past the end
        return torch.full_like(scores, -torch.inf).scatter_(1, tokens, 0.0)


def split_completion(tokens: list[int], logprobs: list[float], eos: set[int]) -> tuple[list[int], list[float], bool]:
    """Cut a generated row after its first EOS (what follows is padding); say if it finished."""
    for i, t in enumerate(tokens):
        if t in eos:
            return tokens[: i + 1], logprobs[: i + 1], True
    return tokens, logprobs, False


@contextlib.contextmanager
def seeded_rng(seed: int, device: torch.device):
    """Sample under `seed` without disturbing the caller's global RNG state."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


class HFRollout:
    """`RolloutBackend` over transformers `generate`, for VLM and text-only policies.

    batch_size: sequences per `generate` call (prompts x n are cut into chunks of this size;
        None = all at once). Bounds memory; groups may straddle chunks.
    seed: if set, call k of `generate` samples under torch seed `seed + k` (in a forked RNG,
        so the caller's global RNG is left alone); None uses the global RNG as it is.
    min_new_tokens: forbid EOS before this many tokens (benchmarks use it to fix lengths).
    """

    def __init__(
        self, policy: Policy, *, batch_size: int | None = None, seed: int | None = None, min_new_tokens: int = 0
    ):
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {batch_size}")
        self.policy = policy
        self.batch_size = batch_size
        self.seed = seed
        self.min_new_tokens = min_new_tokens
        self.calls = 0
        self.eos = eos_token_ids(policy)
        if not self.eos:
            raise ValueError(f"{policy.name_or_path}: the tokenizer and generation config name no EOS token")
        pad = policy.tokenizer.pad_token_id
        self.pad = pad if pad is not None else self.eos[0]
        self.suppress = suppressed_token_ids(policy.tokenizer)
        self.model_overrides = model_sampling_overrides(policy.model)

    def generate(
        self,
        prompts: Sequence[Prompt | EncodedPrompt],
        n: int,
        sampling: SamplingParams,
        seeds: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        """`n` completions for each prompt, in prompt order (a `Prompt` is encoded here first).
        seeds: one per prompt for sampled decoding; copy k of prompt i draws from a generator
        seeded with seeds[i] + k, whatever else is in its batch (ignored when greedy)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        prompts = encoded(self.policy.processor, self.policy.vision, prompts)
        expanded = [p for p in prompts for _ in range(n)]
        row_seeds = [s + k for s in seeds for k in range(n)] if seeds is not None else None
        size = self.batch_size or max(1, len(expanded))
        model = self.policy.model
        was_training = model.training
        model.eval()
        flat: list[Completion] = []
        try:  # a sharded (FSDP) model is gathered once, so ranks may generate different lengths
            with torch.no_grad(), self._rng(), parallel.full_params(model):
                for start in range(0, len(expanded), size):
                    chunk_seeds = row_seeds[start : start + size] if row_seeds is not None else None
                    flat += self._generate_chunk(expanded[start : start + size], sampling, chunk_seeds)
        finally:
            model.train(was_training)
            self.calls += 1
        return [flat[i * n : (i + 1) * n] for i in range(len(prompts))]

    def sync_weights(self) -> None:
        """Nothing to do: `generate` runs on the training model itself."""

    def _rng(self):
        """A forked, seeded torch RNG when `seed` is set (reproducible per call number)."""
        if self.seed is None:
            return contextlib.nullcontext()
        return seeded_rng(self.seed + self.calls, next(self.policy.model.parameters()).device)

    def _generate_chunk(
        self, prompts: list[EncodedPrompt], sampling: SamplingParams, seeds: list[int] | None = None
    ) -> list[Completion]:
        """One `generate` call on already-expanded prompts (a group's copies share one encoding);
        with `seeds` (one per row) each row samples from its own generator (`RowSampler`)."""
        model, tokenizer = self.policy.model, self.policy.tokenizer
        inputs = collate(prompts, self.pad)
        inputs.pop("token_type_ids", None)  # some text tokenizers return it; causal LMs do not take it
        inputs = {k: v.to(model.device) for k, v in inputs.items()}
        prompt_len = inputs["input_ids"].shape[1]
        recorder = LogprobRecorder()
        per_row = seeds is not None and sampling.temperature > 0
        # per-row sampling: generate picks greedily what RowSampler drew (so no warper of its own runs)
        decoding = SamplingParams(**{**dataclasses.asdict(sampling), "temperature": 0.0}) if per_row else sampling
        sequences = model.generate(
            **inputs,
            **generation_kwargs(decoding, self.eos, self.pad, self.suppress),
            **(self.model_overrides if decoding.temperature > 0 else {}),
            min_new_tokens=self.min_new_tokens or None,
            logits_processor=[
                *sampling_processors(sampling, prompt_len),
                recorder,
                *([RowSampler(seeds, model.device)] if per_row else []),
            ],
        )
        new_tokens = sequences[:, prompt_len:].cpu()
        logprobs = recorder.finish(sequences)
        if logprobs.shape != new_tokens.shape:  # the recorder's step bookkeeping is off
            raise RuntimeError(f"recorded log-probs {tuple(logprobs.shape)} != new tokens {tuple(new_tokens.shape)}")
        eos = set(self.eos)
        out = []
        for row_tokens, row_logprobs in zip(new_tokens.tolist(), logprobs.tolist()):
            tokens, lps, finished = split_completion(row_tokens, row_logprobs, eos)
            out.append(Completion(tokens, lps, tokenizer.decode(tokens, skip_special_tokens=True), finished))
        return out
