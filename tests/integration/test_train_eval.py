"""Checkpoints as models: `eval_every` / `eval_suites` evaluate a run's checkpoints in a subprocess
while it trains, and `python -m mmzppo.eval --model` takes a run folder or a checkpoint folder.

A 2-step tiny run (xs) saving every step, with eval_every 2: checkpoint step-2 is evaluated by
`python -m mmzppo.eval` in a subprocess (synthetic text, 3 items, greedy), step-1 is not; the
loop did not wait for it (the subprocess was still running when submit returned); its summary is
a row of eval_metrics.jsonl and TensorBoard scalars at step 2; metrics.jsonl keeps one row per
step. A row lost to a kill is made again on resume. The run folder then evaluates as its newest
checkpoint, a checkpoint folder as itself.
"""

from __future__ import annotations

import json
import shutil

from mmzppo.data.vision import TINY_VISION
from mmzppo.eval.__main__ import main as eval_main
from mmzppo.train import evals
from mmzppo.train.config_files import load_config

TINY = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]
EVAL_ARGS = ["--tasks", "synthetic_text", "--limit", "3", "--greedy", "--max-new-tokens", "8", "--vision", "tiny"]


def test_checkpoints_evaluated_during_training_and_as_models(tiny_xs_dir, synth_shards, tmp_path, monkeypatch, capsys):
    from mmzppo.train.loop import Trainer

    still_running = []
    original = evals.CheckpointEvals.submit

    def submit(self, step, checkpoint):
        original(self, step, checkpoint)
        still_running.append(self.running is not None and self.running[1].poll() is None)

    monkeypatch.setattr(evals.CheckpointEvals, "submit", submit)
    overrides = [
        f"student={tiny_xs_dir}",
        "teacher_kind=none",
        "use_bcq=false",
        "use_ncq=false",
        "use_buffer=false",
        f"train_shards={synth_shards}",
        "prompts_per_step=4",
        "group_size=2",
        "max_new_tokens=8",
        "steps=2",
        "updates_per_step=1",
        "dtype=float32",
        f"output_dir={tmp_path}",
        "name=run",
        "save_every=1",
        "eval_every=2",
        "eval_suites=[synthetic]",
        f"eval_args={json.dumps(EVAL_ARGS)}",
        *TINY,
    ]
    run = Trainer(load_config(None, overrides)).train()
    assert still_running == [True]  # submit returned while the evaluation ran
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [0, 1]
    rows = [json.loads(x) for x in (run / "eval_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2] and rows[0]["eval/failed"] == 0  # step-1 saved, not due
    for row in rows:
        summary = json.loads((run / "evals" / f"step-{row['step']}" / "summary.json").read_text())
        assert summary["settings"]["model"] == str(run / "checkpoints" / f"step-{row['step']}")
        assert row["eval/synthetic_text"] == summary["benchmarks"][0]["score"]
        assert row["eval/synthetic/macro"] == summary["suites"]["synthetic"]["macro"]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = EventAccumulator(str(run / "tb"))
    tb.Reload()
    assert [(e.step, e.value) for e in tb.Scalars("eval/synthetic_text")] == [
        (r["step"], r["eval/synthetic_text"]) for r in rows
    ]

    # a kill while step-2's row was written: on resume it is evaluated again, the cut line left alone
    (run / "eval_metrics.jsonl").write_text(json.dumps(rows[0])[:30])
    again = evals.CheckpointEvals(run, 2, ["synthetic"], EVAL_ARGS)
    again.open(None, 2)
    assert again.running[0] == 2 and not again.queue  # step-1 is not due
    again.finish()
    assert [(r["step"], r["eval/synthetic_text"]) for r in again.rows()] == [(2, rows[0]["eval/synthetic_text"])]

    # the run folder evaluates as its newest checkpoint, a checkpoint folder as itself
    for model, step in ((run, 2), (run / "checkpoints" / "step-1", 1)):
        out = tmp_path / f"eval-{step}"
        assert eval_main(["--suite", "synthetic", "--model", str(model), "--output", str(out), *EVAL_ARGS]) == 0
        result = json.loads((out / "summary.json").read_text())
        assert result["settings"]["model"] == str(run / "checkpoints" / f"step-{step}")
    assert result["settings"] == json.loads((run / "evals/step-2/summary.json").read_text())["settings"] | {
        "model": str(run / "checkpoints" / "step-1")
    }  # the same settings as the evaluation during training
    # the paper preset on a checkpoint: recorded with every decoding and media setting (no items: --limit 0)
    out = tmp_path / "preset"
    assert (
        eval_main(
            ["--suite", "synthetic", "--model", str(run), "--preset", "paper", "--limit", "0", "--output", str(out)]
        )
        == 0
    )
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert settings["preset"] == "paper" and settings["backend"] == "hf" and settings["engine"] is None
    decoding = {
        k: settings["decoding"][k] for k in ("temperature", "top_p", "top_k", "presence_penalty", "max_new_tokens")
    }
    assert decoding == {
        "temperature": 0.6,
        "top_p": 0.95,
        "top_k": 20,
        "presence_penalty": 1.5,
        "max_new_tokens": 12288,
    }
    assert (settings["vision"]["min_pixels"], settings["vision"]["max_pixels"]) == (256 * 32 * 32, 1280 * 32 * 32)
    assert settings["decoding"]["stop_token_ids"] and settings["decoding"]["suppressed_token_ids"]
    assert set(settings["vision"]) == set(TINY_VISION.to_dict())  # every VisionSettings field

    # an incomplete checkpoint, a run without one: one-line errors naming them
    broken = tmp_path / "broken" / "checkpoints" / "step-9"
    shutil.copytree(run / "checkpoints" / "step-2", broken)
    (broken / "DONE").unlink()
    capsys.readouterr()
    for model, why in ((broken, "incomplete checkpoint"), (tmp_path / "broken", "without a complete checkpoint")):
        assert eval_main(["--suite", "synthetic", "--model", str(model), *EVAL_ARGS]) == 2
        assert why in capsys.readouterr().err
