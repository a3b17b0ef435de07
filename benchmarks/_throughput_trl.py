"""The TRL side of benchmarks/throughput.py: its TRL worker process (benchmarks/_trl_worker.py
in the TRL environment, one GRPOTrainer step per request), the text questions both sides
train on, the exact prompt tokens mmzppo gives them, and every setting that differs.

TRL is not a dependency of mmzppo: it runs in its own environment (`TRL_ENV_HELP`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from mmzppo.data.vision import TINY_VISION

TRL_WORKER = Path(__file__).with_name("_trl_worker.py")
TRL_ENV_HELP = (
    "python3 -m venv /work/trl-venv && /work/trl-venv/bin/pip install trl==1.16.0 torch==2.13.0 "
    "transformers==5.19.0 accelerate==1.15.0 && /work/trl-venv/bin/pip uninstall -y torchvision "
    "(TRL pulls a torchvision that does not load beside CPU torch; text prompts need none), then "
    "--trl-python /work/trl-venv/bin/python"
)
TEXT_TASKS = ["arith_chain", "word_problem", "choose_option"]


class TRLWorker:
    """benchmarks/_trl_worker.py in the TRL environment: one GRPOTrainer step per `step()`."""

    def __init__(self, python: str, spec: dict, folder: Path):
        path = folder / "trl_spec.json"
        path.write_text(json.dumps(spec))
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(spec["threads"]),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "TOKENIZERS_PARALLELISM": "false",
        }
        env.pop("PYTHONPATH", None)  # nothing of mmzppo's environment leaks in
        self.log = open(folder / "trl_worker.log", "w")
        self.proc = subprocess.Popen(
            [python, str(TRL_WORKER), str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.settings = self._read()["ready"]

    def _read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.log.flush()
                tail = Path(self.log.name).read_text()[-3000:]
                raise RuntimeError(f"the TRL worker stopped (exit {self.proc.poll()}):\n{tail}")
            if line.startswith("{"):
                return json.loads(line)

    def step(self) -> dict:
        self.proc.stdin.write("step\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("stop\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def trl_python_problem(python: str | None) -> str | None:
    """Why the TRL side cannot run (None: it can)."""
    if not python:
        return "no --trl-python given"
    if not Path(python).exists():
        return f"{python} does not exist"
    r = subprocess.run(
        [python, "-c", "import trl, transformers; from trl import GRPOTrainer"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    if r.returncode:
        return f"{python} cannot import trl ({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else 'error'})"
    return None


def text_shards(root: Path) -> Path:
    """8 synthetic text questions (arithmetic, word problems, options), one shard."""
    from itertools import islice

    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite

    write_shards(
        islice(generate_suite(TEXT_TASKS, 3, 0, "train", None, levels=[2]), 8), root, maxcount=100, progress=False
    )
    return root


def mmzppo_prompt_ids(policy, shards: Path) -> tuple[list[str], list[tuple[int, ...]]]:
    """The exact chat-templated prompt strings the trainer renders for these questions, and
    the token ids its encoder gives them."""
    from mmzppo.data.shards import ShardReader
    from mmzppo.policy.encoding import chat_text, encode_prompts
    from mmzppo.prompting.builders import plain

    samples = list(ShardReader(shards, vision=TINY_VISION))
    texts = [chat_text(policy.processor, plain(s), policy.vision) for s in samples]
    encoded = encode_prompts(policy.processor, policy.vision, [plain(s) for s in samples])
    ids = [tuple(e.inputs["input_ids"][0].tolist()) for e in encoded]
    return texts, sorted(ids)


def trl_differences(config, trl: dict | None) -> list[str]:
    """Every setting that differs between the mmzppo and the TRL side (same otherwise: model,
    prompts token for token, batch, group, exact completion length, updates, micro-batch size,
    fp32, threads, AdamW lr/betas/weight decay, grad clip, clip range 0.2/0.28, no KL)."""
    out = [
        f"loss: mmzppo's token-level clip-higher PPO with dual-clip c={config.dual_clip} and its advantage "
        f"normalisation ({config.adv_norm}); TRL's {trl['loss_type'] if trl else 'dapo'} loss, advantages scaled "
        f"per {trl['scale_rewards'] if trl else 'group'}, no dual clip",
        "reward: mmzppo grades each answer against the gold (mmzppo.grading.grader); TRL gets a trivial function of the "
        "text (it cannot import mmzppo), both negligible next to a step",
        "old log-probs: mmzppo takes the sampler's recorded log-probs (old_logprobs auto); TRL needs none when "
        "the update follows its own generation (it detaches the current ones)"
        + (
            "; here it recomputes them in an extra pass (several updates per generation)"
            if trl and trl.get("old_logprobs_pass")
            else ""
        ),
        "what the step time covers: mmzppo's Trainer.step (data, rollout, grading, advantages, updates, metrics); "
        "TRL from on_step_begin to on_step_end of the generation batch's updates (its logging after is left out)",
        "sampling: both temperature 1, top-p 1, top-k off, the same vision tokens suppressed, EOS forbidden "
        "before the length (mmzppo: HFRollout min_new_tokens; TRL: generation_kwargs min_new_tokens)",
    ]
    return out
