"""The run config: one typed object per run, every field documented, saved with the run.

`load_config("configs/run.yaml", ["tau=0.3", "vision.max_pixels=16384"])` reads a YAML file,
applies `key=value` overrides (values parsed as YAML), and validates: unknown keys and
invalid values raise `ConfigError` naming the key. Defaults are the paper's values
(arXiv:2606.18216, section 4 and App. D) where the paper gives one.

`method` picks the algorithm (one file each in mmzppo/methods/): zppo, distill_off,
distill_on, hint, prefix. Switches make every other baseline and ablation row a config, not
code: GRPO = `method: zppo` with `use_buffer=false use_bcq=false use_ncq=false`;
GRPO-dagger = `use_buffer=true use_bcq=false use_ncq=false`; ZPPO = all three on.

A YAML file may start from another one: `base: ../zppo_qwen3.5-0.8b.yaml` (a path relative
to the file) loads that file first, and the keys written here replace its keys. The keys that
may be `auto` (or null) are resolved by `mmzppo.train.config_files.resolve_auto`; what each
key may hold is checked by `mmzppo.train.config_checks`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmzppo.data.vision import VisionSettings
from mmzppo.train.config_checks import ConfigError, check

PROMPT_TEXT_TOKENS = 256  # a plain prompt's text, for the derived micro_batch_tokens


def doc(help_text: str, default: Any = dataclasses.MISSING, *, section: str | None = None, **kw) -> Any:
    """A dataclass field with a help text (shown by `python -m mmzppo.train --help-config`);
    `section` starts a group of keys there and in a saved config.yaml."""
    if default is not dataclasses.MISSING:
        kw["default"] = default
    return field(metadata={"help": help_text, "section": section}, **kw)


@dataclass
class Config:
    name: str = doc("run name; the run folder is <output_dir>/<name>", "zppo", section="run")
    output_dir: str = doc("parent folder of run folders", "runs")
    seed: int = doc(
        "seed of every RNG (torch, python, buffer, candidate shuffles; the data order when data_shuffle > 0)", 0
    )
    steps: int = doc("rollout steps to run (paper: 200)", 200)
    rollout_budget: int = doc(
        "stop once this many student rollouts were sampled, summed over processes (0 = off: `steps` ends the run); "
        "the equal budget of method comparisons, counting plain, BCQ, NCQ, hint and prefix rollouts alike",
        0,
    )
    save_every: int = doc("checkpoint every N steps (0 = only at the end)", 50)
    keep_checkpoints: int = doc(
        "keep only the newest N checkpoints, older ones deleted after each save (0 = keep all; TRL's "
        "save_total_limit); one an `eval_every` evaluation still waits for stays until it ran",
        0,
    )
    log_samples: int = doc("prompts per step written in full to samples.jsonl (with BCQ/NCQ ones first)", 2)
    eval_every: int = doc("evaluate every N-th step's checkpoint in a subprocess, as training goes on (0 = off)", 0)
    eval_suites: list[str] = doc("their mmzppo.eval --suite (train/evals.py)", default_factory=lambda: ["synthetic"])
    eval_args: list[str] = doc("more mmzppo.eval flags: [--data-root, DIR, --limit, 50]", default_factory=list)

    student: str = doc(
        "student model: hub id or local folder (e.g. Qwen/Qwen3.5-0.8B)", "Qwen/Qwen3.5-0.8B", section="models"
    )
    teacher: str | None = doc("teacher model for kind 'local': hub id or folder", None)
    teacher_kind: str = doc(
        "'local' (a transformers model samples), 'server' (an OpenAI-compatible server: teacher_endpoint), "
        "'precomputed' (answers stored in the shards by `python -m mmzppo.teachers annotate`, re-used on every "
        "visit; a deviation), 'reference' (the dataset's worked solutions; a deviation from the paper), or 'none'",
        "local",
    )
    precision: str = doc(
        "'bf16-mixed' (float32 master weights and AdamW state, bfloat16 compute under autocast, gradients "
        "summed in float32; FSDP2's mixed-precision policy when sharded; checkpoints export bfloat16), 'bf16' "
        "(all bfloat16: at lr 1e-6 most updates round away; it warns) or 'fp32'. The former key `dtype` is read "
        "as float32 -> fp32, bfloat16 -> bf16",
        "bf16-mixed",
    )
    attn_implementation: str = doc("attention kernel: sdpa (CPU) or flash_attention_2 (GPU extra)", "sdpa")
    vision: VisionSettings = doc(
        "pixel and frame budgets for every image/video (see VisionSettings)", default_factory=VisionSettings
    )

    train_shards: str = doc(
        "training shards: a folder, a glob, or a brace pattern of .tar files", "data/train", section="data"
    )
    prompts_per_step: int = doc("|X_new|: new questions per rollout step (paper: 384)", 384)
    data_shuffle: int = doc(
        "0 = the training shards are read in their order, the same for every seed; n > 0 = shards and "
        "samples shuffled (a buffer of n samples) by seed and epoch, so seeds also vary the data order",
        0,
    )

    method: str = doc(
        "the algorithm: 'zppo' (Alg. 1; GRPO and GRPO-dagger are its switches), 'distill_off' "
        "(Alg. 2), 'distill_on' (Alg. 3), 'hint' (Alg. 5) or 'prefix' (Alg. 6)",
        "zppo",
        section="method",
    )

    group_size: int = doc("G_S: student rollouts per prompt (paper: 8)", 8, section="ZPPO (paper, Algorithm 1)")
    teacher_group_size: int = doc("G_T: teacher rollouts per hard question (paper: 4)", 4)
    tau: float = doc("hard if plain-group accuracy < tau (paper: 0.5)", 0.5)
    rho_replay: float = doc("|X_replay| = rho_replay * |X_new| (paper: 0.25)", 0.25)
    rho_aug: float = doc("pre- and post-cap of reformulated prompts, times |X_new| (paper: 0.25)", 0.25)
    buffer_capacity: int = doc("replay buffer size, FIFO eviction (paper: 10,000)", 10_000)
    use_buffer: bool = doc("prompt replay buffer on/off", True)
    use_bcq: bool = doc("BCQ reformulation on/off", True)
    use_ncq: bool = doc("NCQ reformulation on/off", True)
    candidate_compression: str = doc(
        "how each BCQ/NCQ candidate is shortened before it enters a prompt: 'teacher' (the teacher "
        "model rewrites it greedily into <= 5 lines and <= min(512, max_new_tokens) tokens, the paper's "
        "method; needs teacher_kind 'local' or 'server'), 'truncate' "
        "(each candidate capped on its own at the shared cap, keeping its final answer; a deviation), or "
        "'auto' ('teacher' when teacher_kind is 'local' or 'server', else 'truncate')",
        "auto",
    )
    candidate_max_words: int = doc(
        "reasoning words kept per candidate by 'truncate' compression (the paper's rewrite allows up to 512 tokens)",
        300,
    )
    ncq_max_candidates: int = doc(
        "0 = an NCQ shows every wrong rollout (the paper); n > 0 = at most n of them, drawn at random, while "
        "the answers of all are still listed as wrong (a deviation: shorter NCQ prompts on small machines)",
        0,
    )

    distill_beta: float = doc(
        "beta of the generalised JSD of the distillation methods: 0 = forward KL(teacher || "
        "student), 0.5 = symmetric JSD, 1 = reverse KL(student || teacher)",
        0.5,
        section="baselines (paper, App. D.2)",
    )
    distill_loss: str = doc(
        "distill_on's per-token loss: 'jsd' (JSD_beta over next-token distributions) or "
        "'reverse_kl_sampled' (log S - log T of the sampled token only; cheap)",
        "jsd",
    )
    distill_top_k: int = doc(
        "0 = the teacher's full distribution; k > 0 = its top-k log-probs + one tail bucket (an approximation; "
        "teacher_kind 'server' gives only this, k <= its --max-logprobs, vLLM's default 20)",
        0,
    )
    prefix_fraction: float = doc(
        "alpha of the prefix method: the share of a correct teacher answer's tokens "
        "forced as the start of the answer (paper: 0.4)",
        0.4,
    )

    temperature: float = doc("training rollout temperature (paper: 1.0)", 1.0, section="rollout")
    top_p: float = doc("training rollout top-p (paper: 1.0)", 1.0)
    max_new_tokens: int = doc("max response tokens (paper: 12,288)", 12_288)
    rollout_batch_size: int = doc("sequences per generate call (bounds memory)", 64)

    updates_per_step: int = doc(
        "I: gradient updates per rollout step over equal mini-batches (paper: 4)", 4, section="update (paper, Eqs. 4-6)"
    )
    train_top_layers: int = doc(
        "0 = every weight trains (the paper); n > 0 = only the top n decoder layers and the final norm (a "
        "deviation for small machines: backward and optimizer state cost about n / layers; embeddings, a "
        "tied LM head and the vision tower stay as loaded)",
        0,
    )
    micro_batch_size: int = doc("sequences per forward/backward (gradient accumulation inside a mini-batch)", 8)
    micro_batch_tokens: int | None = doc(
        "padded tokens per forward/backward (sequences x (longest prompt + longest completion)); 0 = no "
        "budget, only micro_batch_size; null (default) = micro_batch_size x (256 text tokens + one image at "
        "vision.max_pixels + max_new_tokens): full-length plain sequences fill a micro-batch, longer "
        "BCQ/NCQ ones go in fewer",
        None,
    )
    logprob_chunk_tokens: int = doc(
        "completion tokens per LM-head chunk in the log-prob and distillation passes: peak memory ~ chunk x "
        "vocabulary instead of answer x vocabulary (the paper used a fused LM-head kernel)",
        1024,
    )
    gradient_checkpointing: bool = doc(
        "activation checkpointing: each decoder layer recomputes its activations in backward (less memory, "
        "about one more forward); loss and gradients unchanged",
        False,
    )
    old_logprobs: str = doc(
        "PPO's log pi_old: 'sampler' (the log-probs the rollout recorded), 'recompute' (a "
        "no-grad pass of the policy before the updates) or 'auto' (sampler with the "
        "transformers backend at top_p 1, where the two are equal; else recompute)",
        "auto",
    )
    lr: float = doc("AdamW learning rate, constant (paper: 1e-6)", 1e-6)
    weight_decay: float = doc("AdamW weight decay (paper: 0.1)", 0.1)
    betas: tuple[float, float] = doc("AdamW betas (paper: 0.9, 0.999)", (0.9, 0.999))
    grad_clip: float = doc("gradient norm clip (paper: 1.0)", 1.0)
    eps_low: float = doc("lower ratio clip 1 - eps_low (paper: 0.20)", 0.20)
    eps_high: float = doc("upper ratio clip 1 + eps_high, clip-higher (paper: 0.28)", 0.28)
    dual_clip: float | None = doc("dual-clip c for negative advantages (paper: 10); null = off", 10.0)
    adv_eps: float = doc("epsilon of the advantage normalisation", 1e-6)
    nonfinite: str = doc(
        "a NaN/inf loss or gradient norm: 'skip' that update (counted as update/skipped_nonfinite; "
        "the weights stay finite) or 'stop' the run, saving the offending mini-batch under "
        "<run>/nonfinite/",
        "skip",
    )
    adv_norm: str = doc(
        "Eq. 3's batch statistics (paper Fig. 6): 'nontrivial' (over groups whose rewards differ; "
        "the paper), 'all' (every group), or 'none' (A = r - group mean)",
        "nontrivial",
    )

    sharding: str = doc(
        "model layout over processes: 'none' (replicated, gradients summed: DDP), 'fsdp' "
        "(FSDP2: decoder layers and the language model sharded, vision tower replicated), "
        "or 'auto' ('fsdp' when accelerate was launched with an FSDP config)",
        "auto",
        section="several processes",
    )
    rank_timeout: float = doc(
        "seconds without a rank's heartbeat before the others exit naming it (mmzppo/train/cluster.py)", 30.0
    )

    rollout_backend: str = doc(
        "who samples the student: 'hf' (transformers generate in the training process; the "
        "reference backend) or 'vllm' (a vLLM engine colocated in the training process, the "
        "trainer's weights loaded into it in memory after every step; the `vllm` extra)",
        "hf",
        section="vLLM rollout and the served teacher (the paper's deployment)",
    )
    vllm_dtype: str = doc(
        "the vLLM engine's dtype (bfloat16: what vLLM's CPU kernels need for Qwen3.5's "
        "Gated-DeltaNet layers; the trainer keeps its `precision`)",
        "bfloat16",
    )
    vllm_gpu_memory_utilization: float = doc(
        "share of the GPU the engine may take for weights and KV cache (on the CPU backend: of host RAM)", 0.5
    )
    vllm_kv_cache_gb: float | None = doc(
        "an explicit engine KV-cache size in GiB, overriding "
        "vllm_gpu_memory_utilization (CPU runs on shared machines: 0.25)",
        None,
    )
    vllm_max_model_len: int | None = doc("prompt + answer tokens per engine sequence; null = the model's maximum", None)
    vllm_max_images: int = doc("images per prompt the engine plans memory for (video: 1)", 8)
    vllm_enforce_eager: bool = doc(
        "engine without torch.compile / CUDA graphs: starts fast, decodes slower (GPU runs: false)", True
    )
    vllm_sleep: bool = doc(
        "GPU only: the engine sleeps between generates (weights to host memory, KV cache "
        "freed), so the update has the GPU's memory",
        False,
    )
    tis: str = doc(
        "truncated importance sampling (Yao et al. 2025, on the sampler/trainer mismatch): each token's "
        "PPO term weighted by min(pi_old / pi_sampler, tis_cap), pi_old being the trainer's recomputed "
        "log-probs. 'auto' = on with rollout_backend vllm (the bf16 engine's log-probs differ from the "
        "trainer's by ~1e-2), off with hf (they agree to ~1e-5: the weight would be 1); 'on'; 'off'",
        "auto",
    )
    tis_cap: float = doc("upper bound C of the TIS weight (Yao et al.: 2)", 2.0)
    teacher_endpoint: str | list[str] | None = doc(
        "teacher_kind 'server': the OpenAI-compatible server (http://host:8000, e.g. `vllm serve Qwen/Qwen3.5-27B-FP8`), "
        "or several of one model (a YAML list; comma-separated on the command line): each request goes to the "
        "least-loaded healthy one; one that stops answering is retried in the background and rejoins",
        None,
    )
    teacher_served_model: str | None = doc("model name sent to the teacher server; null = the first it lists", None)
    teacher_concurrency: int = doc("teacher requests in flight at most, per server", 16)
    teacher_timeout: float = doc(
        "seconds per teacher-server request (a 12,288-token answer of a 27B model takes minutes)", 600.0
    )
    teacher_retries: int = doc("retries of a failed teacher-server request (exponential backoff from 0.5 s)", 3)
    teacher_failure: str = doc(
        "the teacher server still failing after its retries: 'stop' the run with a message "
        "naming the endpoint, or 'skip' that question's teacher part and go on (counted as "
        "teacher/failed)",
        "stop",
    )
    judge: str = doc(
        "the judge of the training reward for free-form rows (reward_type llm_judge, and types no rule grades): "
        "'auto' = on when there is a judge_endpoint or a served teacher, 'on' (required), 'off' (rule grader only, "
        "counted as judge/unjudged); it shares teacher_concurrency/timeout/retries/failure",
        "auto",
    )
    judge_endpoint: str | list[str] | None = doc(
        "the judge's server(s); null = the teacher's (teacher_kind server)", None
    )
    judge_max_tokens: int = doc("new tokens per verdict (paper: 512; a strict JSON verdict, malformed = wrong)", 512)

    def __post_init__(self):
        if isinstance(self.vision, dict):
            try:
                self.vision = VisionSettings.from_dict(self.vision)
            except (TypeError, ValueError) as e:
                raise ConfigError(f"vision: {e}") from e
        self.betas = tuple(self.betas)
        if self.micro_batch_tokens is None:  # derived (see its help): full-length plain sequences
            image = self.vision.max_pixels // (self.vision.patch_size * self.vision.merge_size) ** 2
            self.micro_batch_tokens = self.micro_batch_size * (PROMPT_TEXT_TOKENS + image + self.max_new_tokens)

        check(self)  # every value against what is allowed (mmzppo.train.config_checks)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d
