"""What each run-config key may hold: the allowed values of the keys no other module owns,
and `check`, which tests every value and raises `ConfigError` naming the key, the value, what is
allowed and the key's help. `mmzppo.train.config.Config` calls it when it is made."""

from __future__ import annotations

import dataclasses
import math

from mmzppo.core.advantages import NORMALISATIONS
from mmzppo.policy.generation.base import BACKENDS
from mmzppo.policy.precision import PRECISIONS
from mmzppo.teachers.fleet import valid_endpoints
from mmzppo.teachers.served import FAILURES
from mmzppo.train.methods import METHODS
from mmzppo.train.objectives import DIVERGENCES

# The allowed values of the keys no other module owns ('auto' is resolved by `config_files.resolve_auto`).
TEACHER_KINDS = ("local", "server", "precomputed", "reference", "none")  # built by mmzppo.train.setup
JUDGE_MODES = ("auto", "on", "off")  # mmzppo.train.rewards
COMPRESSIONS = ("auto", "teacher", "truncate")
OLD_LOGPROBS = ("auto", "sampler", "recompute")
TIS = ("auto", "on", "off")
SHARDINGS = ("auto", "none", "fsdp")
NONFINITE = ("skip", "stop")
VLLM_DTYPES = ("bfloat16", "float16", "float32", "auto")


class ConfigError(ValueError):
    """A config key is unknown or its value is invalid; the message names the key."""


def one_of(options) -> str:
    return "one of " + ", ".join(options)


def help_of(config, key: str) -> str:
    return next(f.metadata.get("help", "") for f in dataclasses.fields(config) if f.name == key)


def check(config) -> None:
    """Raise ConfigError for the first key whose value is not allowed (or a method's problem)."""

    def number(value, low, high=math.inf, integer=False):
        kind = int if integer else (int, float)
        return isinstance(value, kind) and not isinstance(value, bool) and low <= value < high

    # key: (is the value allowed, what is allowed): the error names both
    checks = {
        "steps": (config.steps >= 1, ">= 1"),
        "rollout_budget": (config.rollout_budget >= 0, ">= 0 (0 = off)"),
        "save_every": (config.save_every >= 0, ">= 0 (0 = only at the end)"),
        "keep_checkpoints": (config.keep_checkpoints >= 0, ">= 0 (0 = keep all)"),
        "log_samples": (config.log_samples >= 0, ">= 0"),
        "student": (bool(config.student), "a hub id or a local folder"),
        "teacher_kind": (config.teacher_kind in TEACHER_KINDS, one_of(TEACHER_KINDS)),
        "teacher": (
            config.teacher_kind != "local" or bool(config.teacher),
            "a hub id or folder when teacher_kind is local",
        ),
        "precision": (config.precision in PRECISIONS, one_of(PRECISIONS)),
        "prompts_per_step": (config.prompts_per_step >= 1, ">= 1"),
        "data_shuffle": (number(config.data_shuffle, 0, integer=True), "an integer >= 0 (0 = shard order)"),
        "method": (config.method in METHODS, one_of(METHODS)),
        "group_size": (config.group_size >= 2, ">= 2 (a group needs two rollouts to compare)"),
        "teacher_group_size": (config.teacher_group_size >= 1, ">= 1"),
        "candidate_compression": (
            config.candidate_compression in COMPRESSIONS
            and not (config.candidate_compression == "teacher" and config.teacher_kind not in ("local", "server")),
            one_of(COMPRESSIONS) + "; 'teacher' needs teacher_kind local or server",
        ),
        "candidate_max_words": (config.candidate_max_words >= 1, ">= 1"),
        "ncq_max_candidates": (number(config.ncq_max_candidates, 0, integer=True), "an integer >= 0 (0 = all)"),
        "tau": (0.0 < config.tau <= 1.0, "in (0, 1]"),
        "rho_replay": (0.0 <= config.rho_replay <= 1.0, "in [0, 1]"),
        "rho_aug": (0.0 <= config.rho_aug <= 1.0, "in [0, 1]"),
        "buffer_capacity": (config.buffer_capacity >= 1, ">= 1"),
        "distill_beta": (0.0 <= config.distill_beta <= 1.0, "in [0, 1]"),
        "distill_loss": (config.distill_loss in DIVERGENCES, one_of(DIVERGENCES)),
        "distill_top_k": (config.distill_top_k >= 0, ">= 0 (0 = the full vocabulary)"),
        "prefix_fraction": (0.0 < config.prefix_fraction < 1.0, "in (0, 1)"),
        "temperature": (config.temperature > 0.0, "> 0"),
        "top_p": (0.0 < config.top_p <= 1.0, "in (0, 1]"),
        "max_new_tokens": (config.max_new_tokens >= 1, ">= 1"),
        "rollout_batch_size": (config.rollout_batch_size >= 1, ">= 1"),
        "updates_per_step": (config.updates_per_step >= 1, ">= 1"),
        "train_top_layers": (number(config.train_top_layers, 0, integer=True), "an integer >= 0 (0 = all layers)"),
        "micro_batch_size": (config.micro_batch_size >= 1, ">= 1"),
        "micro_batch_tokens": (
            number(config.micro_batch_tokens, 0, integer=True),
            "an integer >= 0 (0 = no token budget), or null (derived)",
        ),
        "logprob_chunk_tokens": (number(config.logprob_chunk_tokens, 1, integer=True), "an integer >= 1"),
        "old_logprobs": (config.old_logprobs in OLD_LOGPROBS, one_of(OLD_LOGPROBS)),
        "lr": (0.0 < config.lr < 1.0, "in (0, 1)"),
        "weight_decay": (0.0 <= config.weight_decay < 1.0, "in [0, 1)"),
        "betas": (len(config.betas) == 2 and all(0.0 <= b < 1.0 for b in config.betas), "two numbers in [0, 1)"),
        "grad_clip": (0.0 < config.grad_clip < math.inf, "> 0 and finite"),
        "eps_low": (0.0 < config.eps_low < 1.0, "in (0, 1)"),
        "eps_high": (0.0 < config.eps_high < math.inf, "> 0 and finite"),
        "dual_clip": (config.dual_clip is None or 1.0 < config.dual_clip < math.inf, "> 1 and finite, or null (off)"),
        "adv_eps": (0.0 < config.adv_eps < 1.0, "in (0, 1)"),
        "adv_norm": (config.adv_norm in NORMALISATIONS, one_of(NORMALISATIONS)),
        "nonfinite": (config.nonfinite in NONFINITE, one_of(NONFINITE)),
        "sharding": (config.sharding in SHARDINGS, one_of(SHARDINGS)),
        "rank_timeout": (number(config.rank_timeout, 1.0), ">= 1 second and finite"),
        "rollout_backend": (config.rollout_backend in BACKENDS, one_of(BACKENDS)),
        "vllm_dtype": (config.vllm_dtype in VLLM_DTYPES, one_of(VLLM_DTYPES)),
        "vllm_gpu_memory_utilization": (number(config.vllm_gpu_memory_utilization, 1e-6, 1.000001), "in (0, 1]"),
        "vllm_kv_cache_gb": (
            config.vllm_kv_cache_gb is None or number(config.vllm_kv_cache_gb, 1e-6),
            "a number of GiB > 0, or null",
        ),
        "vllm_max_model_len": (
            config.vllm_max_model_len is None or number(config.vllm_max_model_len, 2, integer=True),
            "an integer >= 2, or null (the model's maximum)",
        ),
        "vllm_max_images": (number(config.vllm_max_images, 1, integer=True), "an integer >= 1"),
        "tis": (config.tis in TIS, one_of(TIS)),
        "tis_cap": (number(config.tis_cap, 1.0), ">= 1 and finite"),
        "teacher_endpoint": (
            config.teacher_kind != "server" or valid_endpoints(config.teacher_endpoint),
            "an http(s):// URL, or a list of them, when teacher_kind is server",
        ),
        "teacher_concurrency": (number(config.teacher_concurrency, 1, integer=True), "an integer >= 1"),
        "teacher_timeout": (number(config.teacher_timeout, 1e-3), "> 0 seconds and finite"),
        "teacher_retries": (number(config.teacher_retries, 0, integer=True), "an integer >= 0"),
        "teacher_failure": (config.teacher_failure in FAILURES, one_of(FAILURES)),
        "judge": (config.judge in JUDGE_MODES, one_of(JUDGE_MODES)),
        "judge_endpoint": (config.judge_endpoint is None or valid_endpoints(config.judge_endpoint), "URL(s) or null"),
        "judge_max_tokens": (number(config.judge_max_tokens, 1, integer=True), "an integer >= 1"),
    }
    for key, (ok, allowed) in checks.items():
        if not ok:
            raise ConfigError(
                f"{key}: invalid value {getattr(config, key)!r}; allowed: {allowed} ({help_of(config, key)})"
            )
    if (
        config.vllm_max_model_len is not None
        and config.rollout_backend == "vllm"
        and config.vllm_max_model_len <= config.max_new_tokens
    ):
        raise ConfigError(
            f"vllm_max_model_len: {config.vllm_max_model_len} leaves no room for prompts with "
            f"max_new_tokens {config.max_new_tokens}; make it larger"
        )
    problem = METHODS[config.method].config_problem(config)  # can the method use this teacher?
    if problem:
        raise ConfigError(problem)
