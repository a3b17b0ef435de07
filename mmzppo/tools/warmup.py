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
reading examples drawn from separate shards (the comparison uses task families disjoint from
the ones the RL stage trains and is measured on), shown as a BCQ (the gold solution and a
wrong one, unlabeled, in random order) or an NCQ (the wrong one, its answer listed as wrong),
with the gold solution as the target. The wrong solution is another item's gold solution of
the same task with a different answer (a plausible, self-consistent wrong answer, as a
student's are) or, for one item in two, the gold solution with its final answer changed.
Candidates are compressed as the reference teacher compresses them during training.
"""

from __future__ import annotations

import argparse
import random
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


def wrong_solution(sample: Sample, pool: list[Sample], rng: random.Random) -> str:
    """A worked solution to `sample` that ends in a wrong answer: another item's gold solution
    of the same task with a different answer, or (one in two, or without such an item) the
    gold solution with its last \\boxed{} answer changed."""
    others = [o for o in pool if o.source == sample.source and str(o.answer) != str(sample.answer) and o.solution]
    if others and rng.random() < 0.5:
        return rng.choice(others).solution
    gold = extract_last_boxed(sample.solution)
    head = sample.solution[: sample.solution.rfind("\\boxed{")] if gold is not None else sample.solution + "\n"
    return head + "\\boxed{" + changed_answer(sample, rng) + "}"


def reading_prompt(sample: Sample, pool: list[Sample], rng: random.Random) -> Prompt:
    """A reading example: a BCQ (gold + wrong, unlabeled, random order) or an NCQ (the wrong
    solution listed as wrong), one in two each; the target is the gold solution."""
    wrong = wrong_solution(sample, pool, rng)
    if rng.random() < 0.5:
        return bcq(sample, sample.solution, wrong, rng)
    return ncq(sample, [wrong])


def warmup(
    policy: Policy,
    samples: list[Sample],
    steps: int,
    batch_size: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    reading: list[Sample] | None = None,
    read_fraction: float = 0.0,
) -> list[float]:
    """`steps` AdamW steps of next-token cross-entropy on (prompt -> gold solution) pairs:
    plain prompts of `samples`, and for a `read_fraction` of each batch, reading examples
    (`reading_prompt`) of the `reading` samples.

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
    rng = random.Random(seed)
    model = policy.model
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    n_read = round(batch_size * read_fraction)
    for _ in tqdm(range(steps), desc="warm-up", leave=False, disable=not sys.stderr.isatty()):  # no \r in piped logs
        batch = rng.sample(samples, min(batch_size - n_read, len(samples))) if n_read < batch_size else []
        read = rng.sample(reading, min(n_read, len(reading))) if n_read else []
        prompts = [plain(s) for s in batch] + [reading_prompt(s, reading, rng) for s in read]
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
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    policy = load_policy(args.model, vision=TINY_VISION)
    samples = list(ShardReader(args.shards, vision=policy.vision))
    reading = list(ShardReader(args.read_shards, vision=policy.vision)) if args.read_shards else None
    losses = warmup(policy, samples, args.steps, args.batch_size, args.lr, args.seed, reading, args.read_fraction)
    policy.model.save_pretrained(args.out)
    policy.processor.save_pretrained(args.out)
    print(f"warm-up loss {losses[0]:.3f} -> {losses[-1]:.3f}; saved to {Path(args.out)}")


if __name__ == "__main__":
    main()
