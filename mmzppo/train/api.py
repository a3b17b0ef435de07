"""What a method may call and read: the loop's API, declared.

A method (`mmzppo/train/methods/<name>.py`) is a function `step(loop: Loop) -> StepResult`
that reads like its Algorithm box. It reaches the models, the data, the buffer and the
teacher only through the steps below; `mmzppo.train.loop.Trainer` implements them for real
runs, and `tests/unit/test_method_steps.py` runs every method against a fake loop with no
model. Nothing else of the trainer is a method's business.
"""

from __future__ import annotations

import random
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from mmzppo.core.ppo import ClipConfig
from mmzppo.core.selection import PlainOutcome
from mmzppo.data.sample import Sample
from mmzppo.policy.generation.base import Completion
from mmzppo.prompting.builders import Prompt
from mmzppo.train.objectives import Objective
from mmzppo.train.rollout import Rollout


@dataclass
class StepResult:
    """What a method's step gives the loop to log: its groups (kinds as the method made
    them), the update's statistics, the replayed questions, the buffer's counts for this
    step, and method-specific counts (each becomes a metric of that name)."""

    groups: list[list[Rollout]]
    kinds: tuple[str, ...]  # the group kinds this method makes (each gets reward/ and groups/ metrics)
    update: dict[str, float]
    replay: list[Sample] = field(default_factory=list)
    buffer_counts: Counter = field(default_factory=Counter)
    counts: dict[str, float] = field(default_factory=dict)


class Settings(Protocol):
    """The run config's keys a method reads (`mmzppo.train.config.Config` has them all)."""

    group_size: int  # G_S
    teacher_group_size: int  # G_T
    tau: float  # hard if plain accuracy < tau
    use_buffer: bool
    use_bcq: bool
    use_ncq: bool
    ncq_max_candidates: int  # 0: an NCQ shows every wrong rollout
    updates_per_step: int  # I
    distill_beta: float
    distill_top_k: int
    distill_loss: str
    prefix_fraction: float


class Loop(Protocol):
    """The steps and settings a method uses (the Trainer's attributes beyond these are its own)."""

    config: Settings  # the run's settings
    rng: random.Random  # candidate, hint and prefix choices (checkpointed with the run)
    aug_slots: int  # rho_aug * |X_new|: the pre- and post-cap of reformulated prompts
    clip: ClipConfig  # Eqs. 5-6's clip settings
    tis_cap: float | None  # truncated importance sampling's cap (None: off)
    tokenizer: object  # the student's tokenizer (prefix counts the answer's tokens in it)
    teacher: object | None  # the teacher, for objectives that ask it for distributions

    def timer(self, name: str) -> AbstractContextManager:
        """Time a phase of this step under `time/<name>`."""
        ...

    def draw_batch(self) -> tuple[list[Sample], list[Sample]]:
        """Step 1: X_new from the data (+ X_replay from the buffer when it is on); returns the
        batch without duplicates, and the replayed questions."""
        ...

    def generate(self, prompts: list[Prompt], n: int) -> list[list[Rollout]]:
        """n student rollouts per prompt (a group each), graded against the question's gold."""
        ...

    def teacher_answers(self, samples: list[Sample]) -> list[list[Completion]]:
        """G_T fresh teacher answers per question (its plain prompt), the correct ones kept."""
        ...

    def compress(self, responses: list[str]) -> list[str]:
        """The candidate compressor: the teacher's rewrite, or the truncation fallback."""
        ...

    def write_hints(self, samples: list[Sample], answers: list[str]) -> list[str]:
        """One answer-free hint per question, written by the teacher from a correct answer."""
        ...

    def teacher_sequences(self, sample: Sample, answers: list[Completion]) -> list[Rollout]:
        """Correct teacher answers as sequences of the question's plain prompt, in the
        student's tokens (off-policy distillation's targets; reward 1, kind "teacher")."""
        ...

    def set_advantages(self, groups: list[list[Rollout]]) -> None:
        """Eqs. 2-3 over the groups, statistics over all ranks (writes `Rollout.advantage`)."""
        ...

    def update(self, rollouts: list[Rollout], objective: Objective, n_updates: int) -> dict[str, float]:
        """`n_updates` optimizer steps of `objective` over equal mini-batches of the rollouts."""
        ...

    def bookkeep(self, outcomes: list[PlainOutcome]) -> Counter:
        """Step 10: the buffer's admissions, graduations and evictions from plain accuracies."""
        ...
