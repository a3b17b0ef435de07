"""Does the student read the candidates? `python -m mmzppo.tools.diagnose --model DIR --shards DIR`.

ZPPO helps a student only if a prompt that shows worked solutions changes what it writes.
This measures that on the student's own hard questions, with the prompts of training:

    1  G plain rollouts per question (temperature 1); hard = plain accuracy < tau with at
       least one wrong rollout (the questions ZPPO rewrites)
    2  BCQ on each hard question: the gold worked solution (the reference teacher's correct
       answer) and one of the student's wrong rollouts (one with a boxed answer when there is
       one, as training picks it), unlabeled, random order; G rollouts. The candidates are
       compressed by `truncate_candidates`, the function training and the warm-up's reading
       examples use: each capped on its own, the gold entering whole when it fits
    3  NCQ on each hard question: every wrong rollout listed as wrong; G rollouts
    4  baselines: G FRESH plain rollouts per hard question (not the ones the candidates came
       from, which contain the wrong answer by construction), and the same BCQs with the
       candidates cut to the shorter one's length (`cut_to_shortest`, the former fallback)

and reports, over the hard questions: plain accuracy; BCQ accuracy and how often a BCQ rollout
ends on the wrong candidate's answer, against how often a fresh plain rollout gives that same
answer (the wrong candidate is the student's own answer: likely anyway); NCQ accuracy and how
often an NCQ rollout repeats a listed wrong answer (the paper: 82.7% for its 0.8B student),
against the fresh plain rate of those answers; BCQ accuracy with cut candidates; and how
often the correct candidate lost reasoning to the cap (now) and to the former cut. A student
that reads the candidates has BCQ accuracy well above plain accuracy and copies the wrong
candidate no more often than it says that answer unprompted.

`--cuts-only` skips steps 2-4's rollouts and reports the cut shares alone, over EVERY (hard
question, wrong rollout) pair, per task: what the cap and the former cut do to the gold.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mmzppo.data.sample import Sample
from mmzppo.data.vision import TINY_VISION
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.grading.grader import grade
from mmzppo.policy.generation.base import SamplingParams
from mmzppo.policy.generation.hf import HFRollout
from mmzppo.policy.loading import Policy, load_policy
from mmzppo.prompting.builders import bcq, ncq, plain
from mmzppo.prompting.compress import cut_to_shortest, truncate_candidates, was_cut


@dataclass
class CandidateUse:
    """The diagnostic's numbers (accuracies and rates are over rollouts on the hard questions)."""

    questions: int
    plain_all: float  # plain accuracy over every question
    hard: int  # questions with plain accuracy < tau and a wrong rollout
    plain_hard: float
    bcq: float
    bcq_took_wrong: float  # BCQ rollouts whose answer is the wrong candidate's
    ncq: float
    ncq_repeat: float  # NCQ rollouts whose answer is one of the listed wrong answers
    plain_took_wrong: float = float("nan")  # fresh plain rollouts giving the wrong candidate's answer
    plain_repeat: float = float("nan")  # fresh plain rollouts giving one of the NCQ's listed answers
    bcq_cut: float = float("nan")  # BCQ accuracy, same candidates cut to the shorter one's length
    bcq_cut_took_wrong: float = float("nan")
    correct_cut: float = float("nan")  # BCQs whose correct candidate lost reasoning to the cap
    correct_cut_shortest: float = float("nan")  # ... to the former cut
    wrong_unboxed: float = float("nan")  # BCQs whose wrong candidate has no boxed answer
    cuts: dict = field(default_factory=dict)  # `cut_shares` over every pair, per task

    def line(self) -> str:
        return (
            f"{self.hard}/{self.questions} hard questions: plain {self.plain_hard:.3f} -> BCQ {self.bcq:.3f} "
            f"(took the wrong candidate's answer {self.bcq_took_wrong:.3f}; fresh plain rollouts give it "
            f"{self.plain_took_wrong:.3f}), NCQ {self.ncq:.3f} (repeated a listed wrong answer "
            f"{self.ncq_repeat:.3f}; fresh plain {self.plain_repeat:.3f}); BCQ with cut candidates "
            f"{self.bcq_cut:.3f}; correct candidate cut {self.correct_cut:.3f} (former cut "
            f"{self.correct_cut_shortest:.3f}); plain over all {self.plain_all:.3f}"
        )


RATES = (  # CandidateUse's fields that are means over rollouts or BCQs of the hard questions
    "bcq",
    "bcq_took_wrong",
    "ncq",
    "ncq_repeat",
    "plain_took_wrong",
    "plain_repeat",
    "bcq_cut",
    "bcq_cut_took_wrong",
    "correct_cut",
    "correct_cut_shortest",
    "wrong_unboxed",
)


def reward(sample: Sample, text: str, answer: str | None = None) -> float:
    """1.0 when `text`'s last \\boxed{} is `answer` (default: the gold answer)."""
    return grade(text, sample.answer if answer is None else answer, sample.answer_type, sample.choices).reward


def gives(sample: Sample, text: str, answers: list[str]) -> float:
    """1.0 when `text`'s final answer is one of `answers` (graded like the gold)."""
    return float(any(reward(sample, text, a) == 1.0 for a in answers))


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def pick_wrong(wrongs: list[str], rng: random.Random) -> str:
    """One wrong rollout for a BCQ, as training draws it: among those with a boxed answer when
    any has one (an answerless candidate is wrong on its face)."""
    boxed = [w for w in wrongs if extract_last_boxed(w) is not None]
    return rng.choice(boxed or wrongs)


def cut_shares(pairs: list[tuple[Sample, str]]) -> dict[str, dict[str, float]]:
    """Per task (and "all"): over (question, wrong rollout) pairs, the share of pairs whose gold
    solution loses reasoning when compressed beside that rollout, by the cap
    (`truncate_candidates`) and by the former cut (`cut_to_shortest`), and the share of wrong
    rollouts the cap cuts."""
    rows: dict[str, list[tuple[bool, bool, bool]]] = defaultdict(list)
    for s, w in pairs:
        now, before = truncate_candidates([s.solution, w]), cut_to_shortest([s.solution, w])
        row = (was_cut(s.solution, now[0]), was_cut(s.solution, before[0]), was_cut(w, now[1]))
        rows[s.source or "?"].append(row)
        rows["all"].append(row)
    return {
        task: {
            "pairs": len(r),
            "correct_cut": mean([x[0] for x in r]),
            "correct_cut_shortest": mean([x[1] for x in r]),
            "wrong_cut": mean([x[2] for x in r]),
        }
        for task, r in sorted(rows.items())
    }


def plain_round(rollout, samples: list[Sample], group_size: int, sampling, tau: float):
    """Plain groups; the hard questions as (sample, wrong rollouts, rewards); every score."""
    groups = [[c.text for c in g] for g in rollout.generate([plain(s) for s in samples], group_size, sampling)]
    scores = [[reward(s, t) for t in g] for s, g in zip(samples, groups)]
    hard = [
        (s, [t for t, r in zip(g, rs) if r == 0.0], rs)
        for s, g, rs in zip(samples, groups, scores)
        if mean(rs) < tau and min(rs) == 0.0 and s.solution
    ]
    return hard, scores


def candidate_use(
    policy: Policy,
    samples: list[Sample],
    group_size: int = 8,
    max_new_tokens: int = 96,
    tau: float = 0.5,
    seed: int = 0,
    batch_size: int = 128,
    baselines: bool = True,
) -> CandidateUse:
    """Steps 1-4 of the module docstring (step 4 only with `baselines`)."""
    rng = random.Random(seed)
    rollout = HFRollout(policy, batch_size=batch_size, seed=seed)
    sampling = SamplingParams(temperature=1.0, max_new_tokens=max_new_tokens)
    texts = lambda prompts: [[c.text for c in g] for g in rollout.generate(prompts, group_size, sampling)]  # noqa: E731

    # 1. plain groups; the hard questions
    hard, scores = plain_round(rollout, samples, group_size, sampling, tau)
    # 2. BCQ: the gold solution and one wrong rollout, each capped on its own
    wrong_pick = [pick_wrong(wrongs, rng) for _, wrongs, _ in hard]
    order_seed = rng.random()  # the cut BCQs below show their candidates in the same order
    bcq_groups = texts([bcq(s, s.solution, w, random.Random(order_seed)) for (s, _, _), w in zip(hard, wrong_pick)])
    # 3. NCQ: every wrong rollout, listed as wrong
    ncq_prompts = [ncq(s, wrongs) for s, wrongs, _ in hard]
    ncq_groups = texts(ncq_prompts)
    # 4. baselines: fresh plain rollouts; the same BCQs with the former cut
    fresh = texts([plain(s) for s, _, _ in hard]) if baselines else [[] for _ in hard]
    cut_groups = (
        texts(
            [
                bcq(s, s.solution, w, random.Random(order_seed), compress=cut_to_shortest)
                for (s, _, _), w in zip(hard, wrong_pick)
            ]
        )
        if baselines
        else [[] for _ in hard]
    )

    r = defaultdict(list)
    for (s, _, _), w, bg, p, ng, fg, cg in zip(
        hard, wrong_pick, bcq_groups, ncq_prompts, ncq_groups, fresh, cut_groups
    ):
        w_answer = extract_last_boxed(w)
        took = [w_answer] if w_answer is not None else []
        r["bcq"] += [reward(s, t) for t in bg]
        r["bcq_took_wrong"] += [gives(s, t, took) for t in bg]
        r["ncq"] += [reward(s, t) for t in ng]
        r["ncq_repeat"] += [gives(s, t, p.wrong_answers) for t in ng]
        r["plain_took_wrong"] += [gives(s, t, took) for t in fg]
        r["plain_repeat"] += [gives(s, t, p.wrong_answers) for t in fg]
        r["bcq_cut"] += [reward(s, t) for t in cg]
        r["bcq_cut_took_wrong"] += [gives(s, t, took) for t in cg]
        now, before = truncate_candidates([s.solution, w]), cut_to_shortest([s.solution, w])
        r["correct_cut"].append(float(was_cut(s.solution, now[0])))
        r["correct_cut_shortest"].append(float(was_cut(s.solution, before[0])))
        r["wrong_unboxed"].append(float(w_answer is None))
    return CandidateUse(
        questions=len(samples),
        plain_all=mean([x for rs in scores for x in rs]),
        hard=len(hard),
        plain_hard=mean([x for _, _, rs in hard for x in rs]),
        **{k: mean(r[k]) for k in RATES},
        cuts=cut_shares([(s, w) for s, wrongs, _ in hard for w in wrongs]),
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
    parser.add_argument("--no-baselines", action="store_true", help="skip step 4 (fresh plain rollouts, cut BCQs)")
    parser.add_argument(
        "--cuts-only", action="store_true", help="only the plain rollouts and the cut shares per task (no BCQ/NCQ)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args(argv)
    policy = load_policy(args.model, vision=TINY_VISION)
    samples = list(ShardReader(args.shards, vision=policy.vision))[: args.n]
    if args.cuts_only:
        rollout = HFRollout(policy, batch_size=128, seed=args.seed)
        sampling = SamplingParams(temperature=1.0, max_new_tokens=args.max_new_tokens)
        hard, _ = plain_round(rollout, samples, args.group_size, sampling, 0.5)
        result = cut_shares([(s, w) for s, wrongs, _ in hard for w in wrongs])
        print(f"{len(hard)}/{len(samples)} hard questions; (gold, wrong rollout) pairs whose gold loses reasoning:")
        for task, c in result.items():
            print(
                f"  {task:<18} {c['pairs']:>5} pairs: capped on its own {c['correct_cut']:.3f}, "
                f"cut to the shorter {c['correct_cut_shortest']:.3f} (wrong rollouts capped {c['wrong_cut']:.3f})"
            )
    else:
        use = candidate_use(
            policy, samples, args.group_size, args.max_new_tokens, seed=args.seed, baselines=not args.no_baselines
        )
        print(use.line())
        result = asdict(use)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
