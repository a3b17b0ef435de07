"""Does the student read the candidates? `python -m mmzppo.tools.diagnose --model DIR --shards DIR`.

ZPPO helps a student only if a prompt that shows worked solutions changes what it writes.
This measures that on the student's own hard questions, with the prompts of training:

    1  G plain rollouts per question (temperature 1); hard = plain accuracy < tau with at
       least one wrong rollout (the questions ZPPO rewrites)
    2  BCQ on each hard question: the gold worked solution (the reference teacher's correct
       answer) and one of the student's wrong rollouts, unlabeled, random order; G rollouts
    3  NCQ on each hard question: every wrong rollout listed as wrong; G rollouts

and reports, over the hard questions: plain accuracy, BCQ accuracy, how often a BCQ rollout
ends on the wrong candidate's answer, NCQ accuracy, and how often an NCQ rollout repeats a
listed wrong answer (the paper: 82.7% for its 0.8B student before training). A student that
reads the candidates has BCQ accuracy well above plain accuracy; one that ignores them has
about the same (or lower: the longer prompt is out of its distribution).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from mmzppo.data.sample import Sample
from mmzppo.data.vision import TINY_VISION
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.grading.grader import grade
from mmzppo.policy.generation.base import SamplingParams
from mmzppo.policy.generation.hf import HFRollout
from mmzppo.policy.loading import Policy, load_policy
from mmzppo.prompting.builders import bcq, ncq, plain


@dataclass
class CandidateUse:
    """The diagnostic's numbers (accuracies are over rollouts on the hard questions)."""

    questions: int
    plain_all: float  # plain accuracy over every question
    hard: int  # questions with plain accuracy < tau and a wrong rollout
    plain_hard: float
    bcq: float
    bcq_took_wrong: float  # BCQ rollouts whose answer is the wrong candidate's
    ncq: float
    ncq_repeat: float  # NCQ rollouts whose answer is one of the listed wrong answers

    def line(self) -> str:
        return (
            f"{self.hard}/{self.questions} hard questions: plain {self.plain_hard:.3f} -> BCQ {self.bcq:.3f} "
            f"(took the wrong candidate's answer {self.bcq_took_wrong:.3f}), NCQ {self.ncq:.3f} "
            f"(repeated a listed wrong answer {self.ncq_repeat:.3f}); plain over all {self.plain_all:.3f}"
        )


def reward(sample: Sample, text: str, answer: str | None = None) -> float:
    """1.0 when `text`'s last \\boxed{} is `answer` (default: the gold answer)."""
    return grade(text, sample.answer if answer is None else answer, sample.answer_type, sample.choices).reward


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def candidate_use(
    policy: Policy,
    samples: list[Sample],
    group_size: int = 8,
    max_new_tokens: int = 96,
    tau: float = 0.5,
    seed: int = 0,
    batch_size: int = 128,
) -> CandidateUse:
    """Steps 1-3 of the module docstring."""
    rng = random.Random(seed)
    rollout = HFRollout(policy, batch_size=batch_size, seed=seed)
    sampling = SamplingParams(temperature=1.0, max_new_tokens=max_new_tokens)
    texts = lambda groups: [[c.text for c in g] for g in groups]  # noqa: E731

    # 1. plain groups; the hard questions
    groups = texts(rollout.generate([plain(s) for s in samples], group_size, sampling))
    scores = [[reward(s, t) for t in g] for s, g in zip(samples, groups)]
    hard = [
        (s, [t for t, r in zip(g, rs) if r == 0.0], rs)
        for s, g, rs in zip(samples, groups, scores)
        if mean(rs) < tau and min(rs) == 0.0 and s.solution
    ]

    # 2. BCQ: the gold solution and one wrong rollout
    wrong_pick = [rng.choice(wrongs) for _, wrongs, _ in hard]
    bcq_groups = texts(
        rollout.generate([bcq(s, s.solution, w, rng) for (s, _, _), w in zip(hard, wrong_pick)], group_size, sampling)
    )
    # 3. NCQ: every wrong rollout, listed as wrong
    ncq_prompts = [ncq(s, wrongs) for s, wrongs, _ in hard]
    ncq_groups = texts(rollout.generate(ncq_prompts, group_size, sampling))

    bcq_r, took_wrong, ncq_r, repeat = [], [], [], []
    for (s, _, _), w, bg, p, ng in zip(hard, wrong_pick, bcq_groups, ncq_prompts, ncq_groups):
        w_answer = extract_last_boxed(w)
        for t in bg:
            bcq_r.append(reward(s, t))
            took_wrong.append(float(w_answer is not None and reward(s, t, w_answer) == 1.0))
        for t in ng:
            ncq_r.append(reward(s, t))
            repeat.append(float(any(reward(s, t, a) == 1.0 for a in p.wrong_answers)))
    return CandidateUse(
        questions=len(samples),
        plain_all=mean([r for rs in scores for r in rs]),
        hard=len(hard),
        plain_hard=mean([r for _, _, rs in hard for r in rs]),
        bcq=mean(bcq_r),
        bcq_took_wrong=mean(took_wrong),
        ncq=mean(ncq_r),
        ncq_repeat=mean(repeat),
    )


def main(argv: list[str] | None = None) -> None:
    from mmzppo.data.shards import ShardReader

    parser = argparse.ArgumentParser(prog="python -m mmzppo.tools.diagnose", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model folder or hub id")
    parser.add_argument("--shards", required=True, help="questions with gold worked solutions")
    parser.add_argument("--n", type=int, default=None, help="first N questions (default all)")
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args(argv)
    policy = load_policy(args.model, vision=TINY_VISION)
    samples = list(ShardReader(args.shards, vision=policy.vision))[: args.n]
    result = candidate_use(policy, samples, args.group_size, args.max_new_tokens, seed=args.seed)
    print(result.line())
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=1))


if __name__ == "__main__":
    main()
