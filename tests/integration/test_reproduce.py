"""The comparison's parts: reading examples of the warm-up, the candidate-use diagnostic, the
equal rollout budget of the trainer, and the bootstrap intervals of docs/results.md."""

from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest

from mmzppo.data.vision import TINY_VISION
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.grading.grader import grade
from mmzppo.train.config import ConfigError
from mmzppo.train.config_files import load_config

TINY = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]


@pytest.fixture(scope="module")
def items(synth_shards):
    from mmzppo.data.shards import ShardReader

    return list(ShardReader(synth_shards, vision=TINY_VISION))


def test_wrong_solutions_are_wrong_and_reading_prompts_show_them(items):
    from mmzppo.tools.warmup import reading_prompt, wrong_solution

    rng = random.Random(0)
    kinds = set()
    for s in items:
        wrong = wrong_solution(s, items, rng)
        assert extract_last_boxed(wrong) is not None
        assert grade(wrong, s.answer, s.answer_type, s.choices).reward == 0.0, (s.uid, wrong)
        p = reading_prompt(s, items, rng)
        kinds.add(p.kind)
        if p.kind == "bcq":
            assert sorted(c.label for c in p.candidates) == ["student_wrong", "teacher_correct"]
        else:
            assert p.kind == "ncq" and 5 <= len(p.candidates) <= 8 and str(s.answer) not in p.wrong_answers
    assert kinds == {"bcq", "ncq"}


def test_warmup_with_reading_examples(tiny_xs_dir, items):
    import torch

    from mmzppo.policy.loading import load_policy
    from mmzppo.tools.warmup import warmup

    torch.manual_seed(0)
    policy = load_policy(tiny_xs_dir, vision=TINY_VISION)
    losses = warmup(policy, items, steps=3, batch_size=4, lr=3e-3, reading=items, read_fraction=0.5)
    assert len(losses) == 3 and all(np.isfinite(losses))
    with pytest.raises(ValueError, match="read_fraction"):
        warmup(policy, items, steps=1, read_fraction=0.5)  # no reading samples
    with pytest.raises(ValueError, match="read_fraction"):
        warmup(policy, items, steps=1, reading=items, read_fraction=1.5)
    with pytest.raises(ValueError, match="bcq_share"):
        warmup(policy, items, steps=1, reading=items, read_fraction=0.5, bcq_share=1.5)


def test_candidate_use_diagnostic(warm_xs, items):
    from mmzppo.policy.loading import load_policy
    from mmzppo.tools.diagnose import candidate_use

    policy = load_policy(warm_xs, vision=TINY_VISION)
    d = candidate_use(policy, items[:6], group_size=4, max_new_tokens=32)
    assert d.questions == 6 and 0 < d.hard <= 6  # a briefly warmed xs fails most questions
    assert 0 <= d.plain_hard < 0.5
    pairs = ((d.bcq, d.bcq_took_wrong), (d.ncq, d.ncq_repeat), (d.bcq_cut, d.bcq_cut_took_wrong))
    for a, b in pairs:
        assert 0 <= a <= 1 and 0 <= b <= 1 and a + b <= 1  # a rollout cannot end on the gold and a wrong answer
    assert 0 <= d.plain_took_wrong <= 1 and 0 <= d.plain_repeat <= 1  # the baselines were sampled
    # the synthetic golds fit the cap: capped on its own, no correct candidate loses a word
    assert d.correct_cut == 0.0 and d.cuts["all"]["correct_cut"] == 0.0
    assert d.cuts["all"]["pairs"] >= d.hard and 0 <= d.cuts["all"]["correct_cut_shortest"] <= 1


def test_rollout_budget_stops_and_resumes(warm_xs, synth_shards, tmp_path):
    from mmzppo.train.loop import Trainer

    def run(budget, resume=False):
        config = load_config(
            None,
            [
                f"student={warm_xs}",
                "teacher_kind=reference",
                f"train_shards={synth_shards}",
                "prompts_per_step=2",
                "group_size=4",
                "max_new_tokens=24",
                "steps=50",
                f"rollout_budget={budget}",
                "updates_per_step=1",
                "lr=1e-3",
                "dtype=float32",
                f"output_dir={tmp_path}",
                "name=budget",
                "save_every=0",
                "candidate_compression=truncate",
                *TINY,
            ],
        )
        Trainer(config, resume=resume).train()
        return [json.loads(line) for line in open(tmp_path / "budget/metrics.jsonl")]

    rows = run(20)
    first = [r["rollouts/student_total"] for r in rows]
    assert first[-1] >= 20 and (len(first) == 1 or first[-2] < 20)  # stops at the first step that reaches it
    budget = first[-1] + 1
    rows = run(budget, resume=True)  # the count is part of the checkpoint: the run goes on from it
    totals = [r["rollouts/student_total"] for r in rows]
    assert totals[: len(first)] == first and len(totals) > len(first)
    assert totals == sorted(totals) and totals[-2] < budget <= totals[-1]
    per_step = [b - a for a, b in zip([0, *totals], totals)]
    assert all(n == 4 * (r["groups/plain"] + r["groups/bcq"] + r["groups/ncq"]) for n, r in zip(per_step, rows))
    for r in rows:  # the mechanism counts agree with the step's groups and the buffer's totals
        kinds = ("plain", "bcq", "ncq")
        groups = sum(r[f"groups/{k}"] for k in kinds)
        assert sum(r[f"mechanism/{k}_nontrivial"] for k in kinds) == round((1 - r["frac_reward_zero_std"]) * groups)
        assert r["mechanism/plain_on_zero_nontrivial"] == 0  # an all-wrong plain group is trivial
        for k in kinds:
            assert r[f"mechanism/{k}_on_zero_nontrivial"] <= r[f"mechanism/{k}_on_zero"] <= r[f"groups/{k}"]
        by_entry = r["buffer/by_entry"]
        assert sum(v for key, v in by_entry.items() if key.endswith("/admitted")) == r["buffer/admitted_total"]
        assert sum(v for key, v in by_entry.items() if key.endswith("/graduated")) == r["buffer/graduated_total"]
    with pytest.raises(ConfigError, match="rollout_budget"):
        load_config(None, ["rollout_budget=-1"])

    # the report's mechanism numbers of this run, and the fixed panel at the start and at each checkpoint
    from mmzppo.data.shards import ShardReader
    from mmzppo.policy.loading import load_policy
    from mmzppo.tools.panel import panel_curve, select_panel
    from mmzppo.tools.results import mechanism

    mech = mechanism(tmp_path / "budget")
    assert mech["kinds"]["plain"]["groups"] == sum(r["groups/plain"] for r in rows)
    assert mech["by_entry"] == rows[-1]["buffer/by_entry"] and mech["approx_kl"] >= 0
    items = list(ShardReader(synth_shards, vision=TINY_VISION))
    panel = select_panel(load_policy(warm_xs, vision=TINY_VISION), items[:8], size=2, k=2, max_new_tokens=24)
    assert 1 <= len(panel) <= 2
    curve = panel_curve(warm_xs, tmp_path / "budget", panel, k=2, max_new_tokens=24)
    checkpoints = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "budget" / "checkpoints").glob("step-*"))
    assert [r["step"] for r in curve] == [0, *checkpoints] and len(checkpoints) == 2
    assert all(0 <= r["pass_at_k"] <= 1 and r["logp_gold"] < 0 for r in curve)
    assert curve[-1]["logp_gold"] != curve[0]["logp_gold"]  # the checkpoint is not the start
    assert panel_curve(warm_xs, tmp_path / "budget", panel, k=2, max_new_tokens=24) == curve  # cached
    assert len((tmp_path / "budget" / "panel.jsonl").read_text().splitlines()) == 3
    sparse = panel_curve(warm_xs, tmp_path / "budget", panel, k=2, max_new_tokens=24, every=1000)
    assert sparse == [curve[0], curve[-1]]  # every N steps: the start and the last checkpoint


def test_bootstrap_intervals():
    from mmzppo.tools.results import bootstrap, bootstrap_difference

    ones = [{f"i{k}": 1.0 for k in range(10)}] * 3
    zeros = [{f"i{k}": 0.0 for k in range(10)}] * 3
    assert bootstrap(ones) == (1.0, 1.0, 1.0)
    assert bootstrap_difference(ones, zeros) == (1.0, 1.0, 1.0)
    rng = np.random.default_rng(0)
    runs = [{f"i{k}": float(rng.random() < 0.3) for k in range(200)} for _ in range(3)]
    mean, lo, hi = bootstrap(runs)
    # items: 2 x 1.96 x sqrt(0.21 / 3 / 200) = 0.073 for the mean over 3 seeds; resampled seeds widen it
    assert lo < mean < hi and 0.06 < hi - lo < 0.2
    assert bootstrap_difference(runs, runs) == (0.0, 0.0, 0.0)  # seeds paired: every draw is the same runs
    shifted = [{k: 1.0 - v for k, v in r.items()} for r in runs]
    d, dlo, dhi = bootstrap_difference(runs, shifted[:2])  # unequal seeds: each method's resampled on its own
    assert dlo < d < dhi


def test_report_tables_and_plots(tmp_path):
    """docs/results.md from finished cells: every suite's table, the difference row and the plots."""
    from mmzppo.tools.grid import MAIN, QUICK, Grid, report_stem
    from mmzppo.tools.results import report

    rng = np.random.default_rng(1)
    grid = dataclasses.replace(QUICK, eval_samples=2)

    def scores(p):
        return {
            s: {f"{s}/i{k}": float(rng.random() < p) for k in range(30)}
            for s in ("synthetic_image", "synthetic_video", "synthetic_text", "synthetic_image@2")
        }

    results = [{"method": "start", "size": "xs", "seed": 0, "scores": scores(0.3)}]
    for m, p in (("zppo", 0.5), ("grpo_buffer", 0.3), ("grpo", 0.3), ("distill_off", 0.3)):
        results += [
            {
                "method": m,
                "size": "xs",
                "seed": seed,
                "steps": 20,
                "student_rollouts": 1280,
                "train_seconds": 60.0,
                "scores": scores(p),
            }
            for seed in QUICK.seeds
        ]
    student = {
        "size": "xs",
        "questions": 48,
        "hard": 40,
        "plain_all": 0.2,
        "plain_hard": 0.1,
        "bcq": 0.3,
        "bcq_took_wrong": 0.2,
        "ncq": 0.1,
        "ncq_repeat": 0.4,
    }
    equal = [{"method": "grpo_buffer", "size": "xs", "seed": seed, "scores": scores(0.5)} for seed in QUICK.seeds]
    md = report(
        tmp_path / "cache",
        grid,
        [student],
        results,
        tmp_path / "docs",
        "python -m mmzppo.tools.reproduce --quick",
        equal,
    )
    text = md.read_text()
    for heading in (
        "### synthetic_image",
        "### synthetic_video",
        "### synthetic_text",
        "### synthetic_image@2",
        "## ZPPO minus GRPO with buffer",
        "### At equal optimizer steps",
    ):
        assert heading in text
    per_seed = [line for line in text.splitlines() if line.startswith("| synthetic_image@2 | xs | ")]
    assert len(per_seed) == 2 * len(QUICK.seeds)  # each seed's pair, at equal rollouts and at equal steps
    row = next(line for line in text.splitlines() if line.startswith("| synthetic_image |"))
    mean = float(row.split("|")[2].split()[0])
    assert 0.05 < mean < 0.4  # ZPPO 0.5 vs GRPO with buffer 0.3 in expectation
    assert "| xs | 40/48 | 0.100 | 0.300 |" in text
    assert md.name == f"{report_stem(QUICK)}.md" == "results-image-budget64.md"  # its own file: another budget
    assert report_stem(MAIN) == "results" and report_stem(Grid()) == "results-image"
    assert (
        MAIN.seeds_of("zppo") == MAIN.seeds_of("grpo_buffer") == (0, 1, 2, 3, 4)
    )  # issue 22: 5 seeds, 3 for the others
    assert MAIN.seeds_of("grpo") == MAIN.seeds_of("distill_off") == (0, 1, 2) and QUICK.seeds_of("grpo") == QUICK.seeds
    assert (tmp_path / "docs" / report_stem(QUICK) / "accuracy.png").stat().st_size > 10_000


def test_equal_steps_reads_grpo_with_buffer_at_zppos_step_count(warm_xs, tmp_path):
    """`stages.equal_steps`: GRPO with buffer's checkpoint at the step ZPPO's run of the same seed
    ended on, evaluated like a final one and cached; None when that checkpoint was not kept."""
    import shutil

    from mmzppo.tools.grid import QUICK, cell_name
    from mmzppo.tools.stages import equal_steps

    grid = dataclasses.replace(QUICK, eval_n=1, eval_samples=0)
    runs = tmp_path / "runs"
    zppo = runs / cell_name("zppo", "xs", 0, grid.rollout_budget)
    grpo = runs / cell_name("grpo_buffer", "xs", 0, grid.rollout_budget)
    for folder, steps in ((zppo, 2), (grpo, 3)):
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps({"steps": steps}))
    assert equal_steps("xs", 0, grid, tmp_path) is None  # no checkpoint at step 2
    shutil.copytree(warm_xs, grpo / "checkpoints" / "step-2")
    assert equal_steps("xs", 0, grid, tmp_path, evaluate=False) is None  # --report evaluates nothing
    assert not (grpo / "eval-step2").exists()
    result = equal_steps("xs", 0, grid, tmp_path)
    assert result["steps"] == 2 and result["method"] == "grpo_buffer" and result["seed"] == 0
    assert {"synthetic_image", "synthetic_video", "synthetic_text"} <= set(result["scores"])
    assert (grpo / "eval-step2" / "result.json").is_file()
    assert equal_steps("xs", 0, grid, tmp_path) == result  # cached
    assert equal_steps("xs", 1, grid, tmp_path) is None  # no runs of seed 1


def test_a_start_continued_from_another(warm_xs, tmp_path):
    """`Grid.start_from`: the warm-up continues the given start (not a random model) on the fresh
    reading set, all BCQs, and warmup.json says where it came from."""
    from safetensors.torch import load_file

    from mmzppo.tools.grid import QUICK
    from mmzppo.tools.stages import make_data, make_student

    grid = dataclasses.replace(
        QUICK,
        rl_family="text",
        rl_n=4,
        eval_n=1,
        train_n=2,
        read_family="rl",
        read_n=6,
        read_fraction=1.0,
        read_bcq_share=1.0,
        start_from=str(warm_xs),
        warmup_steps=2,
        diag_n=2,
        panel_n=0,
    )
    student = make_student(tmp_path, "xs", grid, make_data(tmp_path, grid))
    built = json.loads((tmp_path / "students/xs/warmup.json").read_text())
    assert built["from"] == str(warm_xs) and built["steps"] == 2 and student["questions"] == 2
    before, after = load_file(warm_xs / "model.safetensors"), load_file(tmp_path / "students/xs/model.safetensors")
    assert before.keys() == after.keys() and any(not (before[k] == after[k]).all() for k in before)


def test_smollm2_grid_is_text_only(tmp_path):
    """grid.SMOLLM2: the text suite only (a text-only student), its own report, the RL overrides
    the step time asks for (top layers, NCQ cap) accepted by the config."""
    from mmzppo.tools.grid import SMOLLM2, grid_config, report_stem, suites
    from mmzppo.tools.results import report
    from mmzppo.tools.stages import eval_benchmarks

    assert suites(SMOLLM2) == ("synthetic_text", "synthetic_text@2")
    assert list(eval_benchmarks(SMOLLM2)) == ["synthetic_text"]
    c = grid_config(SMOLLM2)
    assert (c.train_top_layers, c.ncq_max_candidates, c.prompts_per_step, c.max_new_tokens) == (4, 3, 4, 48)
    rng = np.random.default_rng(0)

    def scores(p):
        return {s: {f"{s}/i{k}": float(rng.random() < p) for k in range(20)} for s in suites(SMOLLM2)}

    results = [{"method": "start", "size": "smollm2", "seed": 0, "scores": scores(0.2)}]
    results += [
        {"method": m, "size": "smollm2", "seed": s, "steps": 10, "student_rollouts": 384, "train_seconds": 1.0}
        | {"scores": scores(0.3)}
        for m in SMOLLM2.methods
        for s in SMOLLM2.seeds
    ]
    md = report(tmp_path / "cache", SMOLLM2, [], results, tmp_path / "docs", "python -m mmzppo.tools.reproduce", [])
    text = md.read_text()
    assert md.name == f"{report_stem(SMOLLM2)}.md" == "results-smollm2.md"
    assert "### synthetic_text@2" in text and "synthetic_image" not in text and "SmolLM2" in text
