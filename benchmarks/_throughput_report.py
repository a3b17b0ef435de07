"""The report of benchmarks/throughput.py: the ratios of its medians, each against its target
(issue 12) and the earlier measurement, as a plain-text report or a Markdown table."""

from __future__ import annotations

from _throughput_trl import TRL_ENV_HELP

# Targets of issue 12 (ratio, direction).
TARGETS = {
    "zppo_over_grpo": (1.3, "<="),
    "mmzppo_over_trl": (0.8, "<="),
    "mmzppo_default_over_trl": (0.8, "<="),  # issue 21: the defaults are the fast path
    "rollout_over_bare": (1.10, "<="),
    "video_loader_over_rollout": (10.0, ">="),
    "peak_memory_gb": (1.0, "<"),
}


def ratios(res: dict) -> dict:
    m = res["medians"]
    out: dict = {}
    g = m.get("step/grpo")
    for name in res["methods"]:
        out[f"{name}_over_grpo"] = m[f"step/{name}"] / g
    if res.get("budget_methods"):
        g_budget, z_budget = res["budget_methods"]
        out["zppo_over_grpo_budget"] = m[f"step/{z_budget}"] / m[f"step/{g_budget}"]
        out["grpo_budget_over_grpo"] = m[f"step/{g_budget}"] / g
    if "trl/trl" in m:
        out["mmzppo_over_trl"] = m["trl/mmzppo"] / m["trl/trl"]
        if "trl/mmzppo_default" in m:
            out["mmzppo_default_over_trl"] = m["trl/mmzppo_default"] / m["trl/trl"]
    out["rollout_over_bare"] = m["rollout/framework"] / m["rollout/bare"]
    for kind in ("image", "video"):
        out[f"{kind}_loader_over_rollout"] = m[f"loader/{kind}"] / m[f"consume/{kind}"]
    if "memory" in res:
        out["peak_memory_gb"] = res["memory"]["peak_mb"] / 1024
    return out


def verdict(key: str, value: float | None) -> str:
    if key not in TARGETS or value is None:
        return ""
    target, direction = TARGETS[key]
    ok = {"<=": value <= target, ">=": value >= target, "<": value < target}[direction]
    return f"{direction} {target:g}  {'met' if ok else 'MISSED'}"


# Earlier measurements (README, issue 12), each by its own script and at its own settings.
BEFORE = {
    "zppo_over_grpo": "5.14 (64 tokens, old log-probs recomputed)",
    "zppo_over_grpo_budget": "2.55 (64 tokens)",
    "mmzppo_over_trl": "1.55 (old log-probs recomputed)",
    "mmzppo_default_over_trl": "1.26 (issue 21: micro_batch_tokens 0 by default)",
    "rollout_over_bare": "1.11",
    "video_loader_over_rollout": "9.9 (2 threads)",
    "image_loader_over_rollout": "63.3 (2 threads)",
    "peak_memory_gb": "4.5 (64 tokens; 1.25 with a 2,048-token budget)",
}


def table(res: dict) -> list[tuple[str, str, str, str]]:
    """(row, value, target, earlier measurement) for every ratio."""
    r, m = res["ratios"], res["medians"]
    rows = []
    for name in res["methods"][1:]:
        key = f"{name}_over_grpo"
        rows.append((f"{name} step / GRPO step", f"{r[key]:.2f}", verdict(key, r[key]), BEFORE.get(key, "")))
    if res.get("budget_methods"):
        budget = res["budget_methods"][0].split("@")[1]
        rows.append(
            (
                f"zppo step / GRPO step, both with micro_batch_tokens={budget}",
                f"{r['zppo_over_grpo_budget']:.2f}",
                verdict("zppo_over_grpo", r["zppo_over_grpo_budget"]),
                BEFORE["zppo_over_grpo_budget"],
            )
        )
        rows.append(
            (f"GRPO step with micro_batch_tokens={budget} / without", f"{r['grpo_budget_over_grpo']:.2f}", "", "")
        )
    if "mmzppo_over_trl" in r:
        rows.append(
            (
                "mmzppo GRPO step / TRL GRPOTrainer step",
                f"{r['mmzppo_over_trl']:.2f}",
                verdict("mmzppo_over_trl", r["mmzppo_over_trl"]),
                BEFORE["mmzppo_over_trl"],
            )
        )
        if "mmzppo_default_over_trl" in r:
            key = "mmzppo_default_over_trl"
            rows.append(("the same, both at default settings", f"{r[key]:.2f}", verdict(key, r[key]), BEFORE[key]))
    else:
        rows.append(
            (
                "mmzppo GRPO step / TRL GRPOTrainer step",
                f"skipped: TRL env not found ({res['trl']['problem']}; how to make it: {TRL_ENV_HELP})",
                verdict("mmzppo_over_trl", None),
                BEFORE["mmzppo_over_trl"],
            )
        )
    rows.append(
        (
            "HFRollout.generate / bare model.generate",
            f"{r['rollout_over_bare']:.3f}",
            verdict("rollout_over_bare", r["rollout_over_bare"]),
            BEFORE["rollout_over_bare"],
        )
    )
    for kind in ("image", "video"):
        key = f"{kind}_loader_over_rollout"
        rows.append(
            (
                f"{kind} loader samples/s (0 workers) / rollout consumption",
                f"{r[key]:.1f} ({m[f'loader/{kind}']:.1f} / {m[f'consume/{kind}']:.2f})",
                verdict(key, r[key]),
                BEFORE.get(key, ""),
            )
        )
    for kind in ("image", "video", "text"):
        if f"eval/{kind}" in m:
            rows.append((f"eval samples/s, synthetic {kind} (absolute)", f"{m[f'eval/{kind}']:.2f}", "", ""))
    if "peak_memory_gb" in r:
        mem = res["memory"]
        rows.append(
            (
                "peak memory of a tiny s ZPPO step",
                f"{r['peak_memory_gb']:.2f} GB ({mem['step_added_mb']:.0f} MB above the loaded model)",
                verdict("peak_memory_gb", r["peak_memory_gb"]),
                BEFORE["peak_memory_gb"],
            )
        )
    return rows


def report(res: dict) -> None:
    m = res["medians"]
    print()
    print(
        f"throughput, {res['date']}, torch threads {res['threads']}, {res['machine']}, load average "
        f"{res['load_average_at_start'][0]:.2f} at start / {res['load_average_at_end'][0]:.2f} at end, "
        f"{res['rounds']} counted round(s) after a warm-up, {res['measure_s']:.0f} s of rounds"
    )
    for k, v in res["settings"].items():
        print(f"  {k}: {v}")
    print("step times (median s):")
    for name in res["methods"] + res.get("budget_methods", []):
        phases = ", ".join(
            f"{k} {m[f'phase/{name}/{k}']:.2f}" for k in ("rollout", "teacher", "old_logprobs", "update")
        )
        print(f"  {name:12s} {m[f'step/{name}']:7.2f}  ({phases})")
    mm = (
        f"  mmzppo GRPO (text) {m['trl/mmzppo']:.2f}  (rollout {m['trl/mmzppo/rollout']:.2f}, old_logprobs "
        f"{m['trl/mmzppo/old_logprobs']:.2f}, update {m['trl/mmzppo/update']:.2f})"
    )
    print(mm)
    t = res["trl"]
    if "trl/trl" in m:
        print(
            f"  TRL GRPOTrainer    {m['trl/trl']:.2f}  (generate + score {m['trl/trl/generate+score']:.2f}; "
            f"TRL {t['settings']['trl']}, transformers {t['settings']['transformers']}, torch "
            f"{t['settings']['torch']}, {t['settings']['threads']} thread(s))"
        )
        print(
            f"  prompts token for token: {'identical' if t['prompt_ids_equal'] else 'DIFFERENT'}; TRL completion "
            f"lengths {sorted({n for ls in t['completion_lengths'] for n in ls})}"
        )
        print("  what differs between the two sides:")
        for d in t["differences"]:
            print(f"    - {d}")
    print(f"  rollout: framework {m['rollout/framework']:.3f} s, bare {m['rollout/bare']:.3f} s")
    print()
    rows = table(res)
    widths = [max(len(r[i]) for r in rows + [("ratio", "value", "target", "earlier")]) for i in range(4)]
    widths[1] = min(widths[1], 40)
    head = ("ratio", "value", "target", "earlier")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def markdown(res: dict) -> str:
    """The table as Markdown (for the README)."""
    lines = ["| ratio | this run | target | earlier |", "|---|---:|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table(res)]
    return "\n".join(lines)
