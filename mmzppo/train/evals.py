"""Evaluation during training: `eval_every: N` with `eval_suites: [...]` evaluates the run's
checkpoints in a subprocess while training goes on.

At every step that is a multiple of `eval_every` (and at the last one) the loop saves a
checkpoint and hands it to `CheckpointEvals.submit`, which queues

    python -m mmzppo.eval --suite <eval_suites> --model <run>/checkpoints/step-N
        --output <run>/evals/step-N --resume --no-progress <eval_args>

One evaluation runs at a time (they never pile up beside the training); `poll`, called after
every step, starts the next one and logs each finished one: its suite macros and benchmark
scores as a row `{"step": N, "eval/<suite>/macro": ..., "eval/<benchmark>": ...}` of
<run>/eval_metrics.jsonl and as TensorBoard scalars at step N (the step the checkpoint was
saved after). A separate file, so that metrics.jsonl stays one row per training step, as its
readers expect. The subprocess's output is <run>/evals/step-N/eval.log; a failed evaluation is
a row with `eval/failed: 1` and the log's last line, and training goes on. `finish` waits for
the queue at the end of training.

Resume: eval_metrics.jsonl is not cut back with the training logs (its rows describe saved
checkpoints, which stay); a due checkpoint without a row is queued again (the evaluation resumes
inside its folder), and the rows from the resumed step on are written to TensorBoard again
(the writer drops that step's earlier events).

The training layer does not import `mmzppo.eval` (a higher layer): the evaluation is a command.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from mmzppo.train.config import ConfigError

# `--suite` values of mmzppo.eval (its SUITES and "all"; tests/unit/test_eval_settings.py checks they agree)
SUITE_NAMES = ("all", "vlm", "llm", "video", "synthetic")


class CheckpointEvals:
    """The queue of checkpoint evaluations of one run (see the module docstring). `active` False
    (every rank but the main one): `due` still answers (saving is collective), nothing runs."""

    def __init__(self, run_dir: Path, every: int, suites: list[str], args: list[str], active: bool = True):
        if not isinstance(every, int) or isinstance(every, bool) or every < 0:
            raise ConfigError(f"eval_every: invalid value {every!r}; allowed: an integer >= 0 (0 = off)")
        bad = [s for s in suites if s not in SUITE_NAMES]
        if every > 0 and (not suites or bad):
            raise ConfigError(f"eval_suites: {suites!r}: give one or more of {', '.join(SUITE_NAMES)}")
        self.run_dir, self.every, self.suites, self.args = run_dir, every, list(suites), [str(a) for a in args]
        self.active = active
        self.log = run_dir / "eval_metrics.jsonl"
        self.queue: list[tuple[int, Path]] = []
        self.running: tuple[int, subprocess.Popen, float] | None = None
        self.writer = None

    def due(self, step: int) -> bool:
        """Is the checkpoint after `step` steps one to evaluate (and so to save)?"""
        return self.every > 0 and step % self.every == 0

    def rows(self) -> list[dict]:
        """The logged rows (a line cut off by a kill is left out: its checkpoint is queued again)."""
        if not self.log.is_file():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def open(self, writer, step: int) -> None:
        """At the start of `train()`: TensorBoard gets the rows from `step` on again, and due
        checkpoints that have no row yet (a run killed while they waited or ran) are queued."""
        self.writer = writer
        if not self.active or self.every <= 0:
            return
        logged = {r["step"] for r in self.rows()}
        for row in self.rows():
            if row["step"] >= step:
                self.scalars(row)
        for ckpt in sorted((self.run_dir / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1])):
            n = int(ckpt.name.split("-")[1])
            if (ckpt / "DONE").is_file() and n not in logged and self.due(n):
                self.submit(n, ckpt)

    def submit(self, step: int, checkpoint: Path) -> None:
        """Queue the evaluation of `checkpoint` (saved after `step` steps) and start it if none runs."""
        if self.active and self.every > 0 and all(step != s for s, _ in self.queue):
            self.queue.append((step, checkpoint))
            self.poll()

    def waiting(self) -> set[int]:
        """The steps whose checkpoints are queued or being evaluated (not to be deleted)."""
        return {s for s, _ in self.queue} | ({self.running[0]} if self.running is not None else set())

    def command(self, checkpoint: Path, out: Path) -> list[str]:
        return [
            *(sys.executable, "-m", "mmzppo.eval", "--suite", ",".join(self.suites)),
            *("--model", str(checkpoint), "--output", str(out), "--resume", "--no-progress", *self.args),
        ]

    def poll(self) -> None:
        """Log the running evaluation if it has finished, then start the next queued one."""
        if self.running is not None and self.running[1].poll() is not None:
            step, proc, started = self.running
            self.running = None
            self.record(step, proc.returncode, time.time() - started)
        if self.running is None and self.queue:
            step, checkpoint = self.queue.pop(0)
            out = self.run_dir / "evals" / f"step-{step}"
            out.mkdir(parents=True, exist_ok=True)
            with open(out / "eval.log", "w") as log:
                proc = subprocess.Popen(self.command(checkpoint, out), stdout=log, stderr=subprocess.STDOUT)
            self.running = (step, proc, time.time())

    def finish(self, wait: bool = True) -> None:
        """The end of training: wait for the running and queued evaluations and log them; or
        (`wait` False, a SIGTERM) stop the running one: a resumed run queues both again."""
        if not wait and self.running is not None:
            self.running[1].terminate()
            self.running[1].wait()
            self.running, self.queue = None, []
        while self.running is not None or self.queue:
            if self.running is not None:
                print(f"waiting for the evaluation of checkpoint step-{self.running[0]}", file=sys.stderr)
                self.running[1].wait()
            self.poll()

    def record(self, step: int, returncode: int, seconds: float) -> None:
        out = self.run_dir / "evals" / f"step-{step}"
        row: dict = {"step": step, "checkpoint": f"checkpoints/step-{step}", "eval/seconds": round(seconds, 1)}
        summary = out / "summary.json"
        if returncode == 0 and summary.is_file():
            s = json.loads(summary.read_text())
            row.update({f"eval/{suite}/macro": v["macro"] for suite, v in s["suites"].items()})
            row.update({f"eval/{e['benchmark']}": e["score"] for e in s["benchmarks"] if e.get("score") is not None})
            row["eval/failed"] = 0
        else:
            lines = (out / "eval.log").read_text(errors="replace").strip().splitlines() or [""]
            row.update({"eval/failed": 1, "error": f"exit status {returncode}: {lines[-1][:300]}"})
            print(f"the evaluation of step-{step} failed ({row['error']}); see {out / 'eval.log'}", file=sys.stderr)
        cut = self.log.is_file() and self.log.stat().st_size and not self.log.read_bytes().endswith(b"\n")
        with open(self.log, "a") as f:
            f.write(("\n" if cut else "") + json.dumps(row) + "\n")  # a line cut by a kill stays alone
        self.scalars(row)

    def scalars(self, row: dict) -> None:
        if self.writer is not None:
            for k, v in row.items():
                if k.startswith("eval/") and isinstance(v, (int, float)) and v is not None:
                    self.writer.add_scalar(k, v, row["step"])
