"""The method comparison's grid and its names: the methods (switches of configs/reproduce.yaml),
their row labels, the suites of the report, the RL families and seed, what a grid runs (`Grid`;
`QUICK`; `MAIN`, the text regime of issue 22), and the names of its cells and reports.

Its own module because the command (`mmzppo.tools.reproduce`), its stages
(`mmzppo.tools.stages`), its report (`mmzppo.tools.results`) and the demo all need them,
and none of those may import another one back.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

CONFIGS = Path(__file__).resolve().parent / "configs"  # package data: an installed mmzppo has them too
CONFIG = CONFIGS / "reproduce.yaml"

# row -> overrides of configs/reproduce.yaml (GRPO and GRPO-dagger are switches of ZPPO)
METHODS: dict[str, list[str]] = {
    "zppo": [],
    "grpo_buffer": ["use_bcq=false", "use_ncq=false"],
    "grpo": ["use_bcq=false", "use_ncq=false", "use_buffer=false"],
    "distill_off": ["method=distill_off", "use_buffer=false"],
}
LABELS = {
    "start": "start (no RL)",
    "zppo": "ZPPO",
    "grpo_buffer": "GRPO with buffer",
    "grpo": "GRPO",
    "distill_off": "off-policy distillation",
}
DEFAULT_BUDGET = 1280  # Grid's rollout_budget; cells of other budgets get their own folders and report
SUITES = ("synthetic_image", "synthetic_video", "synthetic_text", "real")
RL_FAMILIES = {  # Grid.rl_family -> the synthetic tasks of the RL set
    "image": ("count_color", "bar_compare", "spatial", "digit_arith"),
    "text": ("arith_chain", "word_problem", "choose_option"),  # checking is easier than solving here
}
RL_SEED = 1  # the RL set's generation seed; the warm-up (and the former reading examples) use seed 0
READ_SEED = 7  # a fresh reading set's seed (`Grid.read_n`): neither the warm-up's nor the RL set's
SHIPPED_START = Path(__file__).resolve().parent / "starts" / "xs"  # package data: the xs start of the image regime


@dataclasses.dataclass(frozen=True)
class Grid:
    """What the command runs. The defaults are the full grid; QUICK is a small one that only
    shows the machinery."""

    sizes: tuple[str, ...] = ("xs", "s")
    seeds: tuple[int, ...] = (0, 1, 2)
    other_seeds: int = 0  # > 0: methods other than ZPPO and GRPO with buffer run only the first N seeds
    methods: tuple[str, ...] = tuple(METHODS)
    rollout_budget: int = DEFAULT_BUDGET  # student rollouts per run: 20 GRPO steps of 8 questions x 8
    train_n: int = 40  # warm-up (and reading) items per task, levels 1-3
    rl_family: str = "image"  # the RL set's tasks (RL_FAMILIES): the paper trains on images only
    rl_n: int = 40  # RL items per task (train split, seed RL_SEED, none of them a warm-up item)
    rl_levels: tuple[int, ...] = (1, 2, 3)  # the RL set's levels, and its family's test suite's
    warmup_steps: int = 1500
    warmup_lr: float = 3e-3
    warmup_batch: int = 8  # examples per warm-up step
    warmup_top_layers: int = 0  # > 0: the warm-up trains only the top N decoder layers (mmzppo.policy.trainable)
    read_fraction: float = 0.75  # share of each warm-up batch shown as BCQ/NCQ (reading family)
    read_family: str = "all"  # reading examples of every task; "disjoint": video and text; "rl": the RL family's
    read_n: int = 0  # > 0: a fresh reading set, read_n items per task (READ_SEED, read_levels; no RL or test item)
    read_levels: tuple[int, ...] = (1, 2, 3)  # the fresh reading set's levels (read_n > 0)
    read_bcq_share: float = 0.5  # share of reading examples shown as a BCQ (the rest NCQs)
    start_from: str = ""  # a model folder the warm-up continues from ("": a random-weight tiny model of the size)
    diag_n: int = 48  # RL-set questions for the diagnostic
    eval_n: int = 12  # synthetic test items per task (levels 1-3; the RL family's at rl_levels)
    eval_samples: int = 0  # sampled evaluations of the RL family's synthetic suite besides the greedy one (<suite>@k)
    panel_n: int = 16  # the fixed panel: RL questions the start solves 0 of panel_k times (tools.panel; 0: none)
    panel_k: int = 16  # its samples per question (pass@k); measured at every checkpoint (save_every)
    panel_every: int = 0  # > 0: the panel only at checkpoints a multiple of this many steps apart (and the last)
    real_limit: int = 2  # first items of every benchmark found in ../shared/benchdata (0: none)
    text_only: bool = False  # a text-only student (smollm2): text warm-up items and the text suite only
    overrides: tuple[str, ...] = ()  # extra key=value for every cell
    variant: str = ""  # a name for a grid changed from its regime (reproduce --set): its report's own file
    config: Path = CONFIG  # the RL settings every cell shares

    def seeds_of(self, method: str) -> tuple[int, ...]:
        """The seeds `method` runs: all for ZPPO and GRPO with buffer (the comparison the
        report is about), the first `other_seeds` for the others."""
        if self.other_seeds and method not in ("zppo", "grpo_buffer"):
            return self.seeds[: self.other_seeds]
        return self.seeds

    @property
    def name(self) -> str:
        if self.variant:  # changed by reproduce --set
            return f"{dataclasses.replace(self, variant='').name}, with {self.variant}"
        if dataclasses.replace(self, read_family="all") == QUICK:
            return "quick grid"
        if self.sizes == ("smollm2",):
            return "SmolLM2-135M: text RL"
        return "main regime: text RL" if self.rl_family == "text" else f"{self.rl_family} RL regime"


QUICK = Grid(
    sizes=("xs",),
    rollout_budget=64,
    train_n=8,
    warmup_steps=40,
    diag_n=6,
    eval_n=2,
    real_limit=0,
    overrides=("prompts_per_step=4", "group_size=4", "max_new_tokens=48", "updates_per_step=2"),
    panel_n=2,
    panel_k=4,
)

# The main regime of issue 22: RL on the text family at levels 2-4 (about 200 items per task),
# where checking is easier than solving; 32 new questions a step, so that several questions a step
# are reformulated; 100 test items per task (300 per suite), greedy and sampled 4 times. The start:
# the shipped xs (which never copies from a candidate: its reading examples were 40 items per task
# shown about 30 times each, recalled rather than read) continued on reading examples that are
# seldom shown twice, all BCQs (drawn fresh from 1,500 items per task of the RL family at levels
# 1-4, none an RL or test item). Image RL (the default Grid) stays the second regime.
MAIN = Grid(
    seeds=(0, 1, 2, 3, 4),
    other_seeds=3,  # issue 22: 5 seeds for ZPPO and GRPO with buffer, 3 for the others
    rl_family="text",
    rl_n=200,
    rl_levels=(2, 3, 4),
    rollout_budget=3072,  # 12 GRPO steps of 32 x 8; ZPPO spends part on BCQ/NCQ groups and takes fewer
    eval_n=100,
    eval_samples=4,
    diag_n=96,
    panel_n=64,
    panel_every=6,
    start_from=str(SHIPPED_START),
    warmup_steps=1000,
    warmup_lr=3e-3,
    read_family="rl",
    read_n=1500,
    read_levels=(1, 2, 3, 4),
    read_fraction=1.0,
    read_bcq_share=1.0,
    # lr 3e-4: approx KL about 1e-3 a step in a GRPO-with-buffer sweep (README, deliverable 5); every
    # checkpoint kept, so GRPO with buffer can also be read at ZPPO's step count (stages.equal_steps)
    overrides=("prompts_per_step=32", "lr=3e-4", "save_every=1"),
)


# The real pretrained SmolLM2-135M-Instruct (text only) in the main regime's data (deliverable 9 of
# issue 22), sized for about a minute a step on 2 CPU cores. Deviations, each for time: 4 new
# questions a step (so one reformulated slot), 48-token answers, NCQs show at most 3 wrong rollouts
# (all their answers still listed), only the top 4 of 30 layers train in RL (the top 8 in the
# warm-up), 90 test items of the text suite (greedy and sampled twice), a panel of 16 questions x
# 8 samples at the start and the end. Its start: the export, warmed up on the warm-up set's text
# items (plain prompts: it never writes \boxed{} out of the box) and on BCQs of the fresh reading
# set, half of each batch.
SMOLLM2 = dataclasses.replace(
    MAIN,
    sizes=("smollm2",),
    seeds=(0, 1, 2),
    other_seeds=0,
    methods=("zppo", "grpo_buffer"),
    rollout_budget=384,  # 12 GRPO steps of 4 x 8
    eval_n=30,
    eval_samples=2,
    diag_n=32,
    panel_n=16,
    panel_k=8,
    panel_every=1000,
    start_from="",
    warmup_steps=150,
    warmup_lr=5e-5,
    warmup_batch=4,
    warmup_top_layers=8,
    read_fraction=0.5,
    real_limit=0,
    text_only=True,
    overrides=(
        "prompts_per_step=4",
        "max_new_tokens=48",
        "ncq_max_candidates=3",
        "train_top_layers=4",
        "lr=5e-5",  # a GRPO-with-buffer sweep from the start (README): approx KL 3.5e-3, 7.6e-4 a step
        "data_shuffle=1000",  # the seeds vary the data order too (both methods of a seed share it)
        "save_every=1",
        "rollout_batch_size=64",
    ),
)


def start_name(folder: str) -> str:
    """A start folder as reports and warmup.json name it: the package's starts by their place in the repo."""
    return f"mmzppo/tools/starts/{Path(folder).name}" if Path(folder).parent == SHIPPED_START.parent else folder


def suites(grid: Grid) -> tuple[str, ...]:
    """The report's suites: greedy ones (a text-only student's: the text suite), then the sampled
    synthetic ones (`Grid.eval_samples`)."""
    sampled = (f"synthetic_{grid.rl_family}@{grid.eval_samples}",)
    greedy = ("synthetic_text",) if grid.text_only else SUITES
    return greedy + (sampled if grid.eval_samples else ())


def grid_config(grid: Grid):
    """The RL config every cell shares (its answer length is also the diagnostic's and the eval's)."""
    from mmzppo.train.config_files import load_config

    return load_config(grid.config, ["student=x", "train_shards=x", *grid.overrides])


def cell_name(method: str, size: str, seed: int, budget: int = DEFAULT_BUDGET) -> str:
    """A cell's run folder name (the budget only when it is not the default's)."""
    return f"{method}-{size}-seed{seed}" + ("" if budget == DEFAULT_BUDGET else f"-budget{budget}")


def report_stem(grid: Grid) -> str:
    """The report's file and plot folder: results for the main regime (MAIN's family and budget),
    else results-<family>, with -budget<B> when the budget is not its default and -<variant>
    for a grid changed by --set (so that it never overwrites its regime's report)."""
    if grid.sizes == ("smollm2",):
        default, stem = SMOLLM2.rollout_budget, "results-smollm2"
    elif grid.rl_family == MAIN.rl_family:
        default, stem = MAIN.rollout_budget, "results"
    else:
        default, stem = DEFAULT_BUDGET, f"results-{grid.rl_family}"
    stem = stem if grid.rollout_budget == default else f"{stem}-budget{grid.rollout_budget}"
    return f"{stem}-{grid.variant}" if grid.variant else stem
