"""Scoring saved responses: rule-based first, ANLS / OCR matching, an optional LLM judge.

Every per-sample record (one line of `<bench>.samples.jsonl`) carries what scoring needs
(response, gold, answer type, options, accepted answers), so scoring never needs the data
or the model and `--rescore` can redo it.

* `accuracy`: `mmzppo.grading.grader.grade` on the last \\boxed{} (math equivalence, option letter or
  text, yes/no, numeric tolerance), exactly the training reward.
* `anls`: Average Normalized Levenshtein Similarity (InfographicVQA / DocVQA): per gold
  1 - NL when NL < 0.5 else 0, the best over the accepted answers.
* `ocr`: OCRBench-style matching: a short gold (< 5 words) must appear in the answer (case-
  insensitive), a longer gold is scored by ANLS. (OCRBench v2's official scorer has more
  task-specific metrics, TEDS and IoU among them; see its YAML.)
* `and_or` (MM-Vet's rule fallback): golds written "a<OR>b" (any alternative) and
  "a<AND>b" (every part): the score is the best alternative's fraction of parts found in the
  boxed answer (MM-Vet's own judge gives 0.5 for one of two parts).
* `judge_only`: no rule can grade it (MultiChallenge); without a judge it has no score.
* judge: an OpenAI-compatible /v1/chat/completions endpoint grades free-form answers with
  the benchmark's judge prompt, through `mmzppo.teachers.client.ChatClient` (the served teacher's
  client: bounded concurrency, timeouts, retries with backoff). A judge that cannot be
  reached is marked down for the rest of the run; its benchmarks keep their rule-only
  score, flagged as not judged.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import jinja2

from mmzppo.data.formats import mmvet_golds
from mmzppo.eval.suites import Benchmark
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.grading.grader import grade, grade_answer
from mmzppo.teachers.client import ChatClient, ServerError

# --------------------------------------------------------------------------- ANLS and OCR matching


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), two rows of DP."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _norm(s: str) -> str:
    return " ".join(str(s).lower().split())


def anls(prediction: str, golds: list[str], threshold: float = 0.5) -> float:
    """ANLS of one answer: max over golds of 1 - NL(pred, gold), 0 where NL >= threshold."""
    pred, best = _norm(prediction), 0.0
    for gold in golds:
        gold = _norm(gold)
        longest = max(len(pred), len(gold))
        nl = levenshtein(pred, gold) / longest if longest else 0.0
        best = max(best, 1.0 - nl if nl < threshold else 0.0)
    return best


def ocr_match(prediction: str, golds: list[str]) -> float:
    """OCRBench-style: a short gold contained in the answer scores 1; a long one scores ANLS."""
    pred, best = _norm(prediction), 0.0
    for gold in golds:
        if len(str(gold).split()) < 5:
            best = max(best, 1.0 if _norm(gold) and _norm(gold) in pred else 0.0)
        else:
            best = max(best, anls(prediction, [gold]))
    return best


# --------------------------------------------------------------------------- <OR> / <AND> golds

_NUMBER_TOKEN = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?!\w|\.\d)")  # whole numbers only
_PIECES = re.compile(r"\s*(?:[,;\n]|\band\b|\bor\b|&)\s*", re.I)


def part_found(answer: str, part: str) -> bool:
    """Whether one required part of a gold is in the answer: the whole answer or one of its
    comma / "and" / "or" separated pieces equals it (the text grader: case, spacing, \\text{},
    numbers), or, for a number, a number written in the answer equals it, or, for text, it
    appears in the answer as whole words. Numbers are never matched inside other numbers
    ("-1" is not in "-15")."""
    pieces = [answer, *(p for p in _PIECES.split(answer) if p)]
    if any(grade_answer(p, part, "text") for p in pieces):
        return True
    if re.fullmatch(r"[-+]?\d+(?:\.\d+)?", part.strip()):
        return any(grade_answer(n, part, "number") for n in _NUMBER_TOKEN.findall(answer))
    text, wanted = _norm(answer), _norm(part)
    left = r"(?<!\w)" if wanted[:1].isalnum() else ""
    right = r"(?!\w)" if wanted[-1:].isalnum() else ""
    return bool(wanted) and re.search(left + re.escape(wanted) + right, text) is not None


def and_or_score(answer: str, gold: str) -> float:
    """Score in [0, 1] of an answer against an MM-Vet style gold: the best `<OR>` alternative's
    fraction of `<AND>` parts found by `part_found`."""
    alternatives = mmvet_golds(gold)
    return max((sum(part_found(answer, p) for p in alt) / len(alt) for alt in alternatives), default=0.0)


# --------------------------------------------------------------------------- rule scoring


def rule_score(record: dict[str, Any], bench: Benchmark) -> tuple[float | None, str | None, str]:
    """(score in [0, 1] or None, parsed answer, reason) of one saved response, without a judge."""
    if record.get("error"):
        return 0.0, None, "failed"
    response = record.get("response") or ""
    if bench.metric == "judge_only":
        return None, None, "needs_judge"
    golds = record.get("golds") or [record["gold"]]
    if bench.metric == "and_or":
        parsed = extract_last_boxed(response)
        if parsed is None:
            return 0.0, None, "no_boxed"
        score = max(and_or_score(parsed, g) for g in golds)
        return score, parsed, "correct" if score >= 1.0 else "partial" if score > 0 else "wrong"
    if bench.metric in ("anls", "ocr"):
        parsed = extract_last_boxed(response)
        if parsed is None:
            return 0.0, None, "no_boxed"
        score = anls(parsed, golds) if bench.metric == "anls" else ocr_match(parsed, golds)
        return score, parsed, "correct" if score >= 1.0 else "partial" if score > 0 else "wrong"
    best = None
    for gold in golds:
        g = grade(response, gold, record["answer_type"], record.get("choices"))
        if best is None or g.reward > best.reward:
            best = g
    return best.reward, best.parsed, best.reason


# --------------------------------------------------------------------------- judge


class JudgeUnavailable(RuntimeError):
    """The judge endpoint could not be reached or answered with an error."""


class Judge:
    """An LLM judge behind an OpenAI-compatible chat completions endpoint, spoken to through
    `mmzppo.teachers.client.ChatClient`: the served teacher's client (one client, not two), with its
    bounded concurrency (`workers`), per-request timeout and retries with backoff.

    url: the server ("http://host:8000", ".../v1" or the full ".../v1/chat/completions").
    A request still failing after its retries marks the judge down (`down` holds why), so a
    dead endpoint costs one bounded wait per run, not one per sample.
    """

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        workers: int = 8,
        max_tokens: int = 1024,
        retries: int = 2,
        client: ChatClient | None = None,
    ):
        self.client = client or ChatClient(
            url, model, concurrency=workers, timeout=timeout, retries=retries, api_key=api_key
        )
        self.url = self.client.url + "/chat/completions"
        self.model, self.max_tokens = model, max_tokens
        self.down: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"url": self.url, "model": self.model}

    def ask(self, prompt: str) -> str:
        """The judge's reply to one user message (temperature 0)."""
        if self.down:
            raise JudgeUnavailable(self.down)
        try:
            return self.client.ask(prompt, self.max_tokens)
        except ServerError as e:
            self.down = f"judge {self.url} failed: {e.problem}"
            raise JudgeUnavailable(self.down) from e


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def final_text(response: str) -> str:
    """What the judge reads: the response after the thinking block, when there is one."""
    return response.rsplit("</think>", 1)[-1].strip() or response.strip()


def judge_prompt(bench: Benchmark, record: dict[str, Any]) -> str:
    golds = record.get("golds") or [record["gold"]]
    return _ENV.from_string(bench.judge_prompt).render(
        question=record.get("question", ""),
        gold=" <OR> ".join(map(str, golds)),
        response=final_text(record.get("response") or ""),
        criteria=record.get("criteria") or "",
    )


def parse_verdict(bench: Benchmark, reply: str, gold: str) -> float | None:
    """The judge's score in [0, 1] from its reply, or None when it cannot be read."""
    if bench.judge_output == "score":  # MM-Vet: a correctness value 0.0 .. 1.0
        m = re.search(r"(?<![\d.])(0(?:\.\d+)?|1(?:\.0+)?)(?![\d.])", reply)
        return float(m[1]) if m else None
    if bench.judge_output == "yes_no":
        found = re.findall(r"correct\s*:\s*\**\s*(yes|no)\b", reply, re.I) or re.findall(r"\b(yes|no)\b", reply, re.I)
        return (1.0 if found[-1].lower() == "yes" else 0.0) if found else None
    found = re.findall(r"\b(YES|NO)\b", reply)  # criteria: the verdict must equal the expected one
    return (1.0 if found[-1] == gold.strip().upper() else 0.0) if found else None


def judge_records(bench: Benchmark, records: list[dict[str, Any]], judge: Judge) -> None:
    """Add `judge` = {"score", "reply"} to every generated record; raises JudgeUnavailable."""
    todo = [r for r in records if not r.get("error")]

    def one(record):
        reply = judge.ask(judge_prompt(bench, record))
        return {"model": judge.model, "score": parse_verdict(bench, reply, str(record["gold"])), "reply": reply[-2000:]}

    verdicts = judge.client.map(one, todo)  # at most `workers` requests in flight
    for record, verdict in zip(todo, verdicts):
        record["judge"] = verdict


# --------------------------------------------------------------------------- one benchmark


def worst_case(records: list[dict], scores: list[float]) -> float:
    """DynaMath worst-case accuracy: a question counts only if every variant of it is correct."""
    groups: dict[str, list[float]] = defaultdict(list)
    for record, score in zip(records, scores):
        groups[str(record.get("group") or record["uid"])].append(score)
    return sum(min(v) for v in groups.values()) / len(groups) if groups else 0.0


# benchmark scores other than the mean of per-item scores (the YAML's `aggregate`)
AGGREGATES: dict[str, Callable[[list[dict], list[float]], float]] = {"worst_case": worst_case}


def score_records(bench: Benchmark, records: list[dict[str, Any]], judge: Judge | None = None) -> dict[str, Any]:
    """Grade every record in place (parsed, score, correct, reason; judge verdicts) and return
    the benchmark's result: score (percent), n, n_failed, judged, ..."""
    for record in records:
        score, parsed, reason = rule_score(record, bench)
        record.update(parsed=parsed, rule_score=score, reason=reason)
        record.pop("judge", None)
    judged, judge_error = False, None
    if bench.judge and judge is not None:
        try:
            judge_records(bench, records, judge)
            judged = True
        except JudgeUnavailable as e:
            judge_error = str(e)
            for record in records:
                record.pop("judge", None)
    elif bench.judge:
        judge_error = "no judge given (--judge URL --judge-model NAME)"
    for record in records:
        verdict = (record.get("judge") or {}).get("score")
        record["score"] = (verdict if verdict is not None else 0.0) if "judge" in record else record["rule_score"]
        record["correct"] = (
            None if record["score"] is None else record["score"] >= (0.5 if bench.metric in ("anls", "ocr") else 1.0)
        )
    scores = [r["score"] for r in records]
    n, n_failed = len(records), sum(1 for r in records if r.get("error"))
    failures: dict[str, int] = {}
    for r in records:
        if r.get("error"):
            key = r.get("failure") or r["error"][:100]
            failures[key] = failures.get(key, 0) + 1
    if n == 0 or any(s is None for s in scores):
        value = None
    else:
        value = AGGREGATES[bench.aggregate](records, scores) if bench.aggregate != "mean" else sum(scores) / n
    result = {
        "score": None if value is None else round(100.0 * value, 4),
        "n": n,
        "total_score": None if value is None else round(sum(scores), 6),
        "n_failed": n_failed,
        "failures": failures,
        "n_truncated": sum(1 for r in records if r.get("finished") is False),
        "n_unparsed_judge": sum(1 for r in records if "judge" in r and r["judge"]["score"] is None),
        "metric": bench.metric + ("" if bench.aggregate == "mean" else f" ({bench.aggregate})"),
        "judge_required": bench.judge,
        "judged": judged,
        "judge": judge.describe() if judged else None,
        "judge_error": judge_error,
    }
    if bench.aggregate != "mean" and value is not None:
        result["mean_accuracy"] = round(100.0 * sum(scores) / n, 4)
    if judged:  # keep the rule-only score beside the judged one
        rule = [r["rule_score"] for r in records]
        result["rule_only_score"] = None if any(s is None for s in rule) else round(100.0 * sum(rule) / n, 4)
    return result
