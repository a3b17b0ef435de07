"""What generates an evaluation's responses: the model (a run folder, a checkpoint, a hub id) and
either rollout backend, batched, with a seed per item.

Backends: `hf` (transformers `generate` on the loaded policy: `mmzppo.policy.generation.hf.HFRollout`)
and `vllm` (an in-process vLLM engine: the training rollout's `VLLMRollout`, not a second wrapper).
Both take the same `Prompt`s, encoded by `mmzppo.policy.encoding` under the run's VisionSettings,
so the rendered text, the token ids and the pixels are the same (tests/real_data/test_vllm.py
checks the engine receives the trainer processor's tensors).

Seeds: a sampled item `u` draws under `item_seed(run seed, u)`: transformers samples each row
from its own torch.Generator (`HFRollout.generate(..., seeds=)`), vLLM takes it as the request's
seed. So an item draws the same response whichever batch, resume or process it lands in, and
sampled runs are batched like greedy ones. (The two backends' draws differ from each other:
different samplers over different numerics.)

Unreadable media: a batch that fails with a ValueError (`MediaError`, `SampleError`, a processor
error) is retried item by item, so one bad file fails one item.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from mmzppo.policy.generation.base import SamplingParams


def item_seed(seed: int, uid: str) -> int:
    """The seed item `uid` samples under: a function of the run seed and the uid only."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{uid}".encode()).digest()[:8], "little") >> 1


# --------------------------------------------------------------------------- the model


def resolve_model(model: str) -> str:
    """`--model` as the folder (or hub id) to load: a training run folder (it holds
    checkpoints/) is its newest complete checkpoint (checkpoints/step-N/ with a DONE marker,
    as `--resume` picks it); a checkpoint folder must be complete; anything else is as given."""
    path = Path(model).expanduser()
    if (path / "checkpoints").is_dir():
        steps = sorted(
            (p for p in (path / "checkpoints").glob("step-*") if p.name.split("-")[1].isdigit()),
            key=lambda p: int(p.name.split("-")[1]),
        )
        complete = [p for p in steps if (p / "DONE").is_file()]
        if not complete:
            raise FileNotFoundError(
                f"--model {model}: a training run folder without a complete checkpoint "
                "(checkpoints/step-N/ with a DONE marker)"
            )
        return str(complete[-1])
    if any(path.glob("trainer_state_rank*.pt")) and not (path / "DONE").is_file():
        raise FileNotFoundError(f"--model {model}: an incomplete checkpoint (no DONE marker; its run was cut off)")
    return model


def load_model(cfg):
    """The policy to evaluate. transformers: on the configured device and dtype (CUDA: bfloat16,
    CPU: float32). vLLM: on the CPU (the engine holds its own copy on the device; this one gives the
    processor, the tokenizer and the weights synced into the engine)."""
    import torch

    from mmzppo.policy.loading import load_policy

    if cfg.backend == "vllm":
        device, dtype = "cpu", cfg.dtype or "float32"
    else:
        device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = cfg.dtype or ("bfloat16" if str(device).startswith("cuda") else "float32")
    return load_policy(resolve_model(cfg.model), dtype=dtype, vision=cfg.vision, device=device, revision=cfg.revision)


# --------------------------------------------------------------------------- generation


class Generator:
    """Batched generation for one evaluation run (see the module docstring)."""

    def __init__(self, policy, cfg):
        if cfg.backend == "vllm":
            from mmzppo.policy.generation.vllm import VLLMRollout

            self.rollout = VLLMRollout(policy, cfg.engine)
        else:
            from mmzppo.policy.generation.hf import HFRollout

            self.rollout = HFRollout(policy, batch_size=cfg.batch_size)
        self.sampling: SamplingParams = cfg.sampling
        self.seed = cfg.seed

    def seeds(self, prompts: list) -> list[int] | None:
        return None if self.sampling.temperature <= 0 else [item_seed(self.seed, p.uid) for p in prompts]

    def run(self, prompts: list) -> list[tuple[Any, str | None, str | None]]:
        """(completion, None, None) or (None, error, short reason) per prompt."""
        try:
            groups = self.rollout.generate(prompts, 1, self.sampling, seeds=self.seeds(prompts))
            return [(group[0], None, None) for group in groups]
        except ValueError as e:  # MediaError / SampleError (and processor ValueErrors): find the bad item
            if len(prompts) == 1:
                problem = str(getattr(e, "problem", e)).split(":")[0]
                return [(None, f"{type(e).__name__}: {e}", f"{type(e).__name__}: {problem}"[:100])]
        return [out for prompt in prompts for out in self.run([prompt])]
