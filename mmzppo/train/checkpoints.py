"""Checkpoints of a run: `checkpoints/step-N/` written atomically, and resumed from exactly.

A checkpoint holds the Hugging Face model + processor (main process), each rank's trainer
state (optimizer, buffer, data position, every RNG), the sizes of metrics.jsonl and
samples.jsonl when it was written, and a DONE marker. It is written under a temporary name
and renamed once complete, so a process killed while writing, or a full disk, never leaves a
checkpoint that `--resume` would pick; the previous one stays as it was. On resume the logs
are cut back to those sizes, so the rows of steps after the checkpoint (written before a
kill) are not kept twice when those steps run again. Weights that are not finite are never
saved. These functions take the `Trainer` (`t`) whose state they save or restore.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from mmzppo.policy import parallel

LOG_FILES = ("metrics.jsonl", "samples.jsonl")


class CheckpointError(OSError):
    """A checkpoint or a run log could not be written; the message names it and what to do."""


class NonFiniteError(RuntimeError):
    """A NaN/inf loss or gradient with `nonfinite: stop`, or non-finite weights at a checkpoint."""


def latest_checkpoint(run_dir: Path) -> Path | None:
    steps = sorted((run_dir / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    complete = [p for p in steps if (p / "DONE").is_file()]
    return complete[-1] if complete else None


def save(t) -> Path:
    """checkpoints/step-N/: HF model + processor (main process), trainer state per rank,
    the sizes of metrics.jsonl and samples.jsonl at this step, and a DONE marker.

    Written under a temporary name and renamed once complete, so a process killed while
    writing (or a full disk) never leaves a checkpoint that `--resume` would pick; the
    previous checkpoint stays as it was. Weights that are not finite are never saved.
    """
    final = t.run_dir / "checkpoints" / f"step-{t.step_idx}"
    path = final.with_name(f".{final.name}.tmp")
    if not all(bool(torch.isfinite(parallel.local(p)).all()) for p in t.model.parameters()):
        raise NonFiniteError(f"step {t.step_idx}: the weights hold NaN/inf; not writing {final}")
    t.acc.wait_for_everyone()
    try:
        if t.acc.is_main_process:
            shutil.rmtree(path, ignore_errors=True)  # a leftover of a process killed while writing
            path.mkdir(parents=True)
        t.acc.wait_for_everyone()
        weights = parallel.full_state_dict(t.model)  # None unless FSDP (then every rank gathers)
        if t.acc.is_main_process:
            t.model.save_pretrained(path, state_dict=weights)
            t.student.processor.save_pretrained(path)
            logs = {name: (t.run_dir / name).stat().st_size if (t.run_dir / name).exists() else 0 for name in LOG_FILES}
            (path / "logs.json").write_text(json.dumps(logs))
        state = {
            "step": t.step_idx,
            "student_rollouts": t.student_rollouts,
            "optimizer": t.optimizer.state_dict(),
            "buffer": t.buffer.state_dict(),
            "data": t.reader.state_dict(),
            "rng": {
                "python": t.rng.getstate(),
                "global_python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
            },
        }
        try:
            torch.save(state, path / f"trainer_state_rank{t.rank}.pt")
        except RuntimeError as e:  # torch reports a failed write (a full disk, say) as a RuntimeError
            raise OSError(f"torch.save failed: {e}") from e
        t.acc.wait_for_everyone()
        if t.acc.is_main_process:
            (path / "DONE").write_text(str(t.step_idx))
            shutil.rmtree(final, ignore_errors=True)
            path.rename(final)
    except OSError as e:
        if t.acc.is_main_process:
            shutil.rmtree(path, ignore_errors=True)
        previous = latest_checkpoint(t.run_dir)
        free_mb = shutil.disk_usage(final.parent).free / 2**20
        raise CheckpointError(
            f"could not write checkpoint {final} ({e.strerror or e}; {free_mb:.0f} MB free there); "
            + (f"{previous} is intact: free space and --resume" if previous else "no earlier checkpoint exists")
        ) from e
    t.acc.wait_for_everyone()
    return final


def truncate_logs(t, checkpoint: Path) -> None:
    """On resume: cut metrics.jsonl and samples.jsonl back to what they held when
    `checkpoint` was written, so rows of steps after it (written before a kill) are not
    kept twice when those steps run again."""
    logs_file = checkpoint / "logs.json"
    sizes = json.loads(logs_file.read_text()) if logs_file.is_file() else {}
    for name in LOG_FILES:
        file = t.run_dir / name
        if file.exists() and name in sizes and file.stat().st_size > sizes[name]:
            with open(file, "r+b") as f:
                f.truncate(sizes[name])


def load(t, path: Path) -> None:
    file = path / f"trainer_state_rank{t.rank}.pt"
    if not file.is_file():
        raise FileNotFoundError(f"{file} missing: resume with the same number of processes as the saved run")
    state = torch.load(file, weights_only=False)
    t.step_idx = state["step"]
    t.student_rollouts = state.get("student_rollouts", 0)  # checkpoints before the budget key have none
    t.optimizer.load_state_dict(state["optimizer"])
    t.buffer.load_state_dict(state["buffer"])
    t.reader.load_state_dict(state["data"])
    t._data = iter(t.reader)
    t.rng.setstate(state["rng"]["python"])
    random.setstate(state["rng"]["global_python"])
    np.random.set_state(state["rng"]["numpy"])
    torch.set_rng_state(state["rng"]["torch"])
