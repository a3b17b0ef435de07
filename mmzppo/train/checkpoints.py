"""Checkpoints of a run: `checkpoints/step-N/` written atomically, and resumed from exactly.

A checkpoint holds the Hugging Face model + processor (main process) in the precision's
export dtype (bfloat16 for `bf16-mixed` and `bf16`: what a user or vLLM loads), the float32
master weights in `masters.pt` when they differ from that export (`bf16-mixed`; read back by
`load_masters` on resume, so a resumed run continues from the exact weights), each rank's
trainer state (optimizer, buffer, data position, every RNG), the sizes of metrics.jsonl and
samples.jsonl when it was written, and a DONE marker. It is written under a temporary name
and renamed once complete, so a process killed while writing, or a full disk, never leaves a
checkpoint that `--resume` would pick; the previous one stays as it was. On resume the logs
are cut back to those sizes, so the rows of steps after the checkpoint (written before a
kill) are not kept twice when those steps run again. Weights that are not finite are never
saved. The trainer hands over what to save (`Trainer.state_dict`) and takes back what was
saved (`load`); nothing here reads the trainer itself.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from mmzppo.policy import parallel
from mmzppo.policy.precision import EXPORT

LOG_FILES = ("metrics.jsonl", "samples.jsonl")
MASTERS = "masters.pt"


class CheckpointError(OSError):
    """A checkpoint or a run log could not be written; the message names it and what to do."""


class NonFiniteError(RuntimeError):
    """A NaN/inf loss or gradient with `nonfinite: stop`, or non-finite weights at a checkpoint."""


def step_of(checkpoint: Path) -> int:
    """N of a checkpoints/step-N/ folder."""
    return int(checkpoint.name.split("-")[1])


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """checkpoints/step-N/ folders with their DONE marker, oldest first."""
    steps = sorted((run_dir / "checkpoints").glob("step-*"), key=step_of)
    return [p for p in steps if (p / "DONE").is_file()]


def latest_checkpoint(run_dir: Path) -> Path | None:
    complete = complete_checkpoints(run_dir)
    return complete[-1] if complete else None


def save(run_dir: Path, step: int, policy, state: dict, rank: int, acc, precision: str = "fp32") -> Path:
    """checkpoints/step-N/: HF model + processor (main process) in `precision`'s export dtype
    and the float32 masters if they differ, this rank's `state`, the sizes of metrics.jsonl
    and samples.jsonl at this step, and a DONE marker.

    Written under a temporary name and renamed once complete, so a process killed while
    writing (or a full disk) never leaves a checkpoint that `--resume` would pick; the
    previous checkpoint stays as it was. Weights that are not finite are never saved.
    `acc` is the run's `accelerate.Accelerator` (every rank calls this).
    """
    model = policy.model
    final = run_dir / "checkpoints" / f"step-{step}"
    path = final.with_name(f".{final.name}.tmp")
    if not all(bool(torch.isfinite(parallel.local(p)).all()) for p in model.parameters()):
        raise NonFiniteError(f"step {step}: the weights hold NaN/inf; not writing {final}")
    acc.wait_for_everyone()
    try:
        if acc.is_main_process:
            shutil.rmtree(path, ignore_errors=True)  # a leftover of a process killed while writing
            path.mkdir(parents=True)
        acc.wait_for_everyone()
        weights = parallel.full_state_dict(model)  # None unless FSDP (then every rank gathers)
        if acc.is_main_process:
            weights = weights if weights is not None else model.state_dict()
            cast: dict[int, torch.Tensor] = {}  # one cast per tensor: tied weights stay one tensor
            for v in weights.values():
                if id(v) not in cast:
                    cast[id(v)] = v.to(EXPORT[precision]) if v.is_floating_point() else v
            export = {k: cast[id(v)] for k, v in weights.items()}
            cast_happened = any(export[k] is not v for k, v in weights.items())  # then keep the masters
            model.save_pretrained(path, state_dict=export)  # (it drops a tied key from `export`)
            if cast_happened:
                torch.save(weights, path / MASTERS)
                mark_dtype(path / "config.json", EXPORT[precision])
            policy.processor.save_pretrained(path)
            logs = {name: (run_dir / name).stat().st_size if (run_dir / name).exists() else 0 for name in LOG_FILES}
            (path / "logs.json").write_text(json.dumps(logs))
        try:
            torch.save(state, path / f"trainer_state_rank{rank}.pt")
        except RuntimeError as e:  # torch reports a failed write (a full disk, say) as a RuntimeError
            raise OSError(f"torch.save failed: {e}") from e
        acc.wait_for_everyone()
        if acc.is_main_process:
            (path / "DONE").write_text(str(step))
            shutil.rmtree(final, ignore_errors=True)
            path.rename(final)
    except OSError as e:
        if acc.is_main_process:
            shutil.rmtree(path, ignore_errors=True)
        previous = latest_checkpoint(run_dir)
        free_mb = shutil.disk_usage(final.parent).free / 2**20
        raise CheckpointError(
            f"could not write checkpoint {final} ({e.strerror or e}; {free_mb:.0f} MB free there); "
            + (f"{previous} is intact: free space and --resume" if previous else "no earlier checkpoint exists")
        ) from e
    acc.wait_for_everyone()
    return final


def prune(run_dir: Path, keep_last: int, keep: set[int] = frozenset()) -> list[Path]:
    """Delete complete checkpoints older than the newest `keep_last` (`keep_checkpoints`),
    except the steps in `keep` (evaluations still waiting for them). Unfinished ones (no
    DONE: being written) are never touched. Returns the deleted folders."""
    complete = complete_checkpoints(run_dir)
    old = complete[:-keep_last] if keep_last > 0 else []
    gone = [p for p in old if step_of(p) not in keep]
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone


def truncate_logs(run_dir: Path, checkpoint: Path) -> None:
    """On resume: cut metrics.jsonl and samples.jsonl back to what they held when
    `checkpoint` was written, so rows of steps after it (written before a kill) are not
    kept twice when those steps run again."""
    logs_file = checkpoint / "logs.json"
    sizes = json.loads(logs_file.read_text()) if logs_file.is_file() else {}
    for name in LOG_FILES:
        file = run_dir / name
        if file.exists() and name in sizes and file.stat().st_size > sizes[name]:
            with open(file, "r+b") as f:
                f.truncate(sizes[name])


def mark_dtype(config_file: Path, dtype: torch.dtype) -> None:
    """`save_pretrained` records the dtype of the model in memory (the float32 masters); the
    exported files hold `dtype`, so a loader's `dtype="auto"` must read that."""
    config = json.loads(config_file.read_text())
    for section in (config, *(v for v in config.values() if isinstance(v, dict))):
        if "dtype" in section:
            section["dtype"] = str(dtype).removeprefix("torch.")
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def load_masters(path: Path, model: torch.nn.Module) -> None:
    """Put checkpoint `path`'s float32 master weights into `model` (loaded from its export),
    if it has them; call before sharding."""
    file = path / MASTERS
    if file.is_file():
        with torch.no_grad():
            model.load_state_dict(torch.load(file, weights_only=True))


def load(path: Path, rank: int) -> dict:
    """This rank's trainer state saved in checkpoint `path` (see `Trainer.load_state_dict`)."""
    file = path / f"trainer_state_rank{rank}.pt"
    if not file.is_file():
        raise FileNotFoundError(f"{file} missing: resume with the same number of processes as the saved run")
    return torch.load(file, weights_only=False)
