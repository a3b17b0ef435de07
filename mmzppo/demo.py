"""The built-in demo: `python -m mmzppo.demo`.

Offline, on CPU, in well under a minute: build (once, cached) a tiny random-weight Qwen3.5
student, take a real MathVision item with its image, sample the student's answers, grade
them, and print the BCQ and NCQ prompts ZPPO would build for it, exactly as the model
receives them (media placeholders shown collapsed).

The "teacher" here is the item's reference solution (the reference-solution teacher, a
documented deviation from the paper's sampled teacher); candidates are compressed with the
deterministic fallback. The Trainer issue turns this into a short ZPPO run.
"""

from __future__ import annotations

import argparse
import os
import random
import re
from pathlib import Path

import torch
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from mmzppo.data.formats import mathvision_sample, read_jsonl
from mmzppo.inputs import encode
from mmzppo.models import TINY_VISION, build_tiny, count_parameters, load_policy, suppressed_token_ids
from mmzppo.prompts import bcq, ncq, plain
from mmzppo.reward import grade

DEFAULT_BENCHDATA = Path(os.environ.get("MMZPPO_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "benchdata"


def shown_as_model_sees(tokenizer, input_ids: torch.Tensor) -> str:
    """Decode prompt ids, collapsing runs of media placeholder tokens into `<|image_pad|>x N`."""
    text = tokenizer.decode(input_ids[input_ids != tokenizer.pad_token_id])
    return re.sub(r"((<\|(?:image|video)_pad\|>))(\1)+", lambda m: f"{m.group(2)}x{len(m.group(0)) // len(m.group(2))}", text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--benchdata", type=Path, default=DEFAULT_BENCHDATA, help="folder of real benchmark items")
    parser.add_argument("--item", default="1546", help="MathVision testmini id (one with a reference solution)")
    parser.add_argument("--size", default="s", choices=["xs", "s", "m"], help="tiny student size")
    parser.add_argument("--rollouts", type=int, default=4, help="student samples (G_S)")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--workdir", type=Path, default=Path(".cache/mmzppo"), help="where the tiny model is cached")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    console = Console()
    torch.manual_seed(args.seed)

    root = args.benchdata / "vlm/mathvision"
    if not (root / "testmini.jsonl").is_file():
        raise SystemExit(f"MathVision items not found under {root}; pass --benchdata DIR (the shared/benchdata folder)")
    record = next((r for r in read_jsonl(root / "testmini.jsonl") if r["id"] == args.item), None)
    if record is None:
        raise SystemExit(f"no MathVision item with id {args.item!r} in {root / 'testmini.jsonl'}")
    sample = mathvision_sample(record, root)

    model_dir = args.workdir / f"tiny-{args.size}"
    if not (model_dir / "config.json").is_file():
        console.print(f"building tiny Qwen3.5 '{args.size}' in {model_dir} ...")
        build_tiny(model_dir, args.size, seed=args.seed)
    student = load_policy(model_dir, vision=TINY_VISION)
    console.print(
        f"student: {type(student.model).__name__} from {model_dir} "
        f"({count_parameters(student.model):,} parameters, random weights)"
    )

    # 1. plain prompt -> G_S student rollouts -> binary reward against the gold answer
    prompt = plain(sample)
    inputs = encode(student.processor, [prompt] * args.rollouts, student.vision)
    grid = inputs["image_grid_thw"][0].tolist()
    console.print(
        f"item {sample.uid}: image {Path(sample.images[0]).name}, resized to {grid[1] * 16}x{grid[2] * 16} px "
        f"= {grid[1] * grid[2] // 4} vision tokens; gold answer {sample.answer} ({sample.answer_type})"
    )
    out = student.model.generate(
        **inputs, max_new_tokens=args.max_new_tokens, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
        suppress_tokens=suppressed_token_ids(student.tokenizer),
    )  # fmt: skip
    responses = student.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    grades = [grade(r, sample.answer, sample.answer_type, sample.choices) for r in responses]
    table = Table("rollout", "parsed answer", "reward", "response (start)", title="student rollouts on the plain prompt")
    for i, (r, g) in enumerate(zip(responses, grades)):
        table.add_row(str(i), str(g.parsed), f"{g.reward:.0f}", repr(r[:60]))
    console.print(table)
    accuracy = sum(g.reward for g in grades) / len(grades)
    console.print(f"group accuracy r(x) = {accuracy:.2f} -> {'hard (< 0.5): reformulate' if accuracy < 0.5 else 'not hard'}")

    # 2. teacher answer (reference solution), graded with the same reward
    teacher = f"{sample.solution}\n\\boxed{{{sample.answer}}}"
    assert grade(teacher, sample.answer, sample.answer_type, sample.choices).reward == 1.0
    wrong = [r for r, g in zip(responses, grades) if g.reward == 0.0]
    if not wrong:
        console.print("the student solved it; no BCQ/NCQ needed")
        return

    # 3. BCQ and NCQ prompts, as the model receives them
    for p in (bcq(sample, teacher, wrong[0], random.Random(args.seed)), ncq(sample, wrong)):
        ids = encode(student.processor, [p], student.vision)["input_ids"][0]
        labels = ", ".join(c.label for c in p.candidates)
        console.print(
            Panel(
                shown_as_model_sees(student.tokenizer, ids),
                title=f"{p.kind.upper()} prompt ({len(ids)} tokens; candidates in order: {labels})",
                subtitle="labels are shown here only, never to the model",
            )
        )


if __name__ == "__main__":
    main()
