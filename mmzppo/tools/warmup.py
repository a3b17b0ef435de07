"""Supervised warm-up on worked solutions: `python -m mmzppo.tools.warmup --model DIR --shards DIR --out DIR`.

A random-weight tiny model never writes `\\boxed{}`, so every reward is 0 and no RL method
has a signal. The offline demo therefore warms its tiny student (a little) and its larger
tiny teacher (more) on the synthetic suite's gold worked solutions: cross-entropy on the
solution tokens after the plain prompt (the prompt tokens are not trained), AdamW, fixed
steps. This is the standard SFT-before-RL recipe at toy scale; the paper starts from
instruction-tuned Qwen3.5 checkpoints instead.

Reading candidates (`--read-shards`, `--read-fraction`). A student warmed up on plain prompts
only does not use the candidates of a BCQ or NCQ prompt (its BCQ groups score below its plain
ones): it never saw a prompt that shows worked solutions. The paper's students learned that
in pre-training and instruction tuning. The analogue here: a fraction of each batch are
reading examples drawn from separate shards (never the RL items: `mmzppo.tools.disjoint`),
shaped like the prompts RL makes (`reading_prompt`): a BCQ (the gold solution and a wrong one,
unlabeled, in random order) or an NCQ (5-8 wrong ones, their answers listed as wrong), one in
two each, with the gold solution as the target. A wrong solution reads like a student's: the
gold with a slip carried through to a wrong final answer where the solution is a chain of
equations (`corrupted_solution`), else another item's gold solution of the same task with a
different answer, or the gold with its conclusion changed. (The start's own wrong samples
would be closer still; they need the start first: not done.) Candidates are compressed by the
function training and the diagnostic use (`mmzppo.prompting.compress.truncate_candidates`).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mmzppo.data.sample import Sample
from mmzppo.data.vision import TINY_VISION
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.policy.encoding import encode_prompts
from mmzppo.policy.loading import Policy, load_policy
from mmzppo.policy.logprobs import completion_logprobs
from mmzppo.policy.trainable import train_top_layers, trainable_parameters
from mmzppo.prompting.builders import Prompt, bcq, ncq, plain


def solution_tokens(policy: Policy, solution: str) -> list[int]:
    """The solution as the assistant turn's tokens, ending with the end-of-turn token."""
    tok = policy.tokenizer
    return tok(solution, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]


def changed_answer(sample: Sample, rng: random.Random) -> str:
    """A wrong final answer of the same type as the gold one."""
    gold = str(sample.answer).strip()
    if sample.answer_type == "yesno":
        return "no" if gold.lower() == "yes" else "yes"
    if sample.answer_type == "choice" and sample.choices:
        letters = [chr(ord("A") + i) for i in range(len(sample.choices))]
        return rng.choice([x for x in letters if x != gold] or ["Z"])
    try:
        value = int(gold)
    except ValueError:
        return gold + "0"
    return str(max(0, value + rng.choice([-3, -2, -1, 1, 2, 3])) if value > 3 else value + rng.randint(1, 3))


_EQUATION = re.compile(r"(\d+) ([-+×÷*/]) (\d+) = (\d+)")
_APPLY = {
    "+": int.__add__,
    "-": int.__sub__,
    "×": int.__mul__,
    "*": int.__mul__,
    "÷": int.__floordiv__,
    "/": int.__floordiv__,
}


def corrupted_solution(sample: Sample, rng: random.Random, tries: int = 10) -> str | None:
    """The gold worked solution with one slip carried through, as a student's wrong answer
    reads: in a chain of equations (each line's last `a op b = c` carries its result on, as in
    arith_chain, word_problem and digit_arith), one result is off by 1-3 at a random line, every
    later equation that used it is recomputed from the wrong value, and the final answer (the
    box) follows. None when the solution has no such chain, or no slip of `tries` keeps every
    value a whole number >= 0 and changes the final answer."""
    lines = sample.solution.splitlines()
    chain = [(i, list(_EQUATION.finditer(ln))[-1]) for i, ln in enumerate(lines) if _EQUATION.search(ln)]
    gold = extract_last_boxed(sample.solution)
    if not chain or gold is None or gold.strip() != chain[-1][1].group(4):
        return None
    for _ in range(tries):
        k = rng.randrange(len(chain))
        old = int(chain[k][1].group(4))
        slipped = _carry(lines, chain[k:], old + rng.choice([-3, -2, -1, 1, 2, 3]))
        if slipped is not None and slipped[1] != gold.strip():
            text = "\n".join(slipped[0])
            return text[: text.rfind("\\boxed{")] + f"\\boxed{{{slipped[1]}}}"
    return None


def _carry(lines: list[str], chain: list, new: int) -> tuple[list[str], str] | None:
    """`lines` with the first equation of `chain` giving `new` and every later one recomputed
    from it; and the new final result. None if a value goes negative or the chain breaks."""
    lines, carried = list(lines), None
    for n, (i, m) in enumerate(chain):
        a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
        if n == 0:
            result = new
        elif a == carried[0] and (b or op not in "÷/"):
            a = carried[1]
            result = _APPLY[op](a, b)
        else:  # a later step that does not use the carried value: the slip would not reach the answer
            return None
        if result < 0:
            return None
        carried = (int(m.group(4)), result)
        lines[i] = lines[i][: m.start()] + f"{a} {op} {b} = {result}" + lines[i][m.end() :]
    return lines, str(carried[1])


def changed_conclusion(sample: Sample, rng: random.Random) -> str:
    """The gold solution with its final answer changed where it is concluded: the answer as a
    whole word in the last line before the box, and the box itself."""
    wrong = changed_answer(sample, rng)
    gold = str(sample.answer).strip()
    lines = sample.solution.splitlines()
    box = max((i for i, ln in enumerate(lines) if "\\boxed{" in ln), default=None)
    if box is None:
        return sample.solution + f"\n\\boxed{{{wrong}}}"
    if box > 0:
        lines[box - 1] = re.sub(rf"(?<![\w.]){re.escape(gold)}(?![\w])", wrong, lines[box - 1])
    lines[box] = lines[box][: lines[box].rfind("\\boxed{")] + f"\\boxed{{{wrong}}}"
    return "\n".join(lines)


def wrong_solution(sample: Sample, pool: list[Sample], rng: random.Random) -> str:
    """A worked solution to `sample` that ends in a wrong answer and reads like a student's: the
    gold with a slip carried through (`corrupted_solution`) where the solution is a chain of
    equations; else another item's gold solution of the same task with a different answer, or
    (one in two, or without such an item) the gold with its conclusion changed."""
    corrupted = corrupted_solution(sample, rng)
    if corrupted is not None:
        return corrupted
    others = [o for o in pool if o.source == sample.source and str(o.answer) != str(sample.answer) and o.solution]
    if others and rng.random() < 0.5:
        return rng.choice(others).solution
    return changed_conclusion(sample, rng)


NCQ_WRONG = (5, 8)  # wrong candidates of a reading NCQ: a hard question's wrong rollouts (8 - c, c = 0..3 correct)


def reading_prompt(sample: Sample, pool: list[Sample], rng: random.Random, bcq_share: float = 0.5) -> Prompt:
    """A reading example shaped like an RL prompt: a BCQ (the gold and one wrong solution,
    unlabeled, random order) or an NCQ (5-8 wrong solutions, their answers listed as wrong).
    One in two each by default, the proportions ZPPO's plan makes when the teacher has a correct
    answer (`mmzppo.core.selection.plan`: a BCQ and an NCQ per reformulated question); `bcq_share`
    changes it. Candidates are compressed by the function training uses. The target is the gold
    solution."""
    if rng.random() < bcq_share:
        return bcq(sample, sample.solution, wrong_solution(sample, pool, rng), rng)
    return ncq(sample, [wrong_solution(sample, pool, rng) for _ in range(rng.randint(*NCQ_WRONG))])


def warmup(
    policy: Policy,
    samples: list[Sample],
    steps: int,
    batch_size: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    reading: list[Sample] | None = None,
    read_fraction: float = 0.0,
    bcq_share: float = 0.5,
    top_layers: int = 0,
) -> list[float]:
    """`steps` AdamW steps of next-token cross-entropy on (prompt -> gold solution) pairs:
    plain prompts of `samples`, and for a `read_fraction` of each batch, reading examples
    (`reading_prompt`, a `bcq_share` of them BCQs) of the `reading` samples; every weight
    trains, or with `top_layers` > 0 only the top layers (`mmzppo.policy.trainable`).

    Returns the loss of every step. Samples without a solution are an error (they say nothing
    to imitate).
    """
    reading = reading or []
    missing = [s.uid for s in [*samples, *reading] if not s.solution]
    if missing:
        raise ValueError(f"warm-up needs worked solutions; missing for {len(missing)} samples, e.g. {missing[:3]}")
    if not 0.0 <= read_fraction <= 1.0 or (read_fraction > 0 and not reading):
        raise ValueError(
            f"read_fraction must be in [0, 1] and needs reading samples; got {read_fraction} "
            f"with {len(reading)} reading samples"
        )
    if not 0.0 <= bcq_share <= 1.0:
        raise ValueError(f"bcq_share must be in [0, 1]; got {bcq_share}")
    rng = random.Random(seed)
    model = policy.model
    model.train()
    train_top_layers(model, top_layers)
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=lr, weight_decay=0.0)
    losses = []
    n_read = round(batch_size * read_fraction)
    for _ in tqdm(range(steps), desc="warm-up", leave=False, disable=not sys.stderr.isatty()):  # no \r in piped logs
        batch = rng.sample(samples, min(batch_size - n_read, len(samples))) if n_read < batch_size else []
        read = rng.sample(reading, min(n_read, len(reading))) if n_read else []
        prompts = [plain(s) for s in batch] + [reading_prompt(s, reading, rng, bcq_share) for s in read]
        scored = completion_logprobs(
            model,
            policy.tokenizer,
            encode_prompts(policy.processor, policy.vision, prompts),
            [solution_tokens(policy, s.solution) for s in batch + read],
            with_grad=True,
        )
        loss = -(scored.logprobs * scored.mask).sum() / scored.mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    model.requires_grad_(True)  # the saved model as loaded: every weight trainable again
    return losses


def main(argv: list[str] | None = None) -> None:
    from mmzppo.data.shards import ShardReader

    parser = argparse.ArgumentParser(prog="python -m mmzppo.tools.warmup", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model folder or hub id")
    parser.add_argument("--shards", required=True, help="training shards with worked solutions")
    parser.add_argument("--out", required=True, help="where to save the warmed-up model")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--read-shards", default=None, help="shards whose items become reading examples (BCQ/NCQ)")
    parser.add_argument("--read-fraction", type=float, default=0.0, help="share of each batch that is reading examples")
    parser.add_argument("--bcq-share", type=float, default=0.5, help="share of the reading examples shown as a BCQ")
    parser.add_argument("--top-layers", type=int, default=0, help="train only the top N decoder layers (0: all)")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    policy = load_policy(args.model, vision=TINY_VISION)
    samples = list(ShardReader(args.shards, vision=policy.vision))
    reading = list(ShardReader(args.read_shards, vision=policy.vision)) if args.read_shards else None
    losses = warmup(
        policy,
        samples,
        args.steps,
        args.batch_size,
        args.lr,
        args.seed,
        reading,
        args.read_fraction,
        args.bcq_share,
        args.top_layers,
    )
    policy.model.save_pretrained(args.out)
    policy.processor.save_pretrained(args.out)
    print(f"warm-up loss {losses[0]:.3f} -> {losses[-1]:.3f}; saved to {Path(args.out)}")


if __name__ == "__main__":
    main()
