"""ZPPO training: `python -m mmzppo.train --config configs/RUN.yaml [key=value ...] [--resume]`.

One rollout step is `Trainer.step`, and it reads top to bottom like the paper's Algorithm 1
(arXiv:2606.18216); `mmzppo/algos/` holds the equations, this file the plumbing:

    1  batch X = X_new (data loader) + X_replay (buffer, rho_replay * |X_new|)
    2  plain prompts -> G_S student rollouts each -> binary reward -> r(x)
    3  hard questions: r(x) < tau
    4-6  (hardest first, pre-cap) teacher answers -> BCQ / NCQ prompts (post-cap)
    7  G_S student rollouts on every BCQ / NCQ prompt, graded against the ORIGINAL gold
    8  plain, BCQ and NCQ groups (own group ids, shared origin uid) -> two-step advantage
    9  I updates of the clip-higher, dual-clip, token-level loss over equal mini-batches
    10 buffer bookkeeping from the PLAIN accuracies only

GRPO and GRPO-dagger are the same loop with `use_bcq`/`use_ncq`/`use_buffer` off.

Several processes (`accelerate launch`): each rank reads its own share of the shards and
draws |X_new| / world_size new questions; the reformulation caps and the replay buffer are
per rank (a documented choice: one buffer per data shard, with the counts summed across
ranks in the logs); the advantage statistics (mu, sigma over non-trivial groups) and the
token count of the loss are computed over all ranks, and gradients are summed over ranks,
so loss and gradient equal one process's on the same global batch. The model is either
replicated or sharded with FSDP2 (`sharding`; see `mmzppo/parallel.py`).

The run folder `<output_dir>/<name>/` holds: config.yaml (resolved), metrics.jsonl (every
step), samples.jsonl (full prompts, responses and rewards, BCQ/NCQ included), tb/
(TensorBoard), checkpoints/step-N/ (Hugging Face model + processor, trainer_state*.pt with
optimizer, RNG, data position and buffer). `--resume` continues from the newest checkpoint.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mmzppo import parallel
from mmzppo.algos import zppo
from mmzppo.algos.grpo import ClipConfig, group_advantages, minibatches, normalise_advantages, ppo_token_loss
from mmzppo.buffer import ReplayBuffer
from mmzppo.config import Config, ConfigError, describe, load_config, save_config
from mmzppo.data.sample import Sample
from mmzppo.models import Policy, load_policy
from mmzppo.prompts import Prompt, plain, truncate_candidates
from mmzppo.reward import count_distinct_boxed, grade
from mmzppo.rollout.base import Completion, SamplingParams
from mmzppo.rollout.hf import HFRollout
from mmzppo.scoring import score
from mmzppo.teacher import MAX_LINES, MAX_TOKENS


@dataclass
class Rollout:
    """One graded student sequence, with the group it belongs to."""

    prompt: Prompt
    completion: Completion
    reward: float
    parsed: str | None

    @property
    def group_id(self) -> str:  # plain, BCQ and NCQ of one question are separate groups
        return f"{self.prompt.uid}/{self.prompt.kind}"


# --------------------------------------------------------------------------- small steps


def rollout_and_grade(
    backend, prompts: list[Prompt], samples: dict[str, Sample], n: int, sampling: SamplingParams
) -> list[list[Rollout]]:
    """G = n completions per prompt, each graded against its question's original gold."""
    out = []
    for prompt, completions in zip(prompts, backend.generate(prompts, n, sampling)):
        s = samples[prompt.uid]
        graded = [grade(c.text, s.answer, s.answer_type, s.choices) for c in completions]
        out.append([Rollout(prompt, c, g.reward, g.parsed) for c, g in zip(completions, graded)])
    return out


def teacher_correct_answers(teacher, outcomes: list[zppo.PlainOutcome], n: int) -> list[list[str]]:
    """Step 4: G_T fresh teacher answers per question, keeping the correct ones."""
    prompts = [plain(o.sample) for o in outcomes]
    answers = teacher.sample(prompts, n) if prompts else []
    return [
        [a for a in answers_x if grade(a, o.sample.answer, o.sample.answer_type, o.sample.choices).reward == 1.0]
        for o, answers_x in zip(outcomes, answers)
    ]


def global_advantages(rollouts: list[Rollout], eps: float) -> torch.Tensor:
    """Eqs. 2-3 with mu and sigma over the non-trivial rollouts of ALL ranks."""
    rewards = torch.tensor([r.reward for r in rollouts])
    centred, nontrivial = group_advantages(rewards, [r.group_id for r in rollouts])
    values = centred[nontrivial].double()
    count, total, total_sq = parallel.all_reduce(
        [float(values.numel()), float(values.sum()), float((values**2).sum())]
    )
    if count == 0:
        return torch.zeros_like(rewards)
    mu = total / count
    sigma = max(total_sq / count - mu * mu, 0.0) ** 0.5
    return normalise_advantages(centred, nontrivial, eps, stats=(mu, sigma))


@contextmanager
def timer(times: dict[str, float], name: str):
    start = time.perf_counter()
    yield
    times[name] = times.get(name, 0.0) + time.perf_counter() - start


def mean(xs) -> float:
    xs = list(xs)
    return float(sum(xs) / len(xs)) if xs else 0.0


def std(xs) -> float:
    xs = list(xs)
    return float(np.std(xs)) if xs else 0.0


STAT_KEYS = ("loss", "clip_ratio/low", "clip_ratio/high", "clip_ratio/dual", "approx_kl", "entropy")


def accumulate_loss(
    model, policy: Policy, prompts: list[Prompt], completions: list[list[int]], old: list[torch.Tensor],
    advantages: torch.Tensor, clip: ClipConfig, micro_batch_size: int, temperature: float,
) -> dict[str, float]:
    """Accumulate the gradient of one mini-batch's loss (Eqs. 4-6) over micro-batches.

    The token mean is over the mini-batch's tokens on ALL ranks, so after
    `parallel.sync_gradients` (a sum over ranks) the gradient is exactly that of one
    process's loss on the whole global mini-batch. A rank may hold any number of rollouts,
    none included. Returns the loss and clip / KL / entropy statistics, summed over ranks.
    """
    n_tokens = parallel.all_reduce([float(sum(len(c) for c in completions))])[0]
    stats = dict.fromkeys(STAT_KEYS, 0.0)
    for idx in parallel.padded_micro_batches(len(prompts), micro_batch_size, parallel.is_sharded(model)):
        if idx is None:  # FSDP: this rank has run out of micro-batches but must join the collectives
            dummy_forward_backward(model, policy)
            continue
        scored = score(model, policy.processor, policy.vision, prompts[idx], completions[idx],
                       with_grad=True, temperature=temperature)  # fmt: skip
        old_lp = torch.stack([pad_to(x, scored.logprobs.shape[1]) for x in old[idx]]).to(scored.logprobs)
        out = ppo_token_loss(scored.logprobs, old_lp, advantages[idx].to(scored.logprobs), scored.mask, clip,
                             num_tokens=n_tokens)  # fmt: skip
        out.loss.backward()
        share = float(scored.mask.sum()) / max(n_tokens, 1.0)  # this micro-batch's share of the tokens
        stats["loss"] += out.loss.item()
        stats["clip_ratio/low"] += out.clip_low_frac * share
        stats["clip_ratio/high"] += out.clip_high_frac * share
        stats["clip_ratio/dual"] += out.dual_clip_frac * share
        stats["approx_kl"] += out.approx_kl * share
        stats["entropy"] += float((scored.entropy * scored.mask).sum()) / max(n_tokens, 1.0)
    return dict(zip(STAT_KEYS, parallel.all_reduce([stats[k] for k in STAT_KEYS])))


def dummy_forward_backward(model, policy: Policy) -> None:
    """A 1-token forward and a zero backward: under FSDP, a rank with fewer micro-batches
    than the others still takes part in every unit's all-gather and reduce-scatter."""
    token = policy.tokenizer.eos_token_id if policy.tokenizer.eos_token_id is not None else 0
    ids = torch.tensor([[token]], device=next(model.parameters()).device)
    (model(input_ids=ids).logits.float().sum() * 0.0).backward()


# --------------------------------------------------------------------------- the trainer


def make_teacher(config: Config, device, current: dict[str, Sample]):
    """The configured teacher, or None ('none': GRPO baselines, or BCQ off)."""
    from mmzppo.teacher import LocalTeacher, ReferenceTeacher

    if config.teacher_kind == "none":
        return None
    if config.teacher_kind == "reference":
        # the dataset's worked solutions of the questions in the current step
        return ReferenceTeacher(lambda uid: current[uid].solution if uid in current else None,
                                compress=truncation(config))  # fmt: skip
    policy = load_policy(
        config.teacher, dtype=config.dtype, attn_implementation=config.attn_implementation,
        vision=config.vision, device=device,
    )  # fmt: skip
    parallel.broadcast_from_rank0(policy.model)
    sampling = SamplingParams(temperature=config.temperature, top_p=config.top_p, max_new_tokens=config.max_new_tokens)
    return LocalTeacher(policy, sampling=sampling, batch_size=config.rollout_batch_size,
                        compress_with_model=config.compress_with_teacher,
                        compress_max_tokens=min(MAX_TOKENS, config.max_new_tokens),
                        fallback=truncation(config))  # fmt: skip


def truncation(config: Config):
    """The deterministic candidate compressor with the configured word budget."""
    return functools.partial(truncate_candidates, max_lines=MAX_LINES, max_words=config.candidate_max_words)


def uses_fsdp(config: Config, accelerator) -> bool:
    """Resolve `sharding` against how the script was launched. Read from accelerate's launch
    variables too: with `cpu=True` accelerate reports MULTI_CPU even under an FSDP config."""
    from accelerate.utils import DistributedType, parse_flag_from_env

    launched = accelerator.distributed_type
    if launched == DistributedType.DEEPSPEED or parse_flag_from_env("ACCELERATE_USE_DEEPSPEED"):
        raise ConfigError("DeepSpeed launches are not supported: launch with configs/accelerate/fsdp.yaml "
                          "(FSDP2 shards parameters, gradients and optimizer state: the ZeRO-3 layout)")  # fmt: skip
    if config.sharding == "auto":
        return launched == DistributedType.FSDP or parse_flag_from_env("ACCELERATE_USE_FSDP")
    return config.sharding == "fsdp"


def latest_checkpoint(run_dir: Path) -> Path | None:
    steps = sorted((run_dir / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    complete = [p for p in steps if (p / "DONE").is_file()]
    return complete[-1] if complete else None


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

        self.student = load_policy(
            checkpoint or c.student, dtype=c.dtype, attn_implementation=c.attn_implementation,
            vision=c.vision, device=self.acc.device,
        )  # fmt: skip
        self.model = self.student.model
        parallel.broadcast_from_rank0(self.model)
        if self.sharded:
            parallel.shard(self.model)  # before the optimizer: it must hold the sharded parameters
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=c.lr, betas=c.betas, weight_decay=c.weight_decay
        )
        if self.world > 1 and self.acc.is_main_process:
            layout = "FSDP2 (language model sharded, vision tower replicated)" if self.sharded else "replicated"
            print(f"{self.world} processes, model {layout}, gradients summed over ranks", file=sys.stderr)
        self.rollout = HFRollout(self.student, batch_size=c.rollout_batch_size)
        self.sampling = SamplingParams(temperature=c.temperature, top_p=c.top_p, max_new_tokens=c.max_new_tokens)
        self.current: dict[str, Sample] = {}  # this step's questions, by uid
        needs_teacher = c.use_bcq  # NCQ never uses teacher text
        self.teacher = make_teacher(c, self.acc.device, self.current) if needs_teacher else None
        if c.use_bcq and self.teacher is None:
            raise ConfigError("teacher_kind: 'none' but use_bcq is true (BCQ needs a teacher's correct answer)")
        self.buffer = ReplayBuffer(c.buffer_capacity, threshold=c.tau, seed=c.seed + self.rank)
        self.clip = ClipConfig(c.eps_low, c.eps_high, c.dual_clip)
        self.rng = random.Random(c.seed * 1000 + self.rank)  # BCQ candidate choices and order

        from mmzppo.data.shards import ShardReader

        self.reader = ShardReader(c.train_shards, vision=c.vision, rank=self.rank, world_size=self.world, seed=c.seed)
        self.reader.check_readers()
        self._data = iter(self.reader)
        self.step_idx = 0
        if checkpoint is not None:
            self.load_state(checkpoint)
        if self.acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(c, self.run_dir / "config.yaml")
        self.writer = None

    # ----------------------------------------------------------------- data

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

    # ----------------------------------------------------------------- one step

    def step(self) -> tuple[dict, list[dict]]:
        """One rollout step and its I updates (paper Algorithm 1). Returns metrics and samples."""
        c, times = self.config, {}
        t0 = time.perf_counter()
        # 1. X = X_new + X_replay
        with timer(times, "data"):
            new = self.next_questions(self.n_new)
        replay = self.buffer.sample_replay(zppo.slots(c.rho_replay, self.n_new)) if c.use_buffer else []
        batch = list({s.uid: s for s in new + replay}.values())
        self.current.clear()
        self.current.update({s.uid: s for s in batch})

        # 2. plain prompts -> G_S rollouts -> rewards -> r(x)
        plain_prompts = [plain(s) for s in batch]
        with timer(times, "rollout"), parallel.full_params(self.model):
            plain_groups = rollout_and_grade(self.rollout, plain_prompts, self.current, c.group_size, self.sampling)
        outcomes = [
            zppo.PlainOutcome(s, [r.completion.text for r in g], [r.reward for r in g])
            for s, g in zip(batch, plain_groups)
        ]

        # 3-6. hard questions -> pre-cap -> teacher -> BCQ / NCQ (post-cap)
        n_slots = zppo.slots(c.rho_aug, self.n_new) if (c.use_bcq or c.use_ncq) else 0
        hard = zppo.hard_questions(outcomes, c.tau)
        capped = zppo.pre_cap(hard, n_slots)
        if self.teacher is not None and capped:
            with timer(times, "teacher"):
                for o, correct in zip(capped, teacher_correct_answers(self.teacher, capped, c.teacher_group_size)):
                    o.teacher_correct = correct
        planned = zppo.plan(capped, n_slots, use_bcq=c.use_bcq, use_ncq=c.use_ncq)
        compress = self.teacher.compress if self.teacher is not None else truncation(c)
        with timer(times, "teacher"):  # the teacher's candidate rewrites are teacher inference
            reformulated = zppo.build_prompts(planned, self.rng, compress=compress)

        # 7. G_S rollouts on every BCQ / NCQ prompt, graded against the original gold
        with timer(times, "rollout"), parallel.full_params(self.model):
            extra_groups = rollout_and_grade(self.rollout, reformulated, self.current, c.group_size, self.sampling)
        rollouts = [r for g in plain_groups + extra_groups for r in g]

        # 8. advantages over separate groups, statistics over all ranks
        advantages = global_advantages(rollouts, c.adv_eps)

        # 9. I updates over equal mini-batches
        with timer(times, "update"):
            update_stats = self.update(rollouts, advantages, times)

        # 10. buffer bookkeeping from the plain accuracies
        step_counts = Counter()
        if c.use_buffer:
            accuracy = {o.sample.uid: o.accuracy for o in outcomes}
            step_counts = self.buffer.update(accuracy, self.current, self.step_idx)

        times["step"] = time.perf_counter() - t0
        metrics = self.metrics(plain_groups, extra_groups, hard, capped, replay, step_counts, update_stats, times)
        samples = self.sample_log(plain_groups, extra_groups) if self.acc.is_main_process else []
        self.step_idx += 1
        return metrics, samples

    def update(self, rollouts: list[Rollout], advantages: torch.Tensor, times: dict) -> dict:
        """Step 9: old log-probs once, then I clipped updates over equal mini-batches."""
        c = self.config
        order = list(range(len(rollouts)))
        self.rng.shuffle(order)
        prompts = [rollouts[i].prompt for i in order]
        completions = [rollouts[i].completion.token_ids for i in order]
        advantages = advantages[order]
        with timer(times, "old_logprobs"), parallel.full_params(self.model):
            old = self.logprobs(prompts, completions)
        totals: Counter = Counter()
        batches = minibatches(len(prompts), c.updates_per_step)
        batches += [[] for _ in range(c.updates_per_step - len(batches))]  # every rank takes I steps
        for batch in batches:
            batch = by_length(batch, prompts, completions)  # micro-batches of similar padded length
            self.optimizer.zero_grad(set_to_none=True)
            stats = accumulate_loss(
                self.model, self.student, [prompts[i] for i in batch], [completions[i] for i in batch],
                [old[i] for i in batch], advantages[batch], self.clip, c.micro_batch_size, c.temperature,
            )  # fmt: skip
            parallel.sync_gradients(self.model)
            stats["grad_norm"] = parallel.clip_grad_norm(self.model, c.grad_clip)
            self.optimizer.step()
            totals.update(stats)
        return {k: v / len(batches) for k, v in totals.items()}

    def logprobs(self, prompts: list[Prompt], completions: list[list[int]]) -> list[torch.Tensor]:
        """Per-token log-probs of each completion under the current policy (no grad), in the
        given order (computed in micro-batches of similar length)."""
        out: list[torch.Tensor | None] = [None] * len(prompts)
        order = by_length(list(range(len(prompts))), prompts, completions)
        mb = self.config.micro_batch_size
        for start in range(0, len(order), mb):
            idx = order[start : start + mb]
            scored = score(self.model, self.student.processor, self.student.vision, [prompts[i] for i in idx],
                           [completions[i] for i in idx], with_grad=False,
                           temperature=self.config.temperature)  # fmt: skip
            for i, row, mask in zip(idx, scored.logprobs, scored.mask):
                out[i] = row[mask.bool()].detach().float().cpu()
        return out

    # ----------------------------------------------------------------- logging

    def metrics(self, plain_groups, extra_groups, hard, capped, replay, step_counts, update, times) -> dict:
        """This step's metrics (summed or averaged over ranks where that is meaningful)."""
        by_kind: dict[str, list[list[Rollout]]] = {"plain": plain_groups, "bcq": [], "ncq": []}
        for g in extra_groups:
            by_kind[g[0].prompt.kind].append(g)
        flat = [r for g in plain_groups + extra_groups for r in g]
        lengths = [len(r.completion.token_ids) for r in flat]
        m: dict[str, float] = {"step": self.step_idx}
        for kind, groups in by_kind.items():
            rewards = [r.reward for g in groups for r in g]
            m[f"reward/{kind}_mean"] = mean(rewards)
            m[f"reward/{kind}_std"] = std(rewards)
            m[f"groups/{kind}"] = len(groups)
        groups = plain_groups + extra_groups
        m["frac_reward_zero_std"] = mean(len({r.reward for r in g}) == 1 for g in groups)
        m["zppo/hard"] = len(hard)
        m["zppo/pre_capped"] = len(capped)
        m["zppo/teacher_has_correct"] = sum(bool(o.teacher_correct) for o in capped)
        m["completions/mean_length"] = mean(lengths)
        m["completions/max_length"] = max(lengths) if lengths else 0
        m["completions/clipped_frac"] = mean(not r.completion.finished for r in flat)
        m["completions/multi_boxed_frac"] = mean(count_distinct_boxed(r.completion.text) > 1 for r in flat)
        m["buffer/size"] = len(self.buffer)
        m["buffer/replayed"] = len(replay)
        for key in ("admitted", "graduated", "evicted"):
            m[f"buffer/{key}"] = step_counts.get(key, 0)
            m[f"buffer/{key}_total"] = self.buffer.counts.get(key, 0)
        m.update(update)
        m.update({f"time/{k}": v for k, v in times.items()})
        if self.world > 1:  # counts are summed over ranks, rewards averaged
            keys = sorted(k for k in m if k.startswith(("groups/", "zppo/", "buffer/")))
            for k, v in zip(keys, parallel.all_reduce([float(m[k]) for k in keys])):
                m[k] = v
            keys = sorted(k for k in m if k.startswith(("reward/", "frac_", "completions/")))
            for k, v in zip(keys, parallel.all_reduce([float(m[k]) for k in keys])):
                m[k] = v / self.world
        m["buffer/graduated_by_entry"] = parallel.sum_counts(self.buffer.graduated_by_entry)  # all ranks
        m["data/skipped"] = sum(self.reader.skipped.values())
        return m

    def sample_log(self, plain_groups, extra_groups) -> list[dict]:
        """A few full prompts with their rollouts (BCQ/NCQ first), for samples.jsonl."""
        chosen = (extra_groups + plain_groups)[: self.config.log_samples]
        out = []
        for g in chosen:
            p = g[0].prompt
            s = self.current[p.uid]
            out.append({
                "step": self.step_idx, "uid": p.uid, "kind": p.kind, "source": s.source,
                **self.saved_media(s),
                "prompt": p.text, "continue_final": p.continue_final, "gold": s.answer,
                "answer_type": s.answer_type, "choices": s.choices,
                "candidates": [{"label": c.label, "text": c.text} for c in p.candidates],
                "wrong_answers": p.wrong_answers,
                "responses": [{"text": r.completion.text, "parsed": r.parsed, "reward": r.reward} for r in g],
            })  # fmt: skip
        return out

    def saved_media(self, s: Sample) -> dict:
        """Media of a logged sample as paths a viewer can open: file paths as they are,
        in-memory images and video frames (from shards) written once under media/."""
        media_dir = self.run_dir / "media"

        def path_of(x, name: str) -> str:
            if isinstance(x, (str, Path)):
                return str(x)
            file = media_dir / f"{s.uid}-{name}.png"
            if not file.exists():
                media_dir.mkdir(parents=True, exist_ok=True)
                x.save(file)
            return str(file.relative_to(self.run_dir))

        video = s.video
        if isinstance(video, list):
            video = [path_of(f, f"frame{i}") for i, f in enumerate(video)]
        return {"images": [path_of(x, f"img{i}") for i, x in enumerate(s.images)], "video": video,
                "video_fps": s.video_fps}  # fmt: skip

    # ----------------------------------------------------------------- checkpoints

    def save_state(self) -> Path:
        """checkpoints/step-N/: HF model + processor (main process), trainer state per rank."""
        path = self.run_dir / "checkpoints" / f"step-{self.step_idx}"
        path.mkdir(parents=True, exist_ok=True)
        self.acc.wait_for_everyone()
        weights = parallel.full_state_dict(self.model)  # None unless FSDP (then every rank gathers)
        if self.acc.is_main_process:
            self.model.save_pretrained(path, state_dict=weights)
            self.student.processor.save_pretrained(path)
        state = {
            "step": self.step_idx,
            "optimizer": self.optimizer.state_dict(),
            "buffer": self.buffer.state_dict(),
            "data": self.reader.state_dict(),
            "rng": {"python": self.rng.getstate(), "global_python": random.getstate(),
                    "numpy": np.random.get_state(), "torch": torch.get_rng_state()},  # fmt: skip
        }
        torch.save(state, path / f"trainer_state_rank{self.rank}.pt")
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            (path / "DONE").write_text(str(self.step_idx))
        return path

    def load_state(self, path: Path) -> None:
        file = path / f"trainer_state_rank{self.rank}.pt"
        if not file.is_file():
            raise FileNotFoundError(f"{file} missing: resume with the same number of processes as the saved run")
        state = torch.load(file, weights_only=False)
        self.step_idx = state["step"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self.reader.load_state_dict(state["data"])
        self._data = iter(self.reader)
        self.rng.setstate(state["rng"]["python"])
        random.setstate(state["rng"]["global_python"])
        np.random.set_state(state["rng"]["numpy"])
        torch.set_rng_state(state["rng"]["torch"])

    # ----------------------------------------------------------------- loop

    def train(self) -> Path:
        c = self.config
        main = self.acc.is_main_process
        if main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step_idx)
        progress = tqdm(total=c.steps, initial=self.step_idx, desc=c.name, disable=not main, dynamic_ncols=True)
        while self.step_idx < c.steps:
            metrics, samples = self.step()
            if main:
                with open(self.run_dir / "metrics.jsonl", "a") as f:
                    f.write(json.dumps(metrics) + "\n")
                with open(self.run_dir / "samples.jsonl", "a") as f:
                    for s in samples:
                        f.write(json.dumps(s) + "\n")
                for k, v in metrics.items():
                    if isinstance(v, (int, float)):
                        self.writer.add_scalar(k, v, metrics["step"])
                progress.set_postfix(
                    reward=f"{metrics['reward/plain_mean']:.3f}", bcq=int(metrics["groups/bcq"]),
                    ncq=int(metrics["groups/ncq"]), buffer=int(metrics["buffer/size"]),
                )  # fmt: skip
                progress.update(1)
            if (c.save_every and self.step_idx % c.save_every == 0) or self.step_idx == c.steps:
                self.save_state()
        progress.close()
        if self.writer is not None:
            self.writer.close()
        return self.run_dir


def by_length(indices: list[int], prompts: list[Prompt], completions: list[list[int]]) -> list[int]:
    """`indices` sorted by prompt then completion length, so that a micro-batch does not pad
    short plain prompts to the length of a long NCQ prompt (a pure speed measure: the loss
    of a mini-batch does not depend on its micro-batch split)."""
    return sorted(indices, key=lambda i: (len(prompts[i].text), len(completions[i])))


def pad_to(x: torch.Tensor, length: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, length - x.shape[0]))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.train", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="YAML run config (configs/*.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's newest checkpoint")
    parser.add_argument("--help-config", action="store_true", help="list every config key with its default and help")
    parser.add_argument("overrides", nargs="*", help="key=value overrides (vision.max_pixels=... for VisionSettings)")
    args = parser.parse_args(argv)
    if args.help_config:
        print(describe())
        return
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    trainer = Trainer(config, resume=args.resume)
    run_dir = trainer.train()
    trainer.acc.end_training()  # destroy the process group: gloo threads left at exit can abort a rank
    print(f"run folder: {run_dir}")


if __name__ == "__main__":
    main()
