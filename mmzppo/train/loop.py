"""The loop every method of the paper runs on: `Trainer`, built from a run config.

`Trainer` owns what all methods share: the student and its optimizer, the rollout backend,
the teacher, the data, the replay buffer, the run folder, checkpoints and resume. A method
(`config.method`, one file each in `mmzppo/train/methods/`) is a step function that reads
like its Algorithm box and calls the loop's steps, declared in `mmzppo.train.api.Loop`:

    draw_batch       X_new from the shards + X_replay from the buffer
    generate         G rollouts per prompt (encoded once), graded against the original gold
    teacher_answers  G_T fresh teacher answers per question, the correct ones kept
    set_advantages   Eqs. 2-3 over the groups, statistics over all ranks
    update           I optimizer steps of an objective over equal mini-batches (`update.Updater`)
    bookkeep         buffer admission / graduation / eviction from plain accuracies

Several processes (`accelerate launch`): each rank reads its own share of the shards and
draws |X_new| / world_size new questions; the reformulation caps and the replay buffer are
per rank (a documented choice: one buffer per data shard, with the counts summed across
ranks in the logs); the advantage statistics (mu, sigma over non-trivial groups) and the
token count of the loss are computed over all ranks, and gradients are summed over ranks,
so loss and gradient equal one process's on the same global batch. The model is either
replicated or sharded with FSDP2 (`sharding`; see `mmzppo/policy/parallel.py`).

The run folder `<output_dir>/<name>/` holds: config.yaml (resolved: what actually ran),
metrics.jsonl (every step), samples.jsonl (full prompts, responses and rewards, the
method's extra groups first), media/, tb/ (TensorBoard), checkpoints/step-N/ (Hugging Face
model + processor, trainer_state*.pt with optimizer, RNG, data position and buffer).
`--resume` continues from the newest complete checkpoint. A SIGTERM stops every rank after the current step
with a checkpoint; a rank silent for `rank_timeout` s is named by the others, which exit (`cluster.py`).
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mmzppo.core import selection
from mmzppo.core.ppo import ClipConfig
from mmzppo.data.sample import Sample
from mmzppo.policy import parallel
from mmzppo.policy.encoding import encode_prompts
from mmzppo.policy.generation.base import Completion, SamplingParams
from mmzppo.policy.kernels import kernel_report
from mmzppo.policy.loading import load_policy
from mmzppo.policy.precision import WEIGHTS
from mmzppo.policy.trainable import trainable_parameters
from mmzppo.prompting.builders import Prompt, plain
from mmzppo.teachers.fleet import fleet_metrics
from mmzppo.train import checkpoints, cluster
from mmzppo.train.api import StepResult
from mmzppo.train.buffer import ReplayBuffer
from mmzppo.train.checkpoints import NonFiniteError, latest_checkpoint
from mmzppo.train.config import Config, ConfigError
from mmzppo.train.config_files import resolve_auto, save_config
from mmzppo.train.evals import CheckpointEvals
from mmzppo.train.methods import METHODS
from mmzppo.train.metrics import postfix, sample_records, step_metrics, write_logs
from mmzppo.train.objectives import Objective
from mmzppo.train.rewards import make_rewarder
from mmzppo.train.rollout import Rollout, generate_and_grade, set_advantages
from mmzppo.train.setup import (
    check_shared_tokenizer,
    fsdp_launch,
    make_backend,
    make_teacher,
    prepare_student,
    truncation,
)
from mmzppo.train.update import MicroBatching, Updater


class Trainer:
    """Holds the models, optimizer, data, buffer and run folder; `train()` runs the steps
    (a `mmzppo.train.api.Loop` for the methods)."""

    def __init__(self, config: Config, resume: bool = False):
        from accelerate import Accelerator

        self.acc = Accelerator(cpu=not torch.cuda.is_available())
        self.rank, self.world = self.acc.process_index, self.acc.num_processes
        self.config = c = resolve_auto(config, fsdp_launch=fsdp_launch(self.acc))
        self.sharded = c.sharding == "fsdp" and self.world > 1  # one process: nothing to shard
        self.heartbeat = cluster.Heartbeat(self.rank, self.world, c.rank_timeout).start()  # no-op alone
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
                c.train_shards,
                vision=c.vision,
                rank=self.rank,
                world_size=self.world,
                seed=c.seed,
                shuffle=c.data_shuffle,
            )
        except FileNotFoundError as e:
            raise FileNotFoundError(f"train_shards: {e} (write shards with python -m mmzppo.data)") from None
        self.reader.check_readers()
        self.data = iter(self.reader)
        self.student = load_policy(
            checkpoint or c.student,
            dtype=WEIGHTS[c.precision],  # float32 masters under bf16-mixed
            attn_implementation=c.attn_implementation,
            vision=c.vision,
            device=self.acc.device,
        )
        self.model = self.student.model
        self.tokenizer = self.student.tokenizer
        if self.acc.is_main_process:  # a slow torch fallback shows before the first step, not in its time
            shown = "; ".join(f"{kind}: {impl}" for kind, impl in kernel_report(self.model).items())
            print(f"attention kernels: {shown}", file=sys.stderr)
        prepare_student(self.model, c, checkpoint, self.sharded)  # masters, checkpointing, FSDP2: before the optimizer
        self.optimizer = torch.optim.AdamW(
            trainable_parameters(self.model), lr=c.lr, betas=c.betas, weight_decay=c.weight_decay
        )
        if self.world > 1 and self.acc.is_main_process:
            layout = "FSDP2 (language model sharded, vision tower replicated)" if self.sharded else "replicated"
            print(f"{self.world} processes, model {layout}, gradients summed over ranks", file=sys.stderr)
        self.rollout = make_backend(c, self.student, str(checkpoint or c.student))
        self.sampling = SamplingParams(temperature=c.temperature, top_p=c.top_p, max_new_tokens=c.max_new_tokens)
        self.method = METHODS[c.method]
        self.teacher = make_teacher(c, self.acc.device, self.student) if c.teacher_kind != "none" else None
        self.rewarder = make_rewarder(c, self.teacher)  # the rule grader, and the judge for free-form rows
        if self.method.SAME_VOCABULARY and c.teacher_kind == "local":
            check_shared_tokenizer(self.student, self.teacher.policy, c.method)
        self.buffer = ReplayBuffer(c.buffer_capacity, threshold=c.tau, seed=c.seed + self.rank)
        self.clip = ClipConfig(c.eps_low, c.eps_high, c.dual_clip)
        self.tis_cap = c.tis_cap if c.tis == "on" else None  # ClippedPPO's truncated importance sampling
        self.rng = random.Random(c.seed * 1000 + self.rank)  # candidate, hint and prefix choices; update order
        self.aug_slots = selection.slots(c.rho_aug, self.n_new)  # the pre- and post-cap of extra prompts
        self.updater = Updater(
            self.student,
            self.optimizer,
            MicroBatching(c.micro_batch_size, c.micro_batch_tokens),
            c.temperature,
            c.grad_clip,
            old_from_sampler=c.old_logprobs == "sampler",
            sync_weights=self.rollout.sync_weights,
            on_nonfinite=self.nonfinite_update,
            timer=self.timer,
            chunk_tokens=c.logprob_chunk_tokens,
            precision=c.precision,
        )
        self.student_rollouts = 0  # sampled so far (all processes), for `rollout_budget`
        self.step_rollouts = 0  # sampled by this rank in the current step
        self.step_idx = 0
        self.times: dict[str, float] = {}
        if checkpoint is not None:
            self.load_state_dict(checkpoints.load(checkpoint, self.rank))
            if self.acc.is_main_process:
                checkpoints.truncate_logs(self.run_dir, checkpoint)
        if self.acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(c, self.run_dir / "config.yaml")
        self.writer = None
        main = self.acc.is_main_process  # evaluations of checkpoints run from the main process only
        self.evals = CheckpointEvals(self.run_dir, c.eval_every, c.eval_suites, c.eval_args, active=main)

    # ----------------------------------------------------------------- the steps a method calls (api.Loop)

    @contextmanager
    def timer(self, name: str):
        """Time a phase of this step under `time/<name>`."""
        start = time.perf_counter()
        yield
        self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - start

    def next_questions(self, n: int) -> list[Sample]:
        """n new questions from this rank's shards, starting a new epoch when one ends."""
        out = []
        while len(out) < n:
            try:
                out.append(next(self.data))
            except StopIteration:
                self.reader.set_epoch(self.reader.epoch + 1)
                self.data = iter(self.reader)
        return out

    def draw_batch(self) -> tuple[list[Sample], list[Sample]]:
        """Step 1: X = X_new + X_replay (rho_replay * |X_new| from the buffer, if on). Returns
        (the batch, without duplicates, and the replayed questions)."""
        with self.timer("data"):
            new = self.next_questions(self.n_new)
        replay = (
            self.buffer.sample_replay(selection.slots(self.config.rho_replay, self.n_new))
            if self.config.use_buffer
            else []
        )
        return list({s.uid: s for s in new + replay}.values()), replay

    def generate(self, prompts: list[Prompt], n: int) -> list[list[Rollout]]:
        """n student rollouts per prompt (a group each), each prompt encoded once for the step."""
        with self.timer("rollout"):
            encoded = encode_prompts(self.student.processor, self.student.vision, prompts)
            groups = generate_and_grade(self.rollout, encoded, prompts, n, self.sampling)
        with self.timer("judge"):
            self.rewarder.resolve(groups)  # the judge's rewards of free-form rows, asked together
        self.step_rollouts += n * len(prompts)
        return groups

    def teacher_answers(self, samples: list[Sample]) -> list[list[Completion]]:
        """G_T fresh teacher answers per question (plain prompt), keeping the correct ones."""
        if not samples:
            return []
        with self.timer("teacher"):
            answers = self.teacher.answer(samples, self.config.teacher_group_size)
        ok = self.rewarder.correct(samples, [[a.text for a in group] for group in answers])
        return [[a for a, right in zip(group, flags) if right] for group, flags in zip(answers, ok)]

    def compress(self, responses: list[str]) -> list[str]:
        """The candidate compressor: the teacher's (its model rewrite, or its fallback), else truncation."""
        return self.teacher.compress(responses) if self.teacher is not None else truncation(self.config)(responses)

    def write_hints(self, samples: list[Sample], answers: list[str]) -> list[str]:
        """One answer-free hint per question, from one of its correct answers (teacher time)."""
        with self.timer("teacher"):
            return self.teacher.write_hints(samples, answers) if samples else []

    def teacher_sequences(self, sample: Sample, answers: list[Completion]) -> list[Rollout]:
        """Correct answers as sequences of the plain prompt in the student's tokens (a text-only
        answer is tokenized and ends with the end-of-turn token); reward 1, kind "teacher"."""
        prompt = dataclasses.replace(plain(sample), kind="teacher")
        (encoded,) = encode_prompts(self.student.processor, self.student.vision, [prompt])
        out = []
        for a in answers:
            if not a.token_ids:
                ids = self.tokenizer(a.text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
                a = Completion(token_ids=ids, logprobs=[0.0] * len(ids), text=a.text, finished=True)
            out.append(Rollout(prompt, encoded, a, 1.0, None))
        return out

    def set_advantages(self, groups: list[list[Rollout]]) -> None:
        set_advantages(groups, self.config.adv_eps, self.config.adv_norm)

    def update(self, rollouts: list[Rollout], objective: Objective, n_updates: int) -> dict:
        """`n_updates` optimizer steps of `objective` over equal mini-batches of the shuffled
        rollouts (old log-probs first, once, if the objective needs them)."""
        with self.timer("update"):
            return self.updater(rollouts, objective, n_updates, self.rng)

    def nonfinite_update(self, batch: list[Rollout], stats: dict) -> None:
        """A mini-batch whose loss or gradient norm is NaN/inf: its update is not applied.
        `nonfinite: stop` saves the mini-batch (prompts, tokens, rewards, advantages) and stops."""
        if self.config.nonfinite == "skip":
            return
        out = self.run_dir / "nonfinite" / f"step-{self.step_idx}-rank{self.rank}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        keys = ("uid", "kind", "token_ids", "reward", "advantage")
        rows = [{"prompt": r.prompt.text, **{k: getattr(r, k) for k in keys}} for r in batch]
        out.write_text(json.dumps({"step": self.step_idx, "stats": stats, "rollouts": rows}, indent=1))
        raise NonFiniteError(
            f"step {self.step_idx}: loss {stats['loss']} / gradient norm {stats['grad_norm']} "
            f"is not finite; the mini-batch is saved in {out} (nonfinite: stop)"
        )

    def bookkeep(self, outcomes: list[selection.PlainOutcome]) -> Counter:
        """Step 10: the buffer's admissions, graduations and evictions from plain accuracies."""
        if not self.config.use_buffer:
            return Counter()
        accuracy = {o.sample.uid: o.accuracy for o in outcomes}
        return self.buffer.update(accuracy, {o.sample.uid: o.sample for o in outcomes}, self.step_idx)

    # ----------------------------------------------------------------- one step

    def step(self) -> tuple[dict, list[dict]]:
        """One rollout step of the configured method. Returns metrics and logged samples."""
        self.times, self.step_rollouts = {}, 0
        t0 = time.perf_counter()
        teacher_before = Counter(getattr(self.teacher, "counts", {}))
        result: StepResult = self.method.step(self)
        self.times["step"] = time.perf_counter() - t0
        teacher_calls = Counter(getattr(self.teacher, "counts", {}))
        teacher_calls.subtract(teacher_before)
        extra = {f"teacher/{k}": teacher_calls.get(k, 0) for k in ("sampled", "rewrites", "hints", "scored", "failed")}
        extra.update(fleet_metrics(teacher_calls))  # a served teacher's per-server counts
        extra["data/skipped"] = sum(self.reader.skipped.values())
        extra.update(self.rewarder.step_metrics())
        self.student_rollouts += int(parallel.all_reduce([float(self.step_rollouts)])[0])
        extra["rollouts/student_total"] = self.student_rollouts
        metrics = step_metrics(self.step_idx, result, self.buffer, self.times, extra)
        samples = []
        if self.acc.is_main_process:
            samples = sample_records(self.step_idx, result, self.run_dir, self.config.log_samples)
        self.step_idx += 1
        return metrics, samples

    # ----------------------------------------------------------------- state

    def state_dict(self) -> dict:
        """This rank's state beyond the weights: what a resumed run needs to go on exactly."""
        return {
            "step": self.step_idx,
            "student_rollouts": self.student_rollouts,
            "optimizer": self.optimizer.state_dict(),
            "buffer": self.buffer.state_dict(),
            "data": self.reader.state_dict(),
            "judge": self.rewarder.state_dict(),  # the verdict cache
            "rng": {
                "python": self.rng.getstate(),
                "global_python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
            },
        }

    def load_state_dict(self, state: dict) -> None:
        self.step_idx = state["step"]
        self.student_rollouts = state.get("student_rollouts", 0)  # checkpoints before the budget key have none
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self.reader.load_state_dict(state["data"])
        self.rewarder.load_state_dict(state.get("judge", {}))
        self.data = iter(self.reader)
        self.rng.setstate(state["rng"]["python"])
        random.setstate(state["rng"]["global_python"])
        np.random.set_state(state["rng"]["numpy"])
        torch.set_rng_state(state["rng"]["torch"])

    def save_state(self) -> Path:
        """Write checkpoints/step-N/ (see mmzppo/train/checkpoints.py); drop old ones (`keep_checkpoints`)."""
        c, keep = self.config, self.evals.waiting()  # checkpoints an evaluation still needs
        saved = checkpoints.save(
            self.run_dir, self.step_idx, self.student, self.state_dict(), self.rank, self.acc, c.precision
        )
        checkpoints.prune(self.run_dir, c.keep_checkpoints if self.acc.is_main_process else 0, keep)
        return saved

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
            self.evals.open(self.writer, self.step_idx)
        bar = main and sys.stderr.isatty()  # a piped log gets one plain line per step instead
        progress = tqdm(total=c.steps, initial=self.step_idx, desc=c.name, disable=not bar, dynamic_ncols=True)
        sigterm = cluster.GracefulStop().install()  # a SIGTERM: this step ends, a checkpoint, return
        while self.step_idx < c.steps and not self.budget_spent and not cluster.stop_agreed(sigterm, self.world):
            metrics, samples = self.step()
            if main:
                write_logs(self.run_dir, self.writer, metrics, samples)
                progress.set_postfix(postfix(metrics))
                progress.update(1)
                if not bar:
                    shown = " ".join(f"{k} {v}" for k, v in postfix(metrics).items())
                    print(
                        f"{c.name} step {self.step_idx}/{c.steps} {shown} {metrics['time/step']:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
            last = self.step_idx == c.steps or self.budget_spent
            if (c.save_every and self.step_idx % c.save_every == 0) or last or self.evals.due(self.step_idx):
                checkpoint = self.save_state()
                if last or self.evals.due(self.step_idx):
                    self.evals.submit(self.step_idx, checkpoint)  # a subprocess: training goes on
            self.evals.poll()  # logs finished evaluations, starts the next
        sigterm.restore()
        if sigterm.agreed and not (self.run_dir / f"checkpoints/step-{self.step_idx}/DONE").is_file():
            self.save_state()
        if sigterm.agreed and main:
            print(f"stopped by SIGTERM after step {self.step_idx}, checkpoint written (--resume)", file=sys.stderr)
        self.heartbeat.stop()
        progress.close()
        self.evals.finish(wait=not sigterm.agreed)
        if self.writer is not None:
            self.writer.close()
        return self.run_dir


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
