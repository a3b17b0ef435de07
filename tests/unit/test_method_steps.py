"""Every method's step against a fake loop: the declared API (`mmzppo.train.api.Loop`), no model.

The fake loop answers each step the way a method may ask: scripted student answers (question
k of the batch gets k correct out of G_S on its plain prompt), the reference teacher, and an
update that records what it was given. The rollouts are real records, graded by the real
grader; only the model is missing.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import random
from collections import Counter
from contextlib import nullcontext

import pytest
from helpers import encoded_stub

from mmzppo.core.ppo import ClipConfig
from mmzppo.core.selection import slots
from mmzppo.data.sample import Sample
from mmzppo.policy.generation.base import Completion
from mmzppo.prompting.builders import plain
from mmzppo.prompting.compress import truncate_candidates
from mmzppo.teachers.text import ReferenceTeacher
from mmzppo.train.api import Loop, Settings, StepResult
from mmzppo.train.buffer import ReplayBuffer
from mmzppo.train.config_files import load_config, resolve_auto
from mmzppo.train.methods import METHODS
from mmzppo.train.objectives import ClippedPPO, Distillation
from mmzppo.train.rollout import Rollout, graded, set_advantages


class CharTokenizer:
    """One token per character: what `prefix` needs of a tokenizer."""

    eos_token_id = 0

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids)


def question(k: int) -> Sample:
    return Sample(
        uid=f"q{k}",
        question=f"What is {k} + 10?",
        answer=str(k + 10),
        answer_type="number",
        solution=f"Add ten to the number.\nSo the answer is \\boxed{{{k + 10}}}",
    )


class FakeLoop:
    """A `Loop` with scripted answers: on its plain prompt question k gets k correct of n;
    on any other prompt (BCQ, NCQ, hint, prefix) half the answers are correct."""

    def __init__(self, *overrides: str):
        self.config = resolve_auto(
            load_config(
                None,
                [
                    "teacher_kind=reference",
                    "prompts_per_step=4",
                    "group_size=4",
                    "rho_aug=0.5",
                    "rho_replay=0.5",
                    "updates_per_step=2",
                    *overrides,
                ],
            )
        )
        c = self.config
        self.rng = random.Random(0)
        self.aug_slots = slots(c.rho_aug, c.prompts_per_step)
        self.clip, self.tis_cap = ClipConfig(c.eps_low, c.eps_high, c.dual_clip), None
        self.tokenizer = CharTokenizer()
        self.teacher = ReferenceTeacher() if c.teacher_kind != "none" else None
        self.buffer = ReplayBuffer(c.buffer_capacity, threshold=c.tau)
        self.generated: Counter = Counter()  # prompts by kind
        self.updates: list[tuple[int, type, int]] = []  # (rollouts, objective type, n_updates)
        self.prompts = []

    def timer(self, name):
        return nullcontext()

    def draw_batch(self):
        new = [question(k) for k in range(self.config.prompts_per_step)]
        return new, []

    def generate(self, prompts, n):
        groups = []
        for p in prompts:
            self.generated[p.kind] += 1
            self.prompts.append(p)
            k = int(p.uid[1:])
            n_correct = k if p.kind == "plain" else n // 2
            texts = [f"\\boxed{{{p.sample.answer}}}" if i < n_correct else "So \\boxed{-1}" for i in range(n)]
            completions = [Completion([1, 2, 3], [-0.5] * 3, t, True) for t in texts]
            groups.append([graded(p, encoded_stub(p.uid, 5), c) for c in completions])
        return groups

    def teacher_answers(self, samples):
        return self.teacher.answer(samples, self.config.teacher_group_size)

    def compress(self, responses):
        return truncate_candidates(responses)

    def write_hints(self, samples, answers):
        return self.teacher.write_hints(samples, answers)

    def teacher_sequences(self, sample, answers):
        prompt = dataclasses.replace(plain(sample), kind="teacher")
        out = []
        for a in answers:
            ids = self.tokenizer(a.text)["input_ids"]
            completion = Completion(ids, [0.0] * len(ids), a.text, True)
            out.append(Rollout(prompt, encoded_stub(prompt.uid, 5), completion, 1.0, None))
        return out

    def set_advantages(self, groups):
        set_advantages(groups, self.config.adv_eps, self.config.adv_norm)

    def update(self, rollouts, objective, n_updates):
        self.updates.append((len(rollouts), type(objective), n_updates))
        return {"loss": 0.0}

    def bookkeep(self, outcomes):
        if not self.config.use_buffer:
            return Counter()
        accuracy = {o.sample.uid: o.accuracy for o in outcomes}
        return self.buffer.update(accuracy, {o.sample.uid: o.sample for o in outcomes}, 0)


def run(method: str, *overrides: str) -> tuple[FakeLoop, StepResult]:
    loop = FakeLoop(f"method={method}", *overrides)
    return loop, METHODS[method].step(loop)


def kinds(result: StepResult) -> Counter:
    return Counter(g[0].kind for g in result.groups)


def test_zppo_reformulates_the_hardest_questions_within_the_caps():
    """4 questions with 0..3 of 4 correct: q0 and q1 are hard (< 0.5); 2 slots go to the
    hardest, q0: its BCQ (a correct teacher answer exists) and its NCQ."""
    loop, result = run("zppo")
    assert kinds(result) == Counter(plain=4, bcq=1, ncq=1)
    bcq = next(p for p in loop.prompts if p.kind == "bcq")
    assert bcq.uid == "q0" and sorted(c.label for c in bcq.candidates) == ["student_wrong", "teacher_correct"]
    assert result.counts == {"hard/questions": 2, "hard/pre_capped": 2, "hard/teacher_has_correct": 2}
    assert loop.updates == [(6 * 4, ClippedPPO, 2)]
    rewards = {g[0].group_id: [r.reward for r in g] for g in result.groups}
    assert rewards["q0/bcq"] == [1.0, 1.0, 0.0, 0.0]  # graded against the original gold
    advantages = {r.group_id: r.advantage for g in result.groups for r in g}
    assert advantages["q0/plain"] == 0.0 and advantages["q1/plain"] != 0.0  # trivial group: A = 0
    assert result.buffer_counts == Counter(admitted=2)  # plain accuracy < tau: q0, q1


def test_grpo_is_zppo_with_the_switches_off():
    loop, result = run("zppo", "use_bcq=false", "use_ncq=false", "use_buffer=false")
    assert loop.config.teacher_kind == "none" and loop.teacher is None  # resolved: no teacher needed
    assert kinds(result) == Counter(plain=4) and loop.updates == [(16, ClippedPPO, 2)]
    assert result.buffer_counts == Counter()


def test_hint_adds_an_answer_free_hint_group_per_hard_question():
    loop, result = run("hint")
    assert kinds(result) == Counter(plain=4, hint=2)
    for p in (p for p in loop.prompts if p.kind == "hint"):
        assert "<hint>" in p.text and f"\\boxed{{{p.sample.answer}}}" not in p.text
    assert result.counts["hint/written"] == 2 and result.counts["hint/leaked"] == 0


def test_prefix_forces_the_start_of_a_correct_answer():
    loop, result = run("prefix")
    assert kinds(result) == Counter(plain=4, prefix=2)
    for p in (p for p in loop.prompts if p.kind == "prefix"):
        assert p.continue_final and p.sample.solution.startswith(p.assistant_prefix)
        assert 0 < len(p.assistant_prefix) < len(p.sample.solution)


def test_off_policy_distillation_takes_the_teachers_sequences():
    loop, result = run("distill_off", "use_buffer=false")
    assert kinds(result) == Counter(teacher=4) and loop.generated == Counter()  # no student rollouts
    assert loop.updates == [(4 * loop.config.teacher_group_size, Distillation, 1)]
    assert result.counts == {"distill/sequences": 16, "distill/prompts_without_correct": 0}


def test_on_policy_distillation_scores_the_students_tokens():
    loop, result = run("distill_on", "teacher_kind=local", "teacher=t")
    assert kinds(result) == Counter(plain=4) and loop.updates == [(16, Distillation, 2)]


def declared() -> set[str]:
    """The names `Loop` declares: its attributes and its methods."""
    return set(Loop.__annotations__) | {n for n, v in vars(Loop).items() if callable(v) and not n.startswith("_")}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_methods_use_only_the_declared_api_and_say_what_they_need(method):
    """A method reaches the loop only through `Loop`'s names (read from its source), and
    declares its teacher needs."""
    module = METHODS[method]
    tree = ast.parse(inspect.getsource(module))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "loop"
    }
    assert used and used <= declared(), used - declared()
    steps = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "step"]
    read = {  # c.<key>, where c = loop.config
        node.attr
        for node in ast.walk(steps[0])
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "c"
    }
    assert read <= set(Settings.__annotations__), read - set(Settings.__annotations__)
    assert isinstance(module.SAME_VOCABULARY, bool) and callable(module.needs_teacher)
    assert callable(module.config_problem)


def test_the_trainer_and_the_fake_loop_provide_the_declared_api():
    from mmzppo.train.loop import Trainer

    init = inspect.getsource(Trainer.__init__)
    for name in declared():
        if name in Loop.__annotations__:
            assert f"self.{name} =" in init, name  # set when the trainer is built
        else:
            assert callable(getattr(Trainer, name)), name
        assert hasattr(FakeLoop, name) or name in Loop.__annotations__
