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
    distributions(prompts, completions, top_k)  the top-k log-probs along given token
                              sequences (distillation), from vLLM's prompt log-probs

`teacher_endpoint` may list several servers of the same model (the paper's 16 teacher GPUs):
the client spreads the requests over them and routes around a server that is down
(`mmzppo.teachers.fleet`); `counts` holds the per-server counts beside the calls.

Distributions from a server are top-k only (vLLM returns at most `--max-logprobs`, 20 by
default, per position): the distillation losses then compare the two models on the teacher's
k tokens plus one tail bucket (`mmzppo.core.divergences.sparse_support`, an approximation).
The sequences are token ids: each prompt is rendered by the STUDENT's processor (its chat
template, one pad token per image or video; the served model must share the tokenizer,
checked at start-up by `check_vocabulary`), the completion's ids appended, and the media sent
beside them; the server expands the pads with its own processor and scores exactly the
student's tokens. This needs vLLM's token-in endpoint (`/inference/v1/generate`): serve the
teacher with `--enable-scale-out`. Three differences from a local teacher remain: the server
computes in its own precision (bf16 on CPU); its distribution is over the whole vocabulary,
where the local teacher's leaves out the vision control tokens the rollout suppresses (their
mass is about 5e-4 in the tests' teacher); and a video's timestamps, as the token-in endpoint
takes no frame timing (vLLM then assumes consecutive frames at 1 fps; chat requests send the
timing, `mmzppo.teachers.messages.video_timing`, when the server is started with
`--trust-request-mm-kwargs`; without it they go without, after one warning).

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
  (dropped by the hint method). The run goes on; when a server comes back, it rejoins
  (nothing is marked down for good).

Scoring tokens for distillation cannot skip: the loss reads the teacher's distribution at
every token of a micro-batch, so a sequence no server could score raises
`TeacherUnavailable` (counted in `failed`) whatever `failure` says.
"""

from __future__ import annotations

import warnings

import torch

from mmzppo.core.divergences import LOG_FLOOR
from mmzppo.data.sample import Sample
from mmzppo.data.vision import VisionSettings
from mmzppo.policy.encoding import chat_text
from mmzppo.policy.generation.base import Completion, SamplingParams
from mmzppo.prompting.builders import Prompt, plain
from mmzppo.prompting.compress import MAX_TOKENS, Compressor, truncate_candidates
from mmzppo.teachers.base import (
    HINT_MAX_TOKENS,
    THINK_BLOCK,
    TokenDistributions,
    enforce_summary,
    hint_request,
    rewrite_prompt,
)
from mmzppo.teachers.client import ChatClient, ServerError
from mmzppo.teachers.messages import openai_messages

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
    processor: the student's processor (or tokenizer), which renders prompts to token ids for
        `distributions`; only distillation needs it.
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
        processor=None,
    ):
        if failure not in FAILURES:
            raise ValueError(f"teacher_failure: {failure!r} is not one of {', '.join(FAILURES)}")
        self.client, self.vision, self.sampling = client, vision, sampling
        self.compress_with_model, self.compress_max_tokens = compress_with_model, compress_max_tokens
        self.fallback, self.failure, self.processor = fallback, failure, processor
        self.send_timing = True  # a video's frame timing in `media_io_kwargs` (off once refused)
        self.counts = client.stats  # calls by kind, and the client's per-server counts

    def check_vocabulary(self, tokenizer) -> None:
        """Distillation compares distributions token by token: the served model must tokenize
        like the student (compared on a probe text), and the server must score token ids
        (vLLM's `--enable-scale-out`). Raises TeacherUnavailable naming the endpoint."""
        probe = (
            "<|im_start|>user\nWhat is 12 + 7? Put it in \\boxed{}.<|im_end|>\n<|im_start|>assistant\n19 \\boxed{19}"
        )
        ids = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
        try:
            served = self.client.tokenize(probe)
            self.client.prompt_logprobs(ids, [], 1, 1)
        except ServerError as e:
            raise TeacherUnavailable(
                f"teacher server {e.endpoint} cannot score token ids for distillation: {e.problem} "
                "(serve the teacher with `vllm serve ... --enable-scale-out`)"
            ) from e
        if served != ids:
            raise TeacherUnavailable(
                f"teacher server {self.client.url} tokenizes differently from the student ({served[:12]} against "
                f"{ids[:12]} on a probe text); distillation needs one vocabulary (ZPPO, hint and prefix need none)"
            )

    def _failed(self, error: ServerError, what: str) -> None:
        if self.failure == "stop":
            raise TeacherUnavailable(
                f"teacher server {self.client.url} failed while {what}: {error.problem} "
                "(teacher_failure: stop; set teacher_failure=skip to go on without it)"
            ) from error
        self.counts["failed"] += 1

    def _chat(self, prompt: Prompt, *, n: int, max_tokens: int, temperature: float, top_p: float = 1.0) -> list[dict]:
        extra = {"continue_final_message": True, "add_generation_prompt": False} if prompt.continue_final else {}
        video: dict = {}
        messages = openai_messages(prompt, self.vision, video)
        options = dict(max_tokens=max_tokens, temperature=temperature, top_p=top_p, n=n)
        if video and self.send_timing:  # the frames' timing, so the server writes the student's timestamps
            try:
                return self.client.chat(messages, **options, extra={**extra, "media_io_kwargs": {"video": video}})
            except ServerError as e:  # vLLM takes it only with --trust-request-mm-kwargs
                if "media_io_kwargs" not in e.problem:
                    raise
                self.send_timing = False
                warnings.warn(
                    f"teacher server {self.client.url} refuses the video frames' timing (start it with "
                    "--trust-request-mm-kwargs); video prompts go without it: the server assumes 1 fps",
                    stacklevel=2,
                )
        return self.client.chat(messages, **options, extra=extra)

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

    def distributions(self, prompts: list[Prompt], completions: list[list[int]], top_k: int = 0) -> TokenDistributions:
        """The teacher's top-k log-probs along given token sequences (see the module docstring):
        `logprobs` / `indices` its k largest at each position, `token_logprobs` the sequence's
        own token's. A server gives no full distribution: top_k 0 (asked by the sampled-token
        reverse KL, which reads only `token_logprobs`) is served as k = 1."""
        if self.processor is None:
            raise ValueError("ServerTeacher.distributions needs the student's processor (processor=...)")
        k = max(1, top_k)
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.counts["scored"] += len(prompts)

        def one(pair):
            prompt, completion = pair
            if not completion:
                return []
            ids = tokenizer(chat_text(self.processor, prompt, self.vision), add_special_tokens=False)["input_ids"]
            messages = openai_messages(prompt, self.vision)
            media = [p for m in messages if isinstance(m["content"], list) for p in m["content"] if p["type"] != "text"]
            return self.client.prompt_logprobs(list(ids) + list(completion), media, len(completion), k)

        tables = self.client.map(one, list(zip(prompts, completions)), return_errors=True)
        b, width = len(completions), max((len(c) for c in completions), default=0)
        token_logprobs = torch.zeros(b, width)
        values = torch.full((b, width, k), LOG_FLOOR)  # an empty slot: no mass
        indices = torch.zeros(b, width, k, dtype=torch.long)
        mask = torch.zeros(b, width, dtype=torch.bool)
        errors = [t for t in tables if isinstance(t, ServerError)]
        if errors:  # no partial distributions: the loss reads the teacher at every token
            self.counts["failed"] += len(errors)
            raise TeacherUnavailable(
                f"teacher server {self.client.url} failed while scoring tokens: {errors[0].problem} "
                "(distillation needs the teacher at every token, so it stops whatever teacher_failure says)"
            ) from errors[0]
        for i, (table, completion) in enumerate(zip(tables, completions)):
            for j, (token, row) in enumerate(zip(completion, table)):
                token_logprobs[i, j] = row[token][0]
                for q, (tok, (logprob, _)) in enumerate(sorted(row.items(), key=lambda kv: kv[1][1])[:k]):
                    indices[i, j, q], values[i, j, q] = tok, logprob
            mask[i, : len(completion)] = True
        return TokenDistributions(token_logprobs, values, indices, mask)
