"""The fixed panel: does training move the questions the start cannot solve?

`python -m mmzppo.tools.panel --start DIR --shards DIR --run DIR` (every grid cell runs it:
`mmzppo.tools.stages`).

A panel is a fixed set of training questions the START solves 0 of k times (`select_panel`,
k = 16 by default: chosen once per start, shared by every method and seed). On the start and
on every checkpoint of a run (every `save_every` steps: N is the run's checkpoint interval),
`panel_scores` measures

    pass@k       the share of panel questions with at least one correct of k plain rollouts
                 (temperature 1, as in training)
    log p(gold)  the mean over panel questions of the teacher-forced log-probability of the
                 gold worked solution after the plain prompt (summed over its tokens)

The second moves long before the first: it says whether a method pushes the student toward
the answers it never samples, which is what BCQ rollouts on 0/8 questions are for (the paper's
mechanism, spec section 9). Measured after training from the saved checkpoints, so the panel
never touches a run's random state, and is cached per checkpoint in <run>/panel.jsonl.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from mmzppo.data.sample import Sample
from mmzppo.data.vision import TINY_VISION
from mmzppo.grading.grader import grade
from mmzppo.policy.encoding import encode_prompts
from mmzppo.policy.generation.base import SamplingParams
from mmzppo.policy.generation.hf import HFRollout
from mmzppo.policy.loading import Policy, load_policy
from mmzppo.policy.logprobs import completion_logprobs
from mmzppo.prompting.builders import plain


def correct_counts(policy: Policy, samples: list[Sample], k: int, max_new_tokens: int, seed: int) -> list[int]:
    """Correct plain rollouts of k per question (temperature 1, a seeded sampler)."""
    rollout = HFRollout(policy, batch_size=128, seed=seed)
    groups = rollout.generate(
        [plain(s) for s in samples], k, SamplingParams(temperature=1.0, max_new_tokens=max_new_tokens)
    )
    return [
        sum(grade(c.text, s.answer, s.answer_type, s.choices).reward == 1.0 for c in g) for s, g in zip(samples, groups)
    ]


def select_panel(
    policy: Policy, samples: list[Sample], size: int, k: int = 16, max_new_tokens: int = 96, seed: int = 0
) -> list[Sample]:
    """The first `size` questions of `samples` (in order, screened `size` at a time) that the
    policy solves 0 of k times; fewer if the samples run out."""
    panel: list[Sample] = []
    for start in range(0, len(samples), size):
        chunk = samples[start : start + size]
        panel += [s for s, c in zip(chunk, correct_counts(policy, chunk, k, max_new_tokens, seed + start)) if c == 0]
        if len(panel) >= size:
            break
    return panel[:size]


def gold_logprob(policy: Policy, samples: list[Sample]) -> list[float]:
    """log p(gold worked solution + end of turn | plain prompt), per question."""
    tok = policy.tokenizer
    targets = [tok(s.solution, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for s in samples]
    encoded = encode_prompts(policy.processor, policy.vision, [plain(s) for s in samples])
    with torch.no_grad():
        scored = completion_logprobs(policy.model, tok, encoded, targets, with_grad=False, micro_batch_size=16)
    return (scored.logprobs * scored.mask).sum(dim=1).tolist()


def panel_scores(policy: Policy, panel: list[Sample], k: int = 16, max_new_tokens: int = 96, seed: int = 0) -> dict:
    """pass@k and mean log p(gold) on the panel (module docstring)."""
    if not panel:
        return {"panel": 0, "k": k, "pass_at_k": float("nan"), "logp_gold": float("nan")}
    counts = correct_counts(policy, panel, k, max_new_tokens, seed)
    logp = gold_logprob(policy, panel)
    return {
        "panel": len(panel),
        "k": k,
        "pass_at_k": sum(c > 0 for c in counts) / len(panel),
        "logp_gold": sum(logp) / len(panel),
    }


CURVE_SEED = 10_000  # the curve's samples are drawn apart from the selection's (seeds 0, size, 2 size, ...)


def panel_curve(
    start: Path,
    run_dir: Path,
    panel: list[Sample],
    k: int = 16,
    max_new_tokens: int = 96,
    seed: int = CURVE_SEED,
    every: int = 0,
) -> list[dict]:
    """`panel_scores` of the start (step 0) and of every checkpoint of the run (with `every` > 0:
    of those at a multiple of `every` steps, and the last), cached per step in <run>/panel.jsonl
    (step 0 also in the start's folder: every run of a start shares it). Every point samples
    with the same seed (common random numbers: the points differ by their weights), a seed
    apart from the selection's, so step 0 says how often
    a fresh sample of the start solves the panel: the baseline the later points are read against
    (selected on 0 of k, a panel question is solved now and then by chance)."""
    cache = run_dir / "panel.jsonl"
    rows = {r["step"]: r for r in map(json.loads, cache.read_text().splitlines())} if cache.is_file() else {}
    which = hashlib.sha256(json.dumps([[q.uid for q in panel], k, max_new_tokens, seed]).encode()).hexdigest()[:12]
    at_start = start / f"panel-start-{which}.json"  # step 0 is the start of every run of this start: measured once
    if 0 not in rows and at_start.is_file():
        rows[0] = json.loads(at_start.read_text())
        with open(cache, "a") as f:
            f.write(json.dumps(rows[0]) + "\n")
    points = [(0, start)] + sorted(
        ((int(p.name.split("-")[1]), p) for p in (run_dir / "checkpoints").glob("step-*")), key=lambda x: x[0]
    )
    if every > 0:
        points = [x for i, x in enumerate(points) if x[0] % every == 0 or i == len(points) - 1]
    for step, folder in points:
        if step not in rows:
            policy = load_policy(folder, vision=TINY_VISION)
            rows[step] = {"step": step, **panel_scores(policy, panel, k, max_new_tokens, seed)}
            with open(cache, "a") as f:
                f.write(json.dumps(rows[step]) + "\n")
            if step == 0:
                at_start.write_text(json.dumps(rows[0]))
    return [rows[s] for s, _ in points]


def load_panel(file: Path, shards: str | Path) -> list[Sample]:
    """The panel's questions: the uids listed in `file` (`write_panel`), read from `shards`."""
    from mmzppo.data.shards import ShardReader

    uids = json.loads(Path(file).read_text())["uids"]
    by_uid = {s.uid: s for s in ShardReader(shards, vision=TINY_VISION) if s.uid in set(uids)}
    missing = [u for u in uids if u not in by_uid]
    if missing:
        raise ValueError(f"{file}: {len(missing)} panel questions are not in {shards}, e.g. {missing[0]}")
    return [by_uid[u] for u in uids]


def write_panel(
    file: Path, start: Path, shards: str | Path, size: int, k: int = 16, max_new_tokens: int = 96, seed: int = 0
) -> None:
    """Select the panel of a start from the questions of `shards` and write their uids to `file`."""
    from mmzppo.data.shards import ShardReader

    policy = load_policy(start, vision=TINY_VISION)
    panel = select_panel(policy, list(ShardReader(shards, vision=TINY_VISION)), size, k, max_new_tokens, seed)
    file.write_text(json.dumps({"k": k, "max_new_tokens": max_new_tokens, "uids": [s.uid for s in panel]}, indent=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.tools.panel", description=__doc__.split("\n")[0])
    parser.add_argument("--start", type=Path, required=True, help="the run's start (step 0; chooses the panel)")
    parser.add_argument("--shards", required=True, help="the run's training shards")
    parser.add_argument("--run", type=Path, required=True, help="the run folder (its checkpoints/step-N)")
    parser.add_argument(
        "--panel", type=Path, default=None, help="panel uids (default <start>/panel.json; made if absent)"
    )
    parser.add_argument("--size", type=int, default=64, help="panel questions")
    parser.add_argument("--k", type=int, default=16, help="samples per question (pass@k)")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args(argv)
    file = args.panel or args.start / "panel.json"
    if not file.is_file():
        write_panel(file, args.start, args.shards, args.size, args.k, args.max_new_tokens)
    panel = load_panel(file, args.shards)
    for row in panel_curve(args.start, args.run, panel, args.k, args.max_new_tokens):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
