"""The teacher behind an OpenAI-compatible server (`teacher_kind: server`).

The paper's teacher is Qwen3.5-27B (FP8); nobody colocates it with a 0.8B student's trainer.
In real use it runs as `vllm serve Qwen/Qwen3.5-27B-FP8 ...` on its own GPUs, and
`ServerTeacher` does through `mmzppo.teachers.client.ChatClient` (bounded concurrency, timeouts,
retries with backoff) what `LocalTeacher` does with a local model:

    answer(samples, n)        n fresh answers to each question's plain prompt (one request
                              with `n` choices; the run's temperature / top-p / answer budget)
    compress(responses)       the paper's candidate rewrite: `REWRITE_INSTRUCTION`, greedy,
                              <= 512 tokens, then `enforce_summary` (<= 5 lines, the original
                              final answer kept)
    write_hints(samples, answers)  `HINT_INSTRUCTION` with the question's media, greedy

It gives no distributions: the distillation methods refuse a served teacher at start-up.

Images and video go with the prompt, loaded under the run's `VisionSettings` (the teacher
then sees the pixels the student sees; its server may resize them again to its own model's
budgets). The teacher's answers are text: the student's prompts carry them as text, so
token ids are not asked for (a Completion with no token ids, as the reference teacher's).

When the server cannot be reached, times out or answers garbage after the retries
(`failure`):

* "stop": raise `TeacherUnavailable`, whose message names the endpoint (the run stops);
* "skip": that question's teacher part is left out and counted in `counts["failed"]`
  (`teacher/failed` in the metrics): no answers (so no BCQ, hint or prefix for it), the
  deterministic fallback compression for the candidates of that prompt (every candidate of
  one prompt is compressed the same way, so length still says nothing), an empty hint
  (dropped by the hint method). The run goes on; when the server comes back, the next call
  uses it again (nothing is marked down for good).
"""

from __future__ import annotations

from collections import Counter

from mmzppo.data.sample import Sample
from mmzppo.data.vision import VisionSettings
from mmzppo.policy.generation.base import Completion, SamplingParams
from mmzppo.prompting.builders import Prompt, plain
from mmzppo.prompting.compress import MAX_TOKENS, Compressor, truncate_candidates
from mmzppo.teachers.base import (
    HINT_MAX_TOKENS,
    THINK_BLOCK,
    enforce_summary,
    hint_request,
    rewrite_prompt,
)
from mmzppo.teachers.client import ChatClient, ServerError, openai_messages

FAILURES = ("stop", "skip")


class TeacherUnavailable(RuntimeError):
    """The served teacher failed and the run is configured to stop; names the endpoint."""


class ServerTeacher:
    """A `Teacher` behind an OpenAI-compatible endpoint (see the module docstring).

    client: the connection (`ChatClient`; shared with the judge if both are used).
    vision: the run's VisionSettings for the prompts' media (None: send text only).
    sampling: the run's training sampling (temperature, top-p, max new tokens).
    compress_with_model: True = the server rewrites candidates (the paper); False = `fallback`.
    failure: "stop" or "skip" (see the module docstring).
    """

    def __init__(
        self,
        client: ChatClient,
        vision: VisionSettings | None,
        sampling: SamplingParams = SamplingParams(),
        *,
        compress_with_model: bool = True,
        compress_max_tokens: int = MAX_TOKENS,
        fallback: Compressor = truncate_candidates,
        failure: str = "stop",
    ):
        if failure not in FAILURES:
            raise ValueError(f"teacher_failure: {failure!r} is not one of {', '.join(FAILURES)}")
        self.client, self.vision, self.sampling = client, vision, sampling
        self.compress_with_model, self.compress_max_tokens = compress_with_model, compress_max_tokens
        self.fallback, self.failure = fallback, failure
        self.counts: Counter = Counter()

    def _failed(self, error: ServerError, what: str) -> None:
        if self.failure == "stop":
            raise TeacherUnavailable(
                f"teacher server {self.client.url} failed while {what}: {error.problem} "
                "(teacher_failure: stop; set teacher_failure=skip to go on without it)"
            ) from error
        self.counts["failed"] += 1

    def _chat(self, prompt: Prompt, *, n: int, max_tokens: int, temperature: float, top_p: float = 1.0) -> list[dict]:
        extra = {"continue_final_message": True, "add_generation_prompt": False} if prompt.continue_final else None
        return self.client.chat(
            openai_messages(prompt, self.vision),
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            n=n,
            extra=extra,
        )

    def answer(self, samples: list[Sample], n: int) -> list[list[Completion]]:
        """`n` fresh answers per question; [] for a question whose request failed (with "skip")."""
        prompts = [plain(s) for s in samples]
        self.counts["sampled"] += len(prompts) * n
        s = self.sampling

        def one(p):
            return self._chat(p, n=n, max_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p)

        out = []
        for result in self.client.map(one, prompts, return_errors=True):
            if isinstance(result, ServerError):
                self._failed(result, "sampling answers")
                out.append([])
            else:
                out.append([Completion([], [], c["text"], c["finish_reason"] == "stop") for c in result])
        return out

    def compress(self, responses: list[str]) -> list[str]:
        if not self.compress_with_model or not responses:
            return self.fallback(responses)
        self.counts["rewrites"] += len(responses)
        prompts = [rewrite_prompt(r, i) for i, r in enumerate(responses)]
        replies = self.client.map(
            lambda p: self._chat(p, n=1, max_tokens=self.compress_max_tokens, temperature=0.0),
            prompts,
            return_errors=True,
        )
        errors = [r for r in replies if isinstance(r, ServerError)]
        if errors:  # one prompt's candidates are all compressed the same way
            self._failed(errors[0], "rewriting candidates")
            return self.fallback(responses)
        return [enforce_summary(r[0]["text"], original) for r, original in zip(replies, responses)]

    def write_hints(self, samples: list[Sample], answers: list[str]) -> list[str]:
        self.counts["hints"] += len(samples)
        prompts = [hint_request(s, a) for s, a in zip(samples, answers)]
        replies = self.client.map(
            lambda p: self._chat(p, n=1, max_tokens=HINT_MAX_TOKENS, temperature=0.0), prompts, return_errors=True
        )
        hints = []
        for r in replies:
            if isinstance(r, ServerError):
                self._failed(r, "writing a hint")
                hints.append("")  # the hint method drops an empty hint
            else:
                hints.append(THINK_BLOCK.sub("", r[0]["text"]).strip())
        return hints
