"""Training: `python -m mmzppo.train --config configs/RUN.yaml [key=value ...] [--resume]`.

One loop for every method of the paper. `Trainer` owns what all of them share: the student
and its optimizer, the rollout backend, the teacher, the data, the replay buffer, the run
folder, checkpoints and resume. A method (`config.method`, one file each in mmzppo/methods/)
is a step function that reads like its Algorithm box and calls the loop's small steps:

    draw_batch       X_new from the shards + X_replay from the buffer
    generate         G rollouts per prompt, graded against the original gold
    teacher_answers  G_T fresh teacher answers per question, the correct ones kept
    set_advantages   Eqs. 2-3 over the groups, statistics over all ranks
    update           I optimizer steps of an objective (mmzppo/update.py) over equal mini-batches
    bookkeep         buffer admission / graduation / eviction from plain accuracies

GRPO and GRPO-dagger are `method: zppo` with switches off; the ablation rows are configs.

Several processes (`accelerate launch`): each rank reads its own share of the shards and
draws |X_new| / world_size new questions; the reformulation caps and the replay buffer are
per rank (a documented choice: one buffer per data shard, with the counts summed across
ranks in the logs); the advantage statistics (mu, sigma over non-trivial groups) and the
token count of the loss are computed over all ranks, and gradients are summed over ranks,
so loss and gradient equal one process's on the same global batch. The model is either
replicated or sharded with FSDP2 (`sharding`; see `mmzppo/parallel.py`).

The run folder `<output_dir>/<name>/` holds: config.yaml (resolved: what actually ran),
metrics.jsonl (every step), samples.jsonl (full prompts, responses and rewards, the
method's extra groups first), media/, tb/ (TensorBoard), checkpoints/step-N/ (Hugging Face
model + processor, trainer_state*.pt with optimizer, RNG, data position and buffer).
`--resume` continues from the newest complete checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import random
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mmzppo.core import selection as zppo
from mmzppo.core.ppo import ClipConfig
from mmzppo.data.sample import Sample
from mmzppo.grading.grader import grade
from mmzppo.policy import parallel
from mmzppo.policy.encoding import media_cache
from mmzppo.policy.generation.base import Completion, SamplingParams
from mmzppo.policy.generation.hf import HFRollout
from mmzppo.policy.loading import load_policy
from mmzppo.prompting.builders import plain
from mmzppo.prompting.compress import MAX_LINES, MAX_TOKENS, truncate_candidates
from mmzppo.train import checkpoints
from mmzppo.train.buffer import ReplayBuffer
from mmzppo.train.checkpoints import CheckpointError, NonFiniteError, latest_checkpoint
from mmzppo.train.config import Config, ConfigError, save_config
from mmzppo.train.methods import METHODS
from mmzppo.train.metrics import sample_records, step_metrics
from mmzppo.train.objectives import Objective
from mmzppo.train.rollout import Rollout, generate_and_grade, set_advantages
from mmzppo.train.update import MicroBatching, accumulate, minibatches, old_logprobs, sampler_logprobs


@contextmanager
def timer(times: dict[str, float], name: str):
    start = time.perf_counter()
    yield
    times[name] = times.get(name, 0.0) + time.perf_counter() - start


def make_teacher(config: Config, device, current: dict[str, Sample]):
    """The configured teacher, or None ('none': GRPO baselines)."""
    from mmzppo.teachers.local import LocalTeacher
    from mmzppo.teachers.text import PrecomputedTeacher, ReferenceTeacher

    if config.teacher_kind == "none":
        return None
    sampling = SamplingParams(temperature=config.temperature, top_p=config.top_p, max_new_tokens=config.max_new_tokens)
    if config.teacher_kind == "server":  # an OpenAI-compatible server (vllm serve Qwen/Qwen3.5-27B-FP8)
        from mmzppo.teachers.client import ChatClient, ServerError
        from mmzppo.teachers.served import ServerTeacher, TeacherUnavailable

        client = ChatClient(
            config.teacher_endpoint,
            config.teacher_served_model,
            concurrency=config.teacher_concurrency,
            timeout=config.teacher_timeout,
            retries=config.teacher_retries,
            api_key=os.environ.get("MMZPPO_TEACHER_API_KEY"),
        )
        if config.teacher_failure == "stop":  # fail at start-up, not at the first hard question
            try:
                client.check()
            except ServerError as e:
                raise TeacherUnavailable(f"teacher server {client.url} is not usable at start-up: {e.problem}") from e
        return ServerTeacher(
            client,
            config.vision,
            sampling,
            compress_with_model=config.compress_with_teacher,
            compress_max_tokens=min(MAX_TOKENS, config.max_new_tokens),
            fallback=truncation(config),
            failure=config.teacher_failure,
        )
    if config.teacher_kind == "precomputed":  # answers stored in the shards' teacher.json (a deviation)
        return PrecomputedTeacher(lambda uid: current.get(uid), compress=truncation(config))
    if config.teacher_kind == "reference":
        # the dataset's worked solutions of the questions in the current step
        return ReferenceTeacher(
            lambda uid: current[uid].solution if uid in current else None, compress=truncation(config)
        )
    policy = load_policy(
        config.teacher,
        dtype=config.dtype,
        attn_implementation=config.attn_implementation,
        vision=config.vision,
        device=device,
    )
    parallel.broadcast_from_rank0(policy.model)
    return LocalTeacher(
        policy,
        sampling=sampling,
        batch_size=config.rollout_batch_size,
        compress_with_model=config.compress_with_teacher,
        compress_max_tokens=min(MAX_TOKENS, config.max_new_tokens),
        fallback=truncation(config),
    )


def truncation(config: Config):
    """The deterministic candidate compressor with the configured word budget."""
    return functools.partial(truncate_candidates, max_lines=MAX_LINES, max_words=config.candidate_max_words)


def check_shared_tokenizer(student, teacher, method: str) -> None:
    """Distillation compares distributions token by token: both models need one vocabulary."""
    if student.tokenizer.get_vocab() != teacher.tokenizer.get_vocab():
        raise ConfigError(
            f"method {method!r}: the teacher {teacher.name_or_path} and the student "
            f"{student.name_or_path} have different tokenizers; distillation needs one vocabulary "
            "(ZPPO, hint and prefix pass the teacher's answers as text and need none)"
        )


def resolved(config: Config, teacher) -> Config:
    """The config as it ran: the teacher only when loaded, the compression actually used."""
    if teacher is None:
        return dataclasses.replace(config, teacher_kind="none", candidate_compression="truncate")
    return dataclasses.replace(
        config, candidate_compression="teacher" if getattr(teacher, "compress_with_model", False) else "truncate"
    )


def uses_fsdp(config: Config, accelerator) -> bool:
    """Resolve `sharding` against how the script was launched. Read from accelerate's launch
    variables too: with `cpu=True` accelerate reports MULTI_CPU even under an FSDP config."""
    from accelerate.utils import DistributedType, parse_flag_from_env

    launched = accelerator.distributed_type
    if launched == DistributedType.DEEPSPEED or parse_flag_from_env("ACCELERATE_USE_DEEPSPEED"):
        raise ConfigError(
            "DeepSpeed launches are not supported: launch with configs/accelerate/fsdp.yaml "
            "(FSDP2 shards parameters, gradients and optimizer state: the ZeRO-3 layout)"
        )
    if config.sharding == "auto":
        return launched == DistributedType.FSDP or parse_flag_from_env("ACCELERATE_USE_FSDP")
    return config.sharding == "fsdp"


class Trainer:
    """Holds the models, optimizer, data, buffer and run folder; `train()` runs the steps."""

    def __init__(self, config: Config, resume: bool = False):
        from accelerate import Accelerator

        self.config = c = config
        self.acc = Accelerator(cpu=not torch.cuda.is_available())
        self.rank, self.world = self.acc.process_index, self.acc.num_processes
        self.sharded = uses_fsdp(c, self.acc) and self.world > 1  # one process: nothing to shard
        if c.prompts_per_step % self.world:
            raise ConfigError(f"prompts_per_step: {c.prompts_per_step} is not divisible by {self.world} processes")
        self.n_new = c.prompts_per_step // self.world  # this rank's |X_new|
        self.run_dir = c.run_dir
        checkpoint = latest_checkpoint(self.run_dir) if resume else None
        if resume and checkpoint is None:
            raise FileNotFoundError(f"--resume: no complete checkpoint under {self.run_dir / 'checkpoints'}")
        if not resume and (self.run_dir / "metrics.jsonl").exists():
            raise FileExistsError(f"{self.run_dir} already holds a run: pass --resume, or choose another name=")
        seed_everything(c.seed + self.rank)

        from mmzppo.data.shards import ShardReader  # the data first: a wrong path fails before any model loads

        try:
            self.reader = ShardReader(
                c.train_shards, vision=c.vision, rank=self.rank, world_size=self.world, seed=c.seed
            )
        except FileNotFoundError as e:
            raise FileNotFoundError(f"train_shards: {e} (write shards with python -m mmzppo.data)") from None
        self.reader.check_readers()
        self._data = iter(self.reader)
        self.student = load_policy(
            checkpoint or c.student,
            dtype=c.dtype,
            attn_implementation=c.attn_implementation,
            vision=c.vision,
            device=self.acc.device,
        )
        self.model = self.student.model
        parallel.broadcast_from_rank0(self.model)
        if self.sharded:
            parallel.shard(self.model)  # before the optimizer: it must hold the sharded parameters
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)
        if self.world > 1 and self.acc.is_main_process:
            layout = "FSDP2 (language model sharded, vision tower replicated)" if self.sharded else "replicated"
            print(f"{self.world} processes, model {layout}, gradients summed over ranks", file=sys.stderr)
        if c.rollout_backend == "vllm":  # a colocated engine, built from the same checkpoint, given our weights
            from mmzppo.policy.generation.vllm import VLLMRollout, settings_from_config

            self.rollout = VLLMRollout(self.student, settings_from_config(c), model_path=str(checkpoint or c.student))
        else:
            self.rollout = HFRollout(self.student, batch_size=c.rollout_batch_size)
        self.tis_cap = c.tis_cap if c.tis_on else None  # ClippedPPO's truncated importance sampling
        self.sampling = SamplingParams(temperature=c.temperature, top_p=c.top_p, max_new_tokens=c.max_new_tokens)
        self.current: dict[str, Sample] = {}  # this step's questions, by uid
        self.student_rollouts = 0  # sampled so far (all processes), for `rollout_budget`
        self.teacher = make_teacher(c, self.acc.device, self.current) if c.needs_teacher else None
        if c.method.startswith("distill") and c.teacher_kind != "reference":
            check_shared_tokenizer(self.student, self.teacher.policy, c.method)
        self.step_fn = METHODS[c.method]
        self.buffer = ReplayBuffer(c.buffer_capacity, threshold=c.tau, seed=c.seed + self.rank)
        self.clip = ClipConfig(c.eps_low, c.eps_high, c.dual_clip)
        self.rng = random.Random(c.seed * 1000 + self.rank)  # candidate, hint and prefix choices; update order
        self.aug_slots = zppo.slots(c.rho_aug, self.n_new)  # the pre- and post-cap of extra prompts
        self.micro_batching = MicroBatching(c.micro_batch_size, c.micro_batch_tokens)
        # PPO's log pi_old: the transformers backend records, for each sampled token, log p under
        # the very distribution the loss scores (temperature applied; no top-p / top-k / penalty in
        # training), equal to a re-scoring to ~1e-6 (tests/test_rollout.py), so no extra pass
        self.sampler_logprobs_are_old = c.old_logprobs == "sampler" or (
            c.old_logprobs == "auto" and isinstance(self.rollout, HFRollout) and c.top_p == 1.0
        )

        self.step_idx = 0
        self.times: dict[str, float] = {}
        if checkpoint is not None:
            self.load_state(checkpoint)
            if self.acc.is_main_process:
                checkpoints.truncate_logs(self, checkpoint)
        if self.acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(resolved(c, self.teacher), self.run_dir / "config.yaml")
        self.writer = None

    # ----------------------------------------------------------------- the steps a method calls

    def timer(self, name: str):
        """Time a phase of this step under `time/<name>`."""
        return timer(self.times, name)

    def next_questions(self, n: int) -> list[Sample]:
        """n new questions from this rank's shards, starting a new epoch when one ends."""
        out = []
        while len(out) < n:
            try:
                out.append(next(self._data))
            except StopIteration:
                self.reader.set_epoch(self.reader.epoch + 1)
                self._data = iter(self.reader)
        return out

    def draw_batch(self) -> tuple[list[Sample], list[Sample]]:
        """Step 1: X = X_new + X_replay (rho_replay * |X_new| from the buffer, if on). Returns
        (the batch, without duplicates, and the replayed questions)."""
        with self.timer("data"):
            new = self.next_questions(self.n_new)
        replay = (
            self.buffer.sample_replay(zppo.slots(self.config.rho_replay, self.n_new)) if self.config.use_buffer else []
        )
        batch = list({s.uid: s for s in new + replay}.values())
        self.current.clear()
        self.current.update({s.uid: s for s in batch})
        return batch, replay

    def generate(self, prompts, n: int) -> list[list[Rollout]]:
        """n student rollouts per prompt (a group each), graded against the original gold."""
        with self.timer("rollout"):
            return generate_and_grade(self.rollout, prompts, self.current, n, self.sampling)

    def teacher_answers(self, samples: list[Sample]) -> list[list[Completion]]:
        """G_T fresh teacher answers per question (plain prompt), keeping the correct ones."""
        if not samples:
            return []
        with self.timer("teacher"):
            answers = self.teacher.sample([plain(s) for s in samples], self.config.teacher_group_size)
        return [
            [a for a in group if grade(a.text, s.answer, s.answer_type, s.choices).reward == 1.0]
            for s, group in zip(samples, answers)
        ]

    def student_tokens(self, answer: Completion) -> Completion:
        """A text-only answer (reference solutions, a served teacher) in the student's tokens,
        ending with its end-of-turn token; an answer with tokens is returned as it is."""
        if answer.token_ids:
            return answer
        tok = self.student.tokenizer
        ids = tok(answer.text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        return Completion(token_ids=ids, logprobs=[0.0] * len(ids), text=answer.text, finished=True)

    @property
    def compress(self):
        """The candidate compressor: the teacher's (its model rewrite, or its fallback), else truncation."""
        return self.teacher.compress if self.teacher is not None else truncation(self.config)

    def set_advantages(self, groups: list[list[Rollout]]) -> None:
        set_advantages(groups, self.config.adv_eps, self.config.adv_norm)

    def update(self, rollouts: list[Rollout], objective: Objective, n_updates: int) -> dict:
        """`n_updates` optimizer steps of `objective` over equal mini-batches of the shuffled
        rollouts (old log-probs first, once, if the objective needs them)."""
        c = self.config
        with self.timer("update"):
            order = list(range(len(rollouts)))
            self.rng.shuffle(order)
            rollouts = [rollouts[i] for i in order]
            old = None
            if objective.needs_old_logprobs and self.sampler_logprobs_are_old:
                old = sampler_logprobs(rollouts)  # no extra pass: the sampler scored these tokens already
            elif objective.needs_old_logprobs:
                with self.timer("old_logprobs"):
                    old = old_logprobs(self.model, self.student, rollouts, self.micro_batching, c.temperature)
            totals = dict.fromkeys(("loss", *objective.stats, "entropy", "grad_norm"), 0.0)
            skipped = 0
            batches = minibatches(len(rollouts), n_updates)
            batches += [[] for _ in range(n_updates - len(batches))]  # every rank takes n_updates steps
            for batch in batches:
                self.optimizer.zero_grad(set_to_none=True)
                stats = accumulate(
                    self.model,
                    self.student,
                    [rollouts[i] for i in batch],
                    [old[i] for i in batch] if old is not None else None,
                    objective,
                    self.micro_batching,
                    c.temperature,
                )
                parallel.sync_gradients(self.model)
                stats["grad_norm"] = parallel.clip_grad_norm(self.model, c.grad_clip)
                if not (math.isfinite(stats["loss"]) and math.isfinite(stats["grad_norm"])):  # same on every rank
                    self.nonfinite_update([rollouts[i] for i in batch], stats)  # raises with nonfinite: stop
                    skipped += 1
                    continue
                self.optimizer.step()
                for k, v in stats.items():
                    totals[k] += v
            self.rollout.sync_weights()
        out = {k: v / max(len(batches) - skipped, 1) for k, v in totals.items()}  # over the updates taken
        out["update/skipped_nonfinite"] = skipped
        return out

    def nonfinite_update(self, batch: list[Rollout], stats: dict) -> None:
        """A mini-batch whose loss or gradient norm is NaN/inf: its update is not applied.
        `nonfinite: stop` saves the mini-batch (prompts, tokens, rewards, advantages) and stops."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.config.nonfinite == "skip":
            return
        out = self.run_dir / "nonfinite" / f"step-{self.step_idx}-rank{self.rank}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        rows = [
            {
                "uid": r.uid,
                "kind": r.kind,
                "prompt": r.prompt.text,
                "token_ids": r.token_ids,
                "reward": r.reward,
                "advantage": r.advantage,
            }
            for r in batch
        ]
        out.write_text(json.dumps({"step": self.step_idx, "stats": stats, "rollouts": rows}, indent=1))
        raise NonFiniteError(
            f"step {self.step_idx}: loss {stats['loss']} / gradient norm {stats['grad_norm']} "
            f"is not finite; the mini-batch is saved in {out} (nonfinite: stop)"
        )

    def bookkeep(self, outcomes: list[zppo.PlainOutcome]) -> Counter:
        """Step 10: the buffer's admissions, graduations and evictions from plain accuracies."""
        if not self.config.use_buffer:
            return Counter()
        accuracy = {o.sample.uid: o.accuracy for o in outcomes}
        return self.buffer.update(accuracy, self.current, self.step_idx)

    # ----------------------------------------------------------------- one step

    def step(self) -> tuple[dict, list[dict]]:
        """One rollout step of the configured method. Returns metrics and logged samples."""
        self.times = {}
        t0 = time.perf_counter()
        teacher_before = Counter(getattr(self.teacher, "counts", {}))
        with media_cache():  # each question's media read and resized once this step
            result = self.step_fn(self)
        self.times["step"] = time.perf_counter() - t0
        teacher_calls = Counter(getattr(self.teacher, "counts", {}))
        teacher_calls.subtract(teacher_before)
        extra = {f"teacher/{k}": teacher_calls.get(k, 0) for k in ("sampled", "rewrites", "hints", "scored", "failed")}
        extra["data/skipped"] = sum(self.reader.skipped.values())
        local = sum(len(g) for g in result.groups if g and g[0].kind != "teacher")  # the student's own samples
        self.student_rollouts += int(parallel.all_reduce([float(local)])[0])
        extra["rollouts/student_total"] = self.student_rollouts
        metrics = step_metrics(self.step_idx, result, self.buffer, self.times, extra)
        samples = []
        if self.acc.is_main_process:
            samples = sample_records(self.step_idx, result, self.current, self.run_dir, self.config.log_samples)
        self.step_idx += 1
        return metrics, samples

    # ----------------------------------------------------------------- checkpoints

    def save_state(self) -> Path:
        """Write checkpoints/step-N/ (see mmzppo/checkpoints.py)."""
        return checkpoints.save(self)

    def write_logs(self, metrics: dict, samples: list[dict]) -> None:
        """Append this step's row to metrics.jsonl, its samples to samples.jsonl, its scalars to TensorBoard."""
        try:
            with open(self.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(metrics) + "\n")
            with open(self.run_dir / "samples.jsonl", "a") as f:
                for s in samples:
                    f.write(json.dumps(s) + "\n")
        except OSError as e:
            raise CheckpointError(
                f"could not write the run logs in {self.run_dir} ({e.strerror or e}); free space "
                "and --resume (rows after the last checkpoint are written again)"
            ) from e
        for k, v in metrics.items():
            if isinstance(v, (int, float)):
                self.writer.add_scalar(k, v, metrics["step"])

    def load_state(self, path: Path) -> None:
        checkpoints.load(self, path)

    # ----------------------------------------------------------------- loop

    @property
    def budget_spent(self) -> bool:
        """`rollout_budget` student rollouts sampled (never with the budget off)."""
        return 0 < self.config.rollout_budget <= self.student_rollouts

    def train(self) -> Path:
        c = self.config
        main = self.acc.is_main_process
        if main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step_idx)
        bar = main and sys.stderr.isatty()  # a piped log gets one plain line per step instead
        progress = tqdm(total=c.steps, initial=self.step_idx, desc=c.name, disable=not bar, dynamic_ncols=True)
        while self.step_idx < c.steps and not self.budget_spent:
            metrics, samples = self.step()
            if main:
                self.write_logs(metrics, samples)
                progress.set_postfix(postfix(metrics))
                progress.update(1)
                if not bar:
                    shown = " ".join(f"{k} {v}" for k, v in postfix(metrics).items())
                    print(
                        f"{c.name} step {self.step_idx}/{c.steps} {shown} {metrics['time/step']:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
            if (c.save_every and self.step_idx % c.save_every == 0) or self.step_idx == c.steps or self.budget_spent:
                self.save_state()
        progress.close()
        if self.writer is not None:
            self.writer.close()
        return self.run_dir


def postfix(metrics: dict) -> dict[str, str]:
    """The progress bar's few numbers: the first kind's reward, the extra groups, the buffer."""
    kinds = [k[len("groups/") :] for k in metrics if k.startswith("groups/")]
    out = {"reward": f"{metrics.get(f'reward/{kinds[0]}_mean', 0.0):.3f}"} if kinds else {}
    out.update({kind: str(int(metrics[f"groups/{kind}"])) for kind in kinds[1:]})
    out["buffer"] = str(int(metrics["buffer/size"]))
    return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
