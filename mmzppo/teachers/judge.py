"""The judge of the training reward: the served teacher grades free-form answers.

Paper (spec sections 7-8): the 27B teacher also acts as judge, at temperature 0 with at most
512 new tokens, and only a strict JSON verdict counts (malformed = wrong). Here:

    RewardJudge(client).verdicts(questions) -> one Verdict per question, asked concurrently

* The prompt gives the question, the gold answer and the student's final (boxed) answer and
  asks for exactly ``{"correct": true}`` or ``{"correct": false}``. The reply must be that one
  JSON object (whitespace, and a thinking block before it, allowed): anything else is
  malformed, graded wrong and counted.
* A cache keyed by (question, gold, answer) holds every readable verdict, so a repeated
  answer is judged once per run; it is part of the run's state (checkpointed, restored on
  resume). Malformed verdicts are not cached (the next sight of the answer asks again).
* A request that fails after the client's retries (the judge down) gives a Verdict with
  ``error`` set; the caller applies `teacher_failure` (stop, or leave that group out).

One client for teacher and judge: `mmzppo.teachers.client.ChatClient`, with its servers,
least-loaded dispatch, per-server concurrency, timeouts and retries.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass

from mmzppo.teachers.client import ChatClient, ServerError

MAX_TOKENS = 512  # the paper's judge budget

PROMPT = """You are grading a student's final answer to a question against the reference answer.
Decide whether the student's answer means the same as the reference answer (equivalent forms,
units and wording are fine; a different value, a missing part or an extra claim is not).

Question:
{question}

Reference answer:
{gold}

Student's final answer:
{answer}

Reply with exactly one JSON object and nothing else: {{"correct": true}} or {{"correct": false}}"""


@dataclass(frozen=True)
class Question:
    """What the judge is asked about one answer (also the cache key)."""

    question: str
    gold: str
    answer: str


@dataclass
class Verdict:
    correct: bool | None  # None: malformed reply or no reply
    cached: bool = False
    malformed: bool = False
    error: str | None = None  # the judge could not be reached (after retries)


def parse_verdict(reply: str) -> bool | None:
    """True / False from a strict ``{"correct": <bool>}`` reply; None for anything else."""
    text = reply.rsplit("</think>", 1)[-1].strip()
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return None
    if isinstance(value, dict) and set(value) == {"correct"} and isinstance(value["correct"], bool):
        return value["correct"]
    return None


class RewardJudge:
    """Strict verdicts from a served judge, asked concurrently, cached per run (module docstring)."""

    def __init__(self, client: ChatClient, max_tokens: int = MAX_TOKENS):
        self.client, self.max_tokens = client, max_tokens
        self.cache: dict[Question, bool] = {}
        self.counts: Counter = Counter()  # asked, cached, malformed, failed, seconds (cumulative)

    def _ask(self, q: Question) -> tuple[str, float]:
        start = time.perf_counter()
        prompt = PROMPT.format(question=q.question, gold=q.gold, answer=q.answer)
        reply = self.client.ask(prompt, self.max_tokens)
        return reply, time.perf_counter() - start

    def verdicts(self, questions: list[Question]) -> list[Verdict]:
        """One verdict per question: from the cache, else from the judge (each distinct
        question asked once, all of them concurrently)."""
        todo = list(dict.fromkeys(q for q in questions if q not in self.cache))
        replies = self.client.map(self._ask, todo, return_errors=True) if todo else []
        fresh: dict[Question, Verdict] = {}
        for q, reply in zip(todo, replies):
            self.counts["asked"] += 1
            if isinstance(reply, ServerError):
                self.counts["failed"] += 1
                fresh[q] = Verdict(None, error=f"{reply.endpoint}: {reply.problem}")
                continue
            text, seconds = reply
            self.counts["seconds"] += seconds
            correct = parse_verdict(text)
            if correct is None:
                self.counts["malformed"] += 1
                fresh[q] = Verdict(None, malformed=True)
            else:
                self.cache[q] = correct
                fresh[q] = Verdict(correct)
        out, seen = [], set()
        for q in questions:
            first = q in fresh and q not in seen
            seen.add(q)
            if first or (q in fresh and fresh[q].correct is None):  # asked now (or its failure, again)
                out.append(fresh[q])
            else:  # in the cache before this batch, or a repeat of one judged in it
                self.counts["cached"] += 1
                out.append(Verdict(self.cache[q], cached=True))
        return out

    def state_dict(self) -> dict:
        return {"cache": [[q.question, q.gold, q.answer, v] for q, v in self.cache.items()]}

    def load_state_dict(self, state: dict) -> None:
        self.cache = {Question(q, g, a): bool(v) for q, g, a, v in state.get("cache", [])}
