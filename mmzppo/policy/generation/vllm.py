"""Rollouts in a vLLM engine that lives in the training process (colocated).

`VLLMRollout(policy, settings)` is the `RolloutBackend` the paper's setting needs (TRL, verl
and EasyR1 generate with vLLM too): the trainer keeps its transformers model for the loss,
and a vLLM engine in the same process draws the rollouts. What it does to stay equal to the
transformers backend (`mmzppo.policy.generation.hf`, the reference):

* media: every image and video goes in as `multi_modal_data` already loaded and sized by
  `mmzppo.data.media.load_media` under the run's `VisionSettings` (the function the trainer's
  `encode` calls), with the engine's own resizing and frame sampling switched off and its
  normalisation done by the model's processor on the host (`mm_device_do_normalize=False`),
  so the pixel and frame tensors the engine's vision tower receives are the trainer
  processor's, cast to the engine's dtype (tested; the mismatch of TRL issue 6401 is
  exactly what this avoids). The prompt goes in as token ids with one placeholder per
  image/video (what `apply_chat_template` + the tokenizer give); the engine expands them,
  and the expanded ids equal `encode`'s `input_ids` (tested);
* sampling: `n` samples per prompt in one request (the prompt's prefill is shared), the
  vision control tokens removed from the vocabulary (`allowed_token_ids`: an untrained
  policy samples `<|image_pad|>` and re-scoring fails), the presence penalty with vLLM's
  semantics (the HF backend copies them), per-request seeds drawn from torch's global RNG so
  a run's seed (saved with its checkpoints) fixes its rollouts, or given per prompt
  (`generate(..., seeds=)`, what evaluation uses);
* log-probs: `logprobs_mode="processed_logprobs"`, i.e. log p(token) under the distribution
  the sampler drew from (after the removed tokens, the penalty, the temperature), the same
  quantity the HF backend records. They are NOT the PPO "old" log-probs: the engine runs in
  bf16 with its own kernels, so they differ from the trainer's by ~1e-2 (measured on the
  tiny model: max |diff| 7e-3 against an fp32 trainer). The trainer recomputes pi_old
  (`old_logprobs: auto` does so for this backend) and may correct the sampling mismatch
  with truncated importance sampling (`tis`, see `mmzppo.train.objectives.ClippedPPO`);
* weights: `sync_weights()` (the loop calls it after every step's updates) hands the
  trainer's current state dict to the engine in memory (vLLM's in-place `reload_weights`,
  no checkpoint on disk), then drops every cache computed with the old weights (prefix KV
  cache, vision-encoder outputs, processed media). Under FSDP the full state dict is
  gathered on every rank first. The engine runs in-process (vLLM's
  `VLLM_ENABLE_V1_MULTIPROCESSING=0`), so nothing is serialised; the construction checks it;
* memory: `gpu_memory_utilization` (on the CPU backend, despite its name, the fraction of
  host memory vLLM reserves) or an explicit KV-cache size (`kv_cache_gb`, which overrides
  it; the CPU tests use 0.25); `sleep` (GPU only) puts the engine to sleep after each
  generate (weights to host memory, KV cache freed) so the update has the GPU, and wakes
  it for the next generate or weight load.

Deviations and limits, stated: a prompt longer than the engine's `max_model_len` is an
error naming the prompt; a prompt whose prompt + max_new_tokens exceeds it gets fewer new
tokens (its completion then counts as unfinished, as at max_new_tokens). `sleep` and
several processes (each rank its own engine, vLLM's `external_launcher`) have not run here
(no GPU); one process on CPU is what the tests run.

vLLM keeps process-wide state (its distributed environment, compile caches), so a process
holds ONE engine: `shared_engine` returns the live one when the settings match (tests and
benchmarks start one engine per session) and refuses a second with different settings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mmzppo.data.media import MediaError
from mmzppo.policy import parallel
from mmzppo.policy.encoding import EncodedPrompt, encoded
from mmzppo.policy.generation.base import Completion, SamplingParams
from mmzppo.policy.generation.hf import eos_token_ids
from mmzppo.policy.loading import Policy, suppressed_token_ids
from mmzppo.prompting.builders import Prompt


@dataclass(frozen=True)
class VLLMSettings:
    """How the colocated engine is started (the run config's `vllm_*` keys)."""

    dtype: str = "bfloat16"  # vLLM on CPU needs bf16 for the Gated-DeltaNet layers
    gpu_memory_utilization: float = 0.5  # share of the device (CPU backend: of host RAM) vLLM may take
    kv_cache_gb: float | None = None  # an explicit KV-cache size; overrides gpu_memory_utilization
    max_model_len: int | None = None  # prompt + answer tokens per sequence; None = the model's
    max_images: int = 8  # images per prompt the engine plans for (videos: 1)
    enforce_eager: bool = True  # no torch.compile / CUDA graphs: fast start, slower decode
    sleep: bool = False  # GPU only: free the engine's memory between generates
    seed: int = 0

    def engine_kwargs(self, model: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(
            model=model,
            tokenizer=model,
            dtype=self.dtype,
            seed=self.seed,
            enforce_eager=self.enforce_eager,
            max_model_len=self.max_model_len,
            limit_mm_per_prompt={"image": self.max_images, "video": 1},
            logprobs_mode="processed_logprobs",
            mm_device_do_normalize=False,
            enable_sleep_mode=self.sleep,
        )
        if self.kv_cache_gb is not None:
            kwargs["kv_cache_memory_bytes"] = int(self.kv_cache_gb * 2**30)
        else:
            kwargs["gpu_memory_utilization"] = self.gpu_memory_utilization
        world = parallel_world()
        if world > 1:  # one engine per rank inside the launcher's process group (not run here)
            kwargs.update(distributed_executor_backend="external_launcher", tensor_parallel_size=1)
        return kwargs


def parallel_world() -> int:
    return torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1


# The engine of this process: (the kwargs it was started with, the `vllm.LLM`).
_ENGINE: tuple[dict, Any] | None = None


def shared_engine(model: str, settings: VLLMSettings):
    """The process's vLLM engine for `model` under `settings`, started on first use.

    Raises when an engine with other settings is already running (vLLM cannot hold two)."""
    global _ENGINE
    kwargs = settings.engine_kwargs(str(model))
    if _ENGINE is not None:
        if _ENGINE[0] != kwargs:
            changed = sorted(k for k in kwargs if _ENGINE[0].get(k) != kwargs[k])
            raise RuntimeError(
                f"a vLLM engine with other settings already runs in this process ({changed}); one engine per process"
            )
        return _ENGINE[1]
    if settings.sleep and not torch.cuda.is_available():
        raise ValueError("vllm_sleep: sleep mode needs a GPU (the CPU backend has no sleep mode)")
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # in-process engine: weights loaded without copies
    if not torch.cuda.is_available():  # the CPU engine would pin this process's threads (the trainer's too)
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    from vllm import LLM

    llm = LLM(**kwargs)
    from vllm.v1.engine.core_client import InprocClient

    if not isinstance(llm.llm_engine.engine_core, InprocClient):
        raise RuntimeError(
            "the vLLM engine core runs in another process; VLLM_ENABLE_V1_MULTIPROCESSING=0 "
            "must be set before vllm is first imported"
        )
    _ENGINE = (kwargs, llm)
    return llm


# The engine's own resizing and frame sampling are off: load_media already applied the run's
# VisionSettings (as for the trainer's processor call in mmzppo.policy.encoding).
MM_PROCESSOR_KWARGS = {
    "images_kwargs": {"do_resize": False},
    "videos_kwargs": {"do_resize": False, "do_sample_frames": False},
}


def engine_request(processor, prompt: EncodedPrompt) -> dict[str, Any]:
    """One encoded prompt as a vLLM request: the chat text's token ids with one placeholder per
    image/video (the engine expands them), and the media the trainer's processor received
    (loaded by `mmzppo.data.media.load_media` under the run's `VisionSettings`)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    request: dict[str, Any] = {"prompt_token_ids": tokenizer(prompt.text, add_special_tokens=False)["input_ids"]}
    images = prompt.images
    videos = [(video, {**metadata, "do_sample_frames": False}) for video, metadata in prompt.videos]
    if images or videos:
        request["multi_modal_data"] = {k: v for k, v in (("image", images), ("video", videos)) if v}
        kwargs = {k: dict(v) for k, v in MM_PROCESSOR_KWARGS.items()}
        if hasattr(getattr(processor, "video_processor", None), "cap_pixels_per_frame"):
            kwargs["videos_kwargs"]["cap_pixels_per_frame"] = False  # as encode: the frames are sized already
        request["mm_processor_kwargs"] = kwargs
    return request


class VLLMRollout:
    """`RolloutBackend` over a colocated vLLM engine (see the module docstring).

    policy: the trainer's student (its model is what `sync_weights` loads into the engine;
        its processor and VisionSettings prepare the media).
    settings: how the engine is started.
    model_path: the checkpoint the engine is built from (architecture, tokenizer, processor
        config); default `policy.name_or_path`. Its weights are replaced by the trainer's at
        construction, so a resumed or warmed-up trainer and its engine start equal.
    min_new_tokens: forbid EOS before this many tokens (benchmarks use it to fix lengths).
    """

    def __init__(
        self,
        policy: Policy,
        settings: VLLMSettings = VLLMSettings(),
        *,
        model_path: str | None = None,
        min_new_tokens: int = 0,
    ):
        self.policy = policy
        self.settings = settings
        self.min_new_tokens = min_new_tokens
        self.llm = shared_engine(model_path or policy.name_or_path, settings)
        self.eos = eos_token_ids(policy)
        if not self.eos:
            raise ValueError(f"{policy.name_or_path}: the tokenizer and generation config name no EOS token")
        vocab = self.llm.llm_engine.model_config.get_vocab_size()
        removed = set(suppressed_token_ids(policy.tokenizer))
        self.allowed = [i for i in range(vocab) if i not in removed] if removed else None
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len
        self.asleep = False
        self.last_sync_s = 0.0
        self.sync_weights()

    # ----------------------------------------------------------------- generation

    def sampling_params(self, sampling: SamplingParams, n: int, seed: int | None, prompt_len: int):
        from vllm import SamplingParams as EngineSampling

        if sampling.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {sampling.temperature}")
        if not 0.0 < sampling.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {sampling.top_p}")
        return EngineSampling(
            n=n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=max(sampling.top_k, 0),
            presence_penalty=sampling.presence_penalty,
            max_tokens=min(sampling.max_new_tokens, self.max_model_len - prompt_len),
            min_tokens=self.min_new_tokens,
            logprobs=0,
            stop_token_ids=self.eos,
            allowed_token_ids=self.allowed,
            seed=seed,
            detokenize=False,
        )

    def generate(
        self,
        prompts: Sequence[Prompt | EncodedPrompt],
        n: int,
        sampling: SamplingParams,
        seeds: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        """`n` completions for each prompt, in prompt order (a `Prompt` is encoded here first).
        seeds: one per prompt, its request's seed (ignored when greedy); None: drawn from torch."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        if not prompts:
            return []
        requests, params = [], []
        for i, p in enumerate(encoded(self.policy.processor, self.policy.vision, prompts)):
            request = engine_request(self.policy.processor, p)
            if len(request["prompt_token_ids"]) >= self.max_model_len:
                raise MediaError(
                    p.uid,
                    "prompt",
                    "-",
                    f"{len(request['prompt_token_ids'])} tokens before media "
                    f"expansion; the engine's max_model_len is {self.max_model_len} (vllm_max_model_len)",
                )
            if sampling.temperature == 0:
                seed = None
            else:
                seed = seeds[i] if seeds is not None else int(torch.randint(0, 2**31 - 1, ()).item())
            requests.append(request)
            params.append(self.sampling_params(sampling, n, seed, len(request["prompt_token_ids"])))
        self.wake()
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        self.fall_asleep()
        return [self.completions(out) for out in outputs]

    def completions(self, out) -> list[Completion]:
        eos = set(self.eos)
        tokenizer = self.policy.tokenizer
        result = []
        for o in out.outputs:
            tokens = list(o.token_ids)
            logprobs = [step[t].logprob for step, t in zip(o.logprobs, tokens)]
            finished = bool(tokens) and tokens[-1] in eos
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            result.append(Completion(tokens, logprobs, text, finished))
        return result

    def prompt_logprobs(self, prompt: Prompt | EncodedPrompt, completion: list[int]) -> list[float]:
        """The engine's log-probs of a GIVEN completion (a prefill with prompt log-probs): the
        raw model distribution, temperature 1, no token removed (vLLM applies no sampling
        processors to prompt tokens). For tests and diagnostics."""
        from vllm import SamplingParams as EngineSampling

        (prompt,) = encoded(self.policy.processor, self.policy.vision, [prompt])
        request = engine_request(self.policy.processor, prompt)
        request["prompt_token_ids"] = request["prompt_token_ids"] + list(completion)
        self.wake()
        (out,) = self.llm.generate(
            [request], EngineSampling(max_tokens=1, prompt_logprobs=0, detokenize=False), use_tqdm=False
        )
        self.fall_asleep()
        start = len(out.prompt_token_ids) - len(completion)
        return [out.prompt_logprobs[start + j][t].logprob for j, t in enumerate(completion)]

    # ----------------------------------------------------------------- weights and memory

    def sync_weights(self) -> None:
        """Load the trainer's current weights into the engine, in memory, and drop every cache
        computed with the old ones."""
        start = time.perf_counter()
        model = self.policy.model
        state = parallel.full_state_dict(model)  # every rank gathers under FSDP; None otherwise
        if state is None:
            state = {k: v.detach() for k, v in model.state_dict().items()}
        if tied_embeddings(model):  # the checkpoint has no lm_head then; the engine ties it itself
            state.pop("lm_head.weight", None)
        if self.asleep:
            self.llm.wake_up(tags=["weights"])
        self.llm.collective_rpc(
            "reload_weights", kwargs={"weights_iterator": iter(state.items()), "is_checkpoint_format": True}
        )
        if tied_embeddings(model):
            self.llm.apply_model(retie_head)
        self.llm.reset_prefix_cache()
        self.llm.reset_mm_cache()
        self.llm.llm_engine.reset_encoder_cache()
        self.last_sync_s = time.perf_counter() - start

    def wake(self) -> None:
        if self.asleep:
            self.llm.wake_up()
            self.asleep = False

    def fall_asleep(self) -> None:
        """With `sleep`: weights to host memory and KV cache freed until the next generate."""
        if self.settings.sleep:
            self.llm.sleep(level=1)
            self.asleep = True


def retie_head(model) -> None:
    """After an in-place reload, bring the engine's tied LM head up to the reloaded embedding.

    The head shares the embedding's matrix, but vLLM's layerwise reload re-processes only the
    layers it hands weights to, and a tied head gets none (a tied checkpoint has no lm_head; the
    loader skips one). On the CPU backend that processing packs the matrix for its GEMM
    (`process_weights_after_loading`), so the head kept computing logits from the OLD packed
    matrix: engine log-probs 0.21 nats off the trainer's after one step on the tied tiny model.
    Re-processing the head (a no-op on GPUs for unquantized weights) fixes it."""
    language = getattr(model, "language_model", model)
    head, embed = getattr(language, "lm_head", None), getattr(getattr(language, "model", None), "embed_tokens", None)
    if head is None or embed is None:
        return
    if head.weight.data_ptr() != embed.weight.data_ptr():
        head.weight.data.copy_(embed.weight.data)
    method = getattr(head, "quant_method", None)
    if method is not None:
        method.process_weights_after_loading(head)


def tied_embeddings(model) -> bool:
    config = getattr(model, "config", None)
    text = getattr(config, "text_config", None)
    return bool(getattr(config, "tie_word_embeddings", False) or getattr(text, "tie_word_embeddings", False))


__all__ = ["VLLMRollout", "VLLMSettings", "engine_request", "shared_engine"]
