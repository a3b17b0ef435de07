"""What every teacher does, and the requests a model teacher is sent.

ZPPO (paper, Algorithm 1, step 4) asks the teacher for G_T = 4 fresh responses to every
hard question on every visit, and (section 3) has it rewrite every candidate, teacher's
and student's alike, into a short summary (at most 5 lines / 512 tokens) that keeps the
essential steps and the final \\boxed{} answer. The baselines ask more of it: an
answer-free hint (Alg. 5), a correct answer to start from (Alg. 6), and its next-token
distributions along a sequence (distillation, Alg. 2-3). A `Teacher` does those things:

    answer(samples, n)              -> n `Completion`s per question (text; token ids if sampled)
    compress(responses)             -> one summary per response, compressed together (a `Compressor`)
    write_hints(samples, answers)   -> one answer-free hint per (question, correct answer)
    distributions(prompts, completions, top_k) -> `TokenDistributions` (distillation teachers only)

The caller grades the teacher's answers with the same reward as the student's
(`mmzppo.grading.grade` against the gold answer); only correct ones are used, and a
question whose teacher has no correct answer gets no BCQ, hint or prefix. ZPPO, hint and
prefix pass the teacher's answers to the student as TEXT, so the teacher may use any
tokenizer; the distillation methods compare distributions token by token and need the
student's tokenizer (checked at start-up by the trainer).

The kinds: `local.LocalTeacher` (a transformers model), `text.ReferenceTeacher` (the
dataset's worked solutions) and `text.PrecomputedTeacher` (answers stored in the shards),
`served.ServerTeacher` (an OpenAI-compatible server).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from mmzppo.data.sample import Sample
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.policy.generation.base import Completion
from mmzppo.policy.logprobs import HeadStates
from mmzppo.prompting.builders import Prompt, question_text, user_message
from mmzppo.prompting.compress import MAX_LINES

HINT_MAX_TOKENS = 256

THINK_BLOCK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)

REWRITE_INSTRUCTION = (
    "Rewrite the response below into at most 5 lines. Keep only the essential reasoning steps "
    "and end with its final answer in \\boxed{{}}, unchanged. Do not solve the problem again "
    "and do not say whether the response is correct.\n\n<response>\n{response}\n</response>"
)

# Our wording of the hint request (the paper's Alg. 5 says only "an answer-free hint").
HINT_INSTRUCTION = (
    "{question}\n\nA correct solution of this problem:\n<solution>\n{solution}\n</solution>\n\n"
    "Write a short hint, at most three sentences, that points a student to the key idea of this "
    "solution. Do not state the final answer or any number that gives it away, and do not use \\boxed{{}}."
)


@dataclass
class TokenDistributions:
    """A teacher's next-token distributions along B completions, right padded to T tokens
    (as `mmzppo.policy.logprobs`)."""

    token_logprobs: torch.Tensor  # (B, T) log T(y_t) of each completion token
    logprobs: torch.Tensor | None  # (B, T, k) the top-k log-probs; None = full vocabulary (`head`)
    indices: torch.Tensor | None  # (B, T, k) token ids of the top-k log-probs; None = full vocabulary
    mask: torch.Tensor  # (B, T) True on real completion tokens
    head: HeadStates | None = None  # full vocabulary: the distributions at the mask's positions, by chunk


@runtime_checkable
class Teacher(Protocol):
    counts: Counter  # calls made, by kind ("sampled", "rewrites", "hints", "scored", "failed")

    def answer(self, samples: list[Sample], n: int) -> list[list[Completion]]:
        """`n` answers to each question's plain prompt (fewer, possibly none, if the teacher
        has none)."""
        ...

    def compress(self, responses: list[str]) -> list[str]:
        """One summary per response, compressed together (same procedure for all)."""
        ...

    def write_hints(self, samples: list[Sample], answers: list[str]) -> list[str]:
        """One answer-free hint per question, written from its correct answer."""
        ...


def enforce_summary(summary: str, original: str, max_lines: int = MAX_LINES) -> str:
    """Make a model-written summary obey the rules whatever the model wrote: at most
    `max_lines` non-empty lines, ending with the ORIGINAL response's final \\boxed{} answer.

    A rewrite must never change which answer a candidate gives (its correct/wrong label
    depends on it), so a summary whose last boxed answer differs, or that has none, keeps
    its first lines and gets the original answer as its last line.
    """
    answer = extract_last_boxed(original)
    summary = THINK_BLOCK.sub("", summary)  # a thinking teacher's reasoning about the rewrite
    lines = [ln.rstrip() for ln in summary.strip().splitlines() if ln.strip()]
    if answer is None:
        return "\n".join(lines[:max_lines]) or "(empty response)"
    if extract_last_boxed("\n".join(lines[:max_lines])) == answer and len(lines) <= max_lines:
        return "\n".join(lines)
    body = [ln for ln in lines if "\\boxed" not in ln][: max_lines - 1]
    return "\n".join(body + [f"Final answer: \\boxed{{{answer}}}"])


def hint_request(sample: Sample, answer: str) -> Prompt:
    """The prompt asking the teacher for a hint: the question with its media, and the answer."""
    text = HINT_INSTRUCTION.format(question=question_text(sample), solution=answer.strip())
    return Prompt(uid=sample.uid, kind="plain", messages=[user_message(sample, text)])


def rewrite_prompt(response: str, index: int = 0) -> Prompt:
    """The text-only prompt asking the teacher to compress one response."""
    text = REWRITE_INSTRUCTION.format(response=response.strip())
    message = {"role": "user", "content": [{"type": "text", "text": text}]}
    return Prompt(uid=f"compress-{index}", kind="plain", messages=[message])
