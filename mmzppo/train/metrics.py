"""What a training step writes: the metrics row (metrics.jsonl, TensorBoard) and the logged
samples (samples.jsonl), over whatever group kinds the method made, and the progress line.

Metric names are stable across methods, so runs of different methods plot side by side:
`reward/{kind}_{mean,std}` and `groups/{kind}` for every kind the method makes (plain, bcq,
ncq, hint, prefix, teacher), `frac_reward_zero_std`, `completions/*`, `buffer/*`, the
update's statistics (`loss`, `grad_norm`, `entropy`, `clip_ratio/*`, `approx_kl` or
`distill/divergence`), the method's own counts (`hard/*`, `hint/*`, `distill/*`),
`teacher/*` (the teacher's calls this step) and `time/*`.

The mechanism (what ZPPO changes, spec section 9), in every run: `mechanism/<kind>_nontrivial`
(groups of that kind whose rewards differ: the ones with a gradient), `mechanism/<kind>_on_zero`
and `mechanism/<kind>_on_zero_nontrivial` (the same for groups of questions whose plain group
this step was all wrong: `plain_on_zero` counts those questions), all counts, so that shares
over a run are exact; and `buffer/by_entry`: admitted and graduated questions per entry bin
(0/8 .. 3/8), split by whether they got a reformulated prompt while buffered
(`mmzppo.train.buffer.ReplayBuffer.by_entry`).

Several processes: counts are summed over ranks, rewards and completion statistics averaged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mmzppo.data.sample import Sample
from mmzppo.grading.boxed import count_distinct_boxed
from mmzppo.policy import parallel
from mmzppo.train.api import StepResult
from mmzppo.train.checkpoints import CheckpointError
from mmzppo.train.rollout import flat

SUMMED = ("groups/", "hard/", "hint/", "distill/", "teacher/", "buffer/", "mechanism/")
AVERAGED = ("reward/", "frac_", "completions/")


def mean(xs) -> float:
    xs = list(xs)
    return float(sum(xs) / len(xs)) if xs else 0.0


def std(xs) -> float:
    xs = list(xs)
    return float(np.std(xs)) if xs else 0.0


def step_metrics(step: int, result: StepResult, buffer, times: dict[str, float], extra: dict[str, float]) -> dict:
    """This step's metrics, reduced over ranks (every rank calls it)."""
    rollouts = flat(result.groups)
    lengths = [len(r.token_ids) for r in rollouts]
    m: dict = {"step": step}
    for kind in result.kinds:
        rewards = [r.reward for r in rollouts if r.kind == kind and not r.unknown]  # unknown: not 0
        m[f"reward/{kind}_mean"] = mean(rewards)
        m[f"reward/{kind}_std"] = std(rewards)
        m[f"groups/{kind}"] = sum(g[0].kind == kind for g in result.groups if g)
    m["frac_reward_zero_std"] = mean(len({r.reward for r in g}) == 1 for g in result.groups)
    m.update(mechanism_counts(result))
    m.update(result.counts)
    m["completions/mean_length"] = mean(lengths)
    m["completions/max_length"] = max(lengths) if lengths else 0
    m["completions/clipped_frac"] = mean(not r.completion.finished for r in rollouts)
    m["completions/multi_boxed_frac"] = mean(count_distinct_boxed(r.completion.text) > 1 for r in rollouts)
    m["buffer/size"] = len(buffer)
    m["buffer/replayed"] = len(result.replay)
    for key in ("admitted", "graduated", "evicted"):
        m[f"buffer/{key}"] = result.buffer_counts.get(key, 0)
        m[f"buffer/{key}_total"] = buffer.counts.get(key, 0)
    m.update(extra)
    m.update(result.update)
    m.update({f"time/{k}": v for k, v in times.items()})
    if parallel.world_size() > 1:
        for prefixes, divide in ((SUMMED, 1), (AVERAGED, parallel.world_size())):
            keys = sorted(k for k in m if k.startswith(prefixes))
            for k, v in zip(keys, parallel.all_reduce([float(m[k]) for k in keys])):
                m[k] = v / divide
    m["buffer/graduated_by_entry"] = parallel.sum_counts(buffer.graduated_by_entry)  # all ranks
    # the buffer's record of reformulated questions is kept here, where every step's groups pass
    # (after the step's bookkeeping: a question admitted this step is marked this step)
    buffer.mark_reformulated(g[0].prompt.uid for g in result.groups if g and g[0].kind not in ("plain", "teacher"))
    m["buffer/by_entry"] = parallel.sum_counts(buffer.by_entry())
    return m


def mechanism_counts(result: StepResult) -> dict[str, int]:
    """Per group kind: groups with differing rewards, and the same on questions whose plain
    group is all wrong (module docstring)."""
    plain_accuracy = {g[0].prompt.uid: mean(r.reward for r in g) for g in result.groups if g and g[0].kind == "plain"}
    out = {}
    for kind in result.kinds:
        groups = [g for g in result.groups if g and g[0].kind == kind]
        on_zero = [g for g in groups if plain_accuracy.get(g[0].prompt.uid) == 0.0]
        out[f"mechanism/{kind}_nontrivial"] = sum(len({r.reward for r in g}) > 1 for g in groups)
        out[f"mechanism/{kind}_on_zero"] = len(on_zero)
        out[f"mechanism/{kind}_on_zero_nontrivial"] = sum(len({r.reward for r in g}) > 1 for g in on_zero)
    return out


def sample_records(step: int, result: StepResult, run_dir: Path, n: int) -> list[dict]:
    """The first `n` groups in full (the method's extra groups first: BCQ/NCQ/hint/prefix), for samples.jsonl."""
    chosen = sorted(result.groups, key=lambda g: g[0].kind == "plain")[:n]
    out = []
    for g in chosen:
        p, s = g[0].prompt, g[0].sample
        out.append(
            {
                "step": step,
                "uid": p.uid,
                "kind": g[0].kind,
                "source": s.source,
                **saved_media(s, run_dir),
                "prompt": p.text,
                "continue_final": p.continue_final,
                "gold": s.answer,
                "answer_type": s.answer_type,
                "choices": s.choices,
                "candidates": [{"label": c.label, "text": c.text} for c in p.candidates],
                "wrong_answers": p.wrong_answers,
                "responses": [{"text": r.completion.text, "parsed": r.parsed, "reward": r.reward} for r in g],
            }
        )
    return out


def saved_media(s: Sample, run_dir: Path) -> dict:
    """Media of a logged sample as paths a viewer can open: file paths as they are,
    in-memory images and video frames (from shards) written once under media/."""
    media_dir = run_dir / "media"

    def path_of(x, name: str) -> str:
        if isinstance(x, (str, Path)):
            return str(x)
        file = media_dir / f"{s.uid}-{name}.png"
        if not file.exists():
            media_dir.mkdir(parents=True, exist_ok=True)
            x.save(file)
        return str(file.relative_to(run_dir))

    video = s.video
    if isinstance(video, list):
        video = [path_of(f, f"frame{i}") for i, f in enumerate(video)]
    return {"images": [path_of(x, f"img{i}") for i, x in enumerate(s.images)], "video": video, "video_fps": s.video_fps}


def write_logs(run_dir: Path, writer, metrics: dict, samples: list[dict]) -> None:
    """Append a step's row to metrics.jsonl, its samples to samples.jsonl, its scalars to
    TensorBoard (`writer`). A failed write (a full disk) is a `CheckpointError` saying what to do."""
    try:
        with open(run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")
        with open(run_dir / "samples.jsonl", "a") as f:
            for s in samples:
                f.write(json.dumps(s) + "\n")
    except OSError as e:
        raise CheckpointError(
            f"could not write the run logs in {run_dir} ({e.strerror or e}); free space "
            "and --resume (rows after the last checkpoint are written again)"
        ) from e
    for k, v in metrics.items():
        if isinstance(v, (int, float)):
            writer.add_scalar(k, v, metrics["step"])


def postfix(metrics: dict) -> dict[str, str]:
    """The progress bar's few numbers: the first kind's reward, the extra groups, the buffer."""
    kinds = [k[len("groups/") :] for k in metrics if k.startswith("groups/")]
    out = {"reward": f"{metrics.get(f'reward/{kinds[0]}_mean', 0.0):.3f}"} if kinds else {}
    out.update({kind: str(int(metrics[f"groups/{kind}"])) for kind in kinds[1:]})
    out["buffer"] = str(int(metrics["buffer/size"]))
    return out
