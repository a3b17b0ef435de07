"""The training reward as the paper computes it: the rule grader first, the served judge for
free-form answers (spec sections 7-8; the routing per reward type in `mmzppo.grading.rewards`).

    Rewarder(judge, failure).resolve(groups)     fills in the judged rewards of a step's groups
    Rewarder.correct(samples, texts)             which of these answers are correct (teacher answers)

`generate` grades every rollout by its rule at once (`mmzppo.train.rollout.graded`); a rollout
the rule leaves to the judge is `pending`. `resolve` then asks the judge about all of a step's
pending answers together (concurrently, each distinct (question, gold, answer) once, repeats
from the run's cache) and writes their rewards. When the judge cannot be reached:

* `teacher_failure: stop`: the run stops, naming the judge's servers (`JudgeUnavailable`);
* `teacher_failure: skip`: the rollout's reward is unknown (`Rollout.unknown`), and its group is
  left out of the update and of the buffer's bookkeeping (`known`), counted as judge/unknown.

A malformed verdict is a wrong answer (reward 0, counted as judge/malformed), as in the paper.
Without a judge (`judge: off`, or `auto` with no server), judged rows fall back to the rule
grader, counted as judge/unjudged, and a warning names the run's first such row.
"""

from __future__ import annotations

import sys
from collections import Counter

from mmzppo.data.sample import Sample
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.grading.grader import grade
from mmzppo.grading.rewards import rule_grade
from mmzppo.teachers.judge import Question, RewardJudge
from mmzppo.train.rollout import Rollout


class JudgeUnavailable(RuntimeError):
    """The judge could not be reached and `teacher_failure` is stop."""


def judge_question(sample: Sample, response: str) -> Question:
    """What the judge is asked about a response: the question, the gold, the final answer."""
    return Question(sample.question, str(sample.answer), extract_last_boxed(response) or "")


class Rewarder:
    """Fills in judged rewards (module docstring). judge: None = no judge (rule fallback)."""

    def __init__(self, judge: RewardJudge | None, failure: str = "stop"):
        self.judge, self.failure = judge, failure
        self.counts: Counter = Counter()  # this step's: judged, unknown, unjudged, rule
        self._warned = False

    def _verdicts(self, questions: list[Question]) -> list[bool | None]:
        """True / False per question (malformed = False); None where the judge is down (skip)."""
        before = Counter(self.judge.counts)
        verdicts = self.judge.verdicts(questions)
        after = Counter(self.judge.counts)
        after.subtract(before)
        for key in ("asked", "cached", "malformed", "failed"):
            self.counts[f"judge/{key}"] += after[key]
        self.counts["judge/seconds"] += after["seconds"]
        errors = sorted({v.error for v in verdicts if v.error})
        if errors and self.failure == "stop":
            raise JudgeUnavailable(
                f"the judge failed after its retries ({'; '.join(errors)}) "
                "(teacher_failure: stop; set teacher_failure=skip to leave those groups out of the update)"
            )
        return [None if v.error else bool(v.correct) for v in verdicts]

    def _fallback(self, sample: Sample, response: str) -> float:
        """No judge: the rule grader on a judged row (counted; warned once)."""
        if not self._warned:
            print(
                f"warning: sample {sample.uid!r} (reward_type {sample.reward_type!r}) needs the judge, but the run "
                "has none (judge: off, or no served teacher / judge_endpoint): graded by the rule grader, "
                "counted as judge/unjudged",
                file=sys.stderr,
            )
            self._warned = True
        self.counts["judge/unjudged"] += 1
        return grade(response, sample.answer, sample.answer_type, sample.choices).reward  # as before the judge

    def resolve(self, groups: list[list[Rollout]]) -> None:
        """The judged rewards of every pending rollout in these groups, asked together."""
        pending = [r for g in groups for r in g if r.pending]
        self.counts["reward/graded"] += sum(len(g) for g in groups)
        if not pending:
            return
        texts = [r.prompt.assistant_prefix + r.completion.text for r in pending]
        if self.judge is None:
            for r, text in zip(pending, texts):
                r.reward, r.pending = self._fallback(r.sample, text), False
            return
        questions = [judge_question(r.sample, t) for r, t in zip(pending, texts)]
        for r, q, verdict in zip(pending, questions, self._verdicts(questions)):
            r.pending, r.parsed = False, q.answer
            self.counts["judge/judged"] += 1
            if verdict is None:
                r.unknown = True
                self.counts["judge/unknown"] += 1
            else:
                r.reward = 1.0 if verdict else 0.0

    def correct(self, samples: list[Sample], texts: list[list[str]]) -> list[list[bool]]:
        """Which answers are correct, per question (rule first, the judge for the rest; an
        answer the judge could not grade counts as not correct: it is not used as a candidate)."""
        out = [[None] * len(t) for t in texts]
        ask = []
        for i, (s, group) in enumerate(zip(samples, texts)):
            for j, text in enumerate(group):
                g = rule_grade(text, s)
                if g is not None:
                    out[i][j] = g.reward == 1.0
                elif self.judge is None:
                    out[i][j] = self._fallback(s, text) == 1.0
                else:
                    ask.append((i, j, judge_question(s, text)))
        if ask:
            for (i, j, _), verdict in zip(ask, self._verdicts([q for _, _, q in ask])):
                out[i][j] = bool(verdict)
        return out

    def step_metrics(self) -> dict[str, float]:
        """This step's judge numbers (and resets them): judged share, verdict latency, cache
        hit rate, malformed, failed and unknown counts."""
        c, self.counts = self.counts, Counter()
        if self.judge is None and not c["judge/unjudged"]:
            return {}
        graded = max(c["reward/graded"], 1)
        looked_up = c["judge/asked"] + c["judge/cached"]
        return {
            "judge/share": c["judge/judged"] / graded,
            "judge/asked": c["judge/asked"],
            "judge/cache_hit_rate": c["judge/cached"] / looked_up if looked_up else 0.0,
            "judge/latency_s": c["judge/seconds"] / c["judge/asked"] if c["judge/asked"] else 0.0,
            "judge/malformed": c["judge/malformed"],
            "judge/failed": c["judge/failed"],
            "judge/unknown": c["judge/unknown"],
            "judge/unjudged": c["judge/unjudged"],
        }

    def state_dict(self) -> dict:
        return self.judge.state_dict() if self.judge is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.judge is not None and state:
            self.judge.load_state_dict(state)


def known(groups: list[list[Rollout]]) -> list[list[Rollout]]:
    """The groups whose every reward is known (a group with an unknown one is left out)."""
    return [g for g in groups if not any(r.unknown for r in g)]


def make_rewarder(config, teacher=None) -> Rewarder:
    """The run's Rewarder: the judge on the judge_endpoint, else on the served teacher's client
    (one client for both), else none (`judge: on` then refuses to start)."""
    judge = None
    if config.judge != "off":
        client = None
        if config.judge_endpoint:
            from mmzppo.teachers.client import connect

            client = connect(config.judge_endpoint, None, config, JudgeUnavailable, what="judge")
        elif config.teacher_kind == "server" and teacher is not None:
            client = teacher.client
        if client is None and config.judge == "on":
            raise ValueError("judge: 'on' but there is no judge_endpoint and no served teacher (teacher_kind: server)")
        judge = RewardJudge(client, config.judge_max_tokens) if client is not None else None
    return Rewarder(judge, config.teacher_failure)
