"""The per-task table of the method comparison's report (`mmzppo.tools.results.task_lines`):
each synthetic item's task read back from its uid, and a suite's difference split by task."""

from __future__ import annotations

from mmzppo.data.synthetic import SPLITS, TASKS
from mmzppo.data.synthetic.suite import uid_for
from mmzppo.tools.grid import MAIN
from mmzppo.tools.results import task_lines, task_of


def test_every_synthetic_task_and_split_is_read_back_from_the_uid():
    for task in TASKS:
        for split in SPLITS:
            assert task_of(f"synthetic_image/{uid_for(task, split, 3, 12)}") == task
    assert task_of("aime25/aime25-0") == "aime25"  # the real suite: the benchmark


def test_a_difference_carried_by_one_task_shows_in_its_row_only():
    def scores(count_color: float, digit_arith: float) -> dict:
        keys = {
            t: [f"synthetic_image/{uid_for(t, 'test', 0, i)}" for i in range(10)]
            for t in ("count_color", "digit_arith")
        }
        image = {k: float(i < 10 * count_color) for i, k in enumerate(keys["count_color"])}
        image |= {k: float(i < 10 * digit_arith) for i, k in enumerate(keys["digit_arith"])}
        return {"synthetic_image": image}

    by = {
        ("start", "xs"): [{"seed": 0, "scores": scores(0.3, 0.0)}],
        ("zppo", "xs"): [{"seed": s, "scores": scores(0.1, 0.1)} for s in (0, 1)],
        ("grpo_buffer", "xs"): [{"seed": s, "scores": scores(0.3, 0.1)} for s in (0, 1)],
    }
    rows = {line.split(" | ")[2]: line for line in task_lines(MAIN, by) if line.startswith("| synthetic_image |")}
    assert (
        rows["count_color"]
        == "| synthetic_image | xs | count_color | 10 | 0.300 | 0.100 | 0.300 | -0.200 | -0.20, -0.20 |"
    )
    assert (
        rows["digit_arith"]
        == "| synthetic_image | xs | digit_arith | 10 | 0.000 | 0.100 | 0.100 | +0.000 | +0.00, +0.00 |"
    )
