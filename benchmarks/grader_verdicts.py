"""Do the grader's time limits change a verdict on real answers? Grade the same pairs twice.

    python benchmarks/grader_verdicts.py [--before 4c6539c^] [--benchdata ../shared/benchdata]

Builds (prediction, gold, answer type, choices) pairs from the real benchmark answers in
benchdata (MATH-500, MathVision, AIME25, the first 300 GSM8K, IMO-AnswerBench, the first 300
MMLU, TempCompass): every gold against itself in everyday variants (spacing, \\dfrac, \\text{},
degree and percent signs, units, commas, a sign flip, +1, a changed digit), against its
neighbours, and every option letter / option text of the choice items. Each pair is graded
by `mmzppo.grading.grader` as it is now and as it was at git revision `--before` (default: the
commit before the limits), and the verdicts are compared. Not a test (it needs the git
history and takes a minute); it prints the counts the reward module's docstring quotes.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_pairs(bench: Path) -> list[tuple[str, str, str, list | None]]:
    def rows(rel: str) -> list[dict]:
        return [json.loads(line) for line in (bench / rel).read_text(encoding="utf-8").splitlines() if line.strip()]

    golds = [r["answer"] for r in rows("llm/math500/test.jsonl")]
    golds += [r["answer"] for r in rows("vlm/mathvision/testmini.jsonl") if not r["options"]]
    golds += [r["answer"] for r in rows("llm/aime25/test.jsonl")]
    golds += [r["answer"].split("####")[-1].strip() for r in rows("llm/gsm8k/test.jsonl")[:300]]
    with open(bench / "llm/imo_answerbench/answerbench.csv", encoding="utf-8") as f:
        golds += [r["Short Answer"] for r in csv.DictReader(f)]
    pairs = []
    for i, g in enumerate(golds):
        variants = [
            g,
            f" {g} ",
            g.replace("\\frac", "\\dfrac"),
            f"\\text{{{g}}}",
            g + "^\\circ",
            g + "\\%",
            f"${g}$",
            g.replace(" ", ""),
            "x=" + g,
            g + " cm",
            "-" + g,
            g + "+1",
            g.replace("1", "7"),
            g.replace("x", "y"),
            f"({g})",
            f"{{{g}}}",
        ]
        try:
            v = float(g.replace(",", ""))
            half = int(v * 2) if v == int(v) else v * 2
            variants += [str(v), f"{v:.3f}", str(v + 1), f"{v:,}", str(v * 1.00001), f"\\frac{{{half}}}{{2}}"]
        except ValueError:
            pass
        pairs += [(p, g, "latex", None) for p in variants]
        pairs += [(golds[(i + j) % len(golds)], g, "latex", None) for j in (1, 2, 3)]
        pairs += [(g, g, "number", None), (g, g, "text", None)]
    mmlu = [{"options": r["choices"], "answer": str(r["answer"])} for r in rows("llm/mmlu/test.jsonl")[:300]]
    for r in rows("vlm/mathvision/testmini.jsonl") + mmlu + rows("video/tempcompass/test.jsonl"):
        options = r.get("options")
        if not options:
            continue
        for p in [
            "A",
            "B",
            "C",
            "D",
            "E",
            "(B)",
            "b",
            "Option C",
            "A.",
            "\\text{D}",
            *options,
            *map(str.lower, options),
        ]:
            pairs.append((p, r["answer"], "choice", options))
        pairs.append((r["answer"], r["answer"], "choice", None))
    for r in rows("video/tempcompass/test.jsonl"):
        for p in ["yes", "no", "Yes.", "true", r["answer"]]:
            pairs += [(p, r["answer"], "yesno", None), (p, r["answer"], "text", None)]
    return pairs


def grader_at(revision: str):
    """`mmzppo/reward.py` as it was at `revision`, imported under another name."""
    source = subprocess.run(
        ["git", "show", f"{revision}:mmzppo/reward.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="mmzppo-reward-")) / "reward_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("reward_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reward_before"] = module
    spec.loader.exec_module(module)
    return module


def verdicts(grader, pairs) -> tuple[list[bool], float]:
    start = time.perf_counter()
    return [grader.grade_answer(p, g, t, c) for p, g, t, c in pairs], time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="4c6539c^", help="git revision of the grader to compare with")
    parser.add_argument("--benchdata", type=Path, default=REPO.parent / "shared" / "benchdata")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from mmzppo.grading import grader as reward

    pairs = load_pairs(args.benchdata)
    old, t_old = verdicts(grader_at(args.before), pairs)
    new, t_new = verdicts(reward, pairs)
    changed = [(pair, a, b) for pair, a, b in zip(pairs, old, new) if a != b]
    print(
        f"{len(pairs)} pairs, {sum(old)} correct before ({t_old:.1f} s), {sum(new)} now ({t_new:.1f} s), "
        f"{len(changed)} verdicts changed"
    )
    for pair, a, b in changed[:50]:
        print(f"  {a} -> {b}: {pair}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
