"""What a build saw, dropped and kept: manifest.json and manifest.md beside the shards.

Per sub-dataset and side (Vero, MMFineReason): rows seen, rows dropped per reason (bad rows,
filters, "taken from Vero", "exact duplicate", "over cap") and rows kept; for every row seen,
`seen = kept + the drops`. Totals per reason and per tier, the seed and caps, the recipe's
hash, the processor, and everything found in the inputs that the build did not use:
excluded and unmapped Vero configs and MMFineReason sources, other splits, unreadable files
(--skip-bad-files), and the recipe's sub-datasets that the inputs do not hold. Nothing in it
depends on the time, the machine or the number of workers, so two builds compare equal.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from mmzppo.data.zppo77k.recipe import SIDES, Recipe
from mmzppo.data.zppo77k.sources import Plan

MAX_EXAMPLES = 5  # rows named per drop reason
NOT_DROPS = ("seen", "kept")


class Tally:
    """Counts gathered from the scan results and the selection."""

    def __init__(self, recipe: Recipe):
        self.counts = {s.name: {side: Counter() for side in SIDES} for s in recipe.subdatasets}
        self.unused: dict[str, Counter] = {side: Counter() for side in SIDES}
        self.examples: dict[str, list[str]] = defaultdict(list)

    def add_scan(self, side: str, result: dict) -> None:
        for name, counts in result["counts"].items():
            self.counts[name][side].update(counts)
        self.unused[side].update(result["unused"])
        for reason, where in result["examples"].items():
            self.examples[reason] += where[: MAX_EXAMPLES - len(self.examples[reason])]

    def count(self, name: str, side: str, reason: str) -> None:
        self.counts[name][side][reason] += 1


def _ordered(counts: Counter) -> dict[str, int]:
    """seen first, kept last, the drops by name between."""
    drops = sorted((r, n) for r, n in counts.items() if r not in NOT_DROPS and n)
    return {"seen": counts["seen"], **dict(drops), "kept": counts["kept"]}


def make_manifest(
    tally: Tally, plan: Plan, recipe: Recipe, processor: str | None, vero: str, mmfinereason: str
) -> dict:
    subs, tiers, drops = {}, {}, Counter()
    for sub in recipe.subdatasets:
        sides = {side: _ordered(c) for side, c in tally.counts[sub.name].items() if c["seen"]}
        for c in tally.counts[sub.name].values():
            drops.update({r: n for r, n in c.items() if r not in NOT_DROPS})
        kept = sum(c["kept"] for c in tally.counts[sub.name].values())
        seen = sum(c["seen"] for c in tally.counts[sub.name].values())
        subs[sub.name] = {"tier": sub.tier, "cap": recipe.caps[sub.tier], "seen": seen, "kept": kept, **sides}
        if sub.unconfirmed:
            subs[sub.name]["unconfirmed"] = sub.unconfirmed
        tier = tiers.setdefault(sub.tier, {"cap": recipe.caps[sub.tier], "subdatasets": 0, "seen": 0, "kept": 0})
        tier["subdatasets"] += seen > 0
        tier["seen"] += seen
        tier["kept"] += kept
    not_used = {side: dict(sorted(plan.not_used[side].items())) for side in SIDES}
    for side in SIDES:
        for name, rows in sorted(tally.unused[side].items()):
            status = recipe.classify(side, name) if not name.startswith("(") else "missing column source"
            not_used[side][name] = {"status": status, "rows": rows}
    missing = {
        s.name: {"vero": list(s.vero), "mmfinereason": list(s.mmfinereason), "unconfirmed": s.unconfirmed}
        for s in recipe.subdatasets
        if not subs[s.name]["seen"]
    }
    return {
        "dataset": "ZPPO-77K (arXiv:2606.18216, App. B.1 and D)",
        "recipe": {
            "path": recipe.path,
            "sha256": recipe.sha256,
            "seed": recipe.seed,
            "caps": recipe.caps,
            "filters": {
                "max_pass_rate": recipe.max_pass_rate,
                "max_answer_chars": recipe.max_answer_chars,
                "min_image_side": recipe.min_image_side,
                "max_prompt_tokens": recipe.max_prompt_tokens if processor else None,
            },
            "vero_split": recipe.vero_split,
            "vision": recipe.vision.to_dict(),
        },
        "processor": processor,
        "inputs": {"vero": vero, "mmfinereason": mmfinereason, "files": len(plan.files), "bad_files": plan.bad_files},
        "total": {"seen": sum(t["seen"] for t in tiers.values()), "kept": sum(t["kept"] for t in tiers.values())},
        "tiers": tiers,
        "drops": dict(sorted(drops.items())),
        "subdatasets": subs,
        "not_used": not_used,
        "not_found": missing,
        "examples": {r: tally.examples[r] for r in sorted(tally.examples)},
    }


def markdown(m: dict) -> str:
    """The manifest as tables a reader can scan."""
    r = m["recipe"]
    lines = [
        f"# {m['dataset']}",
        "",
        f"Kept **{m['total']['kept']:,}** of {m['total']['seen']:,} rows seen in the recipe's sub-datasets. "
        f"Seed {r['seed']}; caps {', '.join(f'{t} {c:,}' for t, c in r['caps'].items())}; recipe `{r['path']}` "
        f"(sha256 {r['sha256'][:12]}); processor `{m['processor']}`"
        + ("" if m["processor"] else " (no prompt-length filter: no --processor given)")
        + ".",
        "",
        "| tier | cap | sub-datasets found | seen | kept |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {t} | {v['cap']:,} | {v['subdatasets']} | {v['seen']:,} | {v['kept']:,} |"
            for t, v in m["tiers"].items()
        ),
        "",
        "## Drops by reason",
        "",
        "| reason | rows |",
        "|---|---:|",
        *(f"| `{reason}` | {n:,} |" for reason, n in m["drops"].items()),
        "",
        "## Per sub-dataset",
        "",
        "| sub-dataset | tier | side | seen | dropped (reason: rows) | kept |",
        "|---|---|---|---:|---|---:|",
    ]
    for name, sub in m["subdatasets"].items():
        for side in SIDES:
            if side in sub:
                c = sub[side]
                why = "; ".join(f"`{k}`: {v:,}" for k, v in c.items() if k not in NOT_DROPS) or "-"
                lines.append(f"| {name} | {sub['tier']} | {side} | {c['seen']:,} | {why} | {c['kept']:,} |")
    lines += [
        "",
        "## Found in the inputs, not used",
        "",
        "| side | config / source | why | rows |",
        "|---|---|---|---:|",
    ]
    for side, names in m["not_used"].items():
        lines += [f"| {side} | {n} | {v['status']} | {v['rows']:,} |" for n, v in names.items()]
    for bad in m["inputs"]["bad_files"]:
        lines.append(f"| - | `{bad['path']}` | unreadable file (skipped) | ? |")
    lines += ["", "## In the recipe, not found in the inputs", ""]
    lines += [
        f"- {n}: Vero {v['vero'] or '-'}, MMFineReason {v['mmfinereason'] or '-'}"
        + (f" (unconfirmed: {v['unconfirmed']})" if v["unconfirmed"] else "")
        for n, v in m["not_found"].items()
    ] or ["(none)"]
    return "\n".join(lines) + "\n"


def write_manifest(out: Path, tally: Tally, plan: Plan, recipe: Recipe, processor: str | None, **inputs) -> dict:
    manifest = make_manifest(tally, plan, recipe, processor, **inputs)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    (out / "manifest.md").write_text(markdown(manifest))
    return manifest
