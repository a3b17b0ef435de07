"""What a run config builds: the rollout backend, the teacher, the candidate compressor.

The one place that reads the config wholesale to make the library's pieces (which take the
few values they need): `make_backend` (transformers `generate` or a colocated vLLM engine),
`make_teacher` (local model, served endpoint, precomputed answers or reference solutions;
only training builds teachers), `prepare_student` (master weights, checkpointing, FSDP2 and
the precision check of the loaded student), `truncation` (the deterministic candidate
compressor), and `fsdp_launch` (how accelerate launched this process, for `sharding: auto`).
"""

from __future__ import annotations

import functools
from pathlib import Path

from mmzppo.policy import checkpointing, parallel, precision, trainable
from mmzppo.policy.generation.base import SamplingParams
from mmzppo.policy.loading import Policy, load_policy
from mmzppo.prompting.compress import MAX_LINES, MAX_TOKENS, truncate_candidates
from mmzppo.train import checkpoints
from mmzppo.train.config import Config, ConfigError
from mmzppo.train.methods import METHODS


def truncation(config: Config):
    """The deterministic candidate compressor with the configured word budget."""
    return functools.partial(truncate_candidates, max_lines=MAX_LINES, max_words=config.candidate_max_words)


def make_backend(config: Config, student: Policy, checkpoint: str):
    """The student's rollout backend: `generate` on the training model, or a colocated vLLM
    engine built from the same checkpoint and given the trainer's weights."""
    if config.rollout_backend == "vllm":
        from mmzppo.policy.generation.vllm import VLLMRollout, VLLMSettings

        settings = VLLMSettings(
            dtype=config.vllm_dtype,
            gpu_memory_utilization=config.vllm_gpu_memory_utilization,
            kv_cache_gb=config.vllm_kv_cache_gb,
            max_model_len=config.vllm_max_model_len,
            max_images=config.vllm_max_images,
            enforce_eager=config.vllm_enforce_eager,
            sleep=config.vllm_sleep,
            seed=config.seed,
        )
        return VLLMRollout(student, settings, model_path=checkpoint)
    from mmzppo.policy.generation.hf import HFRollout

    return HFRollout(student, batch_size=config.rollout_batch_size)


def make_teacher(config: Config, device, student: Policy | None = None):
    """The configured teacher (`teacher_kind` local, server, precomputed or reference).

    A served teacher (`teacher_endpoint`: one URL or several) is checked at start-up: every
    server must serve the same model (else TeacherUnavailable naming the odd one), and with
    `teacher_failure: stop` at least one must answer. For a distillation method it must also
    tokenize like `student` and score token ids (`ServerTeacher.check_vocabulary`); it renders
    prompts with the student's processor."""
    sampling = SamplingParams(temperature=config.temperature, top_p=config.top_p, max_new_tokens=config.max_new_tokens)
    compress_with_model = config.candidate_compression == "teacher"
    if config.teacher_kind == "server":  # an OpenAI-compatible server (vllm serve Qwen/Qwen3.5-27B-FP8)
        from mmzppo.teachers.client import connect
        from mmzppo.teachers.served import ServerTeacher, TeacherUnavailable

        client = connect(config.teacher_endpoint, config.teacher_served_model, config, TeacherUnavailable)
        teacher = ServerTeacher(
            client,
            config.vision,
            sampling,
            compress_with_model=compress_with_model,
            compress_max_tokens=min(MAX_TOKENS, config.max_new_tokens),
            fallback=truncation(config),
            failure=config.teacher_failure,
            processor=student.processor if student is not None else None,
        )
        if student is not None and METHODS[config.method].SAME_VOCABULARY:
            teacher.check_vocabulary(student.tokenizer)
        return teacher
    if config.teacher_kind in ("precomputed", "reference"):
        from mmzppo.teachers.text import PrecomputedTeacher, ReferenceTeacher

        # answers stored in the shards' teacher.json, or the dataset's worked solutions (deviations)
        kind = PrecomputedTeacher if config.teacher_kind == "precomputed" else ReferenceTeacher
        return kind(compress=truncation(config))
    from mmzppo.teachers.local import LocalTeacher

    policy = load_policy(
        config.teacher,
        dtype=precision.FROZEN[config.precision],  # frozen: no master weights needed
        attn_implementation=config.attn_implementation,
        vision=config.vision,
        device=device,
    )
    parallel.broadcast_from_rank0(policy.model)
    return LocalTeacher(
        policy,
        sampling=sampling,
        batch_size=config.rollout_batch_size,
        compress_with_model=compress_with_model,
        compress_max_tokens=min(MAX_TOKENS, config.max_new_tokens),
        fallback=truncation(config),
        chunk_tokens=config.logprob_chunk_tokens,
    )


def prepare_student(model, config: Config, checkpoint: Path | None, sharded: bool) -> None:
    """The loaded student made ready to train, in this order: a checkpoint's float32 masters
    (bf16-mixed), every rank given rank 0's weights, the weights that train (`train_top_layers`:
    all, or the top layers only), activation checkpointing (if on), FSDP2
    with the precision's policy (if sharded; before the optimizer, which must hold the
    sharded parameters), and pure bf16's warning when lr-sized steps round away."""
    if checkpoint is not None:
        checkpoints.load_masters(checkpoint, model)
    parallel.broadcast_from_rank0(model)
    trainable.train_top_layers(model, config.train_top_layers)
    if config.gradient_checkpointing:
        checkpointing.enable(model)
    if sharded:
        parallel.shard(model, config.precision)
    precision.warn_if_updates_round_away(model, config.lr, config.precision)


def check_shared_tokenizer(student: Policy, teacher: Policy, method: str) -> None:
    """Distillation compares distributions token by token: both models need one vocabulary."""
    if student.tokenizer.get_vocab() != teacher.tokenizer.get_vocab():
        raise ConfigError(
            f"method {method!r}: the teacher {teacher.name_or_path} and the student "
            f"{student.name_or_path} have different tokenizers; distillation needs one vocabulary "
            "(ZPPO, hint and prefix pass the teacher's answers as text and need none)"
        )


def fsdp_launch(accelerator) -> bool:
    """Whether accelerate launched this process with an FSDP config (`sharding: auto` then
    shards). Read from accelerate's launch variables too: with `cpu=True` accelerate reports
    MULTI_CPU even under an FSDP config. DeepSpeed launches are refused."""
    from accelerate.utils import DistributedType, parse_flag_from_env

    launched = accelerator.distributed_type
    if launched == DistributedType.DEEPSPEED or parse_flag_from_env("ACCELERATE_USE_DEEPSPEED"):
        raise ConfigError(
            "DeepSpeed launches are not supported: launch with configs/accelerate/fsdp.yaml "
            "(FSDP2 shards parameters, gradients and optimizer state: the ZeRO-3 layout)"
        )
    return launched == DistributedType.FSDP or parse_flag_from_env("ACCELERATE_USE_FSDP")
