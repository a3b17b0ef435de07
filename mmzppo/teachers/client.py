"""One client for OpenAI-compatible servers: the served teacher and the evaluation judge.

In the paper's deployment the teacher (Qwen3.5-27B-FP8) runs on its own GPUs behind
`vllm serve`; the student's trainer talks to it over HTTP. `ChatClient` is that connection,
and the only one the project has (`mmzppo.teachers.served.ServerTeacher` samples, rewrites
candidates and writes hints through it; `mmzppo.eval.metrics.Judge` grades through it):

* bounded concurrency: one thread pool of `concurrency` workers per client, so a step with
  96 hard questions x G_T answers never opens more than that many requests at once;
* every request has a timeout, and a call as a whole a deadline (`timeout` x attempts plus
  the backoff), so a dead or stalled server costs bounded time: it never hangs;
* retries with exponential backoff (and jitter) on what can pass: connection refused or
  reset, timeouts, HTTP 429 and 5xx, and garbage (a body that is not the JSON an
  OpenAI-compatible server returns). A 4xx other than 429 is our request's fault and is
  raised at once with the server's message;
* every failure is a `ServerError` whose message names the endpoint, so the configured
  failure behaviour (`teacher_failure`: stop with that message, or skip and count) has
  something to say.

Media are sent the way vLLM's server accepts them: an image as a PNG data URL (lossless, so
the server sees the pixels `mmzppo.data.media.load_media` produced under the run's
`VisionSettings`), a video as its sampled frames, one JPEG each, in a `video/jpeg` data URL
(vLLM's frame-list form; quality 95). The server's own processor may resize them again to
its model's budgets: a served teacher is a different model, with its own settings.

urllib only (no SDK): the client must work in the base install, where no HTTP library
beyond the standard one is declared.
"""

from __future__ import annotations

import base64
import io
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


class ServerError(RuntimeError):
    """A request to an OpenAI-compatible server failed for good; names the endpoint."""

    def __init__(self, endpoint: str, problem: str, retryable: bool = True):
        self.endpoint, self.problem, self.retryable = endpoint, problem, retryable
        super().__init__(f"server {endpoint}: {problem}")


def base_url(url: str) -> str:
    """'http://host:8000', '.../v1' or '.../v1/chat/completions' -> 'http://host:8000/v1'."""
    url = url.rstrip("/")
    for tail in ("/chat/completions", "/completions", "/models"):
        if url.endswith(tail):
            url = url[: -len(tail)]
    return url if url.endswith("/v1") else url + "/v1"


@dataclass
class RetryPolicy:
    """attempts = retries + 1; the wait before retry k (1-based) is backoff * 2**(k-1),
    at most max_backoff, with up to 25% jitter."""

    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0

    def wait(self, attempt: int) -> float:
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return delay * (1.0 + 0.25 * random.random())


class ChatClient:
    """An OpenAI-compatible endpoint (`/v1/chat/completions`, `/v1/completions`, `/v1/models`).

    url: the server ("http://127.0.0.1:8000", ".../v1" or a full endpoint URL).
    model: the served model name to send; None = the first one `/v1/models` lists.
    concurrency: requests in flight at most (a thread pool of that size).
    timeout: seconds per request; retries: further attempts after a failure that may pass.
    api_key: sent as a bearer token when given.
    """

    def __init__(
        self,
        url: str,
        model: str | None = None,
        *,
        concurrency: int = 8,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 0.5,
        api_key: str | None = None,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.url = base_url(url)
        self._model = model
        self.concurrency, self.timeout, self.api_key = concurrency, timeout, api_key
        self.retry = RetryPolicy(retries, backoff)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="chat-client")
        self.requests = 0  # HTTP requests sent (retries included)

    # ----------------------------------------------------------------- plumbing

    def _post_or_get(self, path: str, body: dict | None) -> dict:
        """One HTTP request; raises ServerError (retryable or not)."""
        endpoint = f"{self.url}{path}"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(endpoint, data=data, headers=headers, method="GET" if body is None else "POST")
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:500].decode(errors="replace")
            retryable = e.code == 429 or e.code >= 500
            raise ServerError(endpoint, f"HTTP {e.code}: {detail}", retryable) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServerError(endpoint, f"unreachable ({type(e).__name__}: {reason})") from None
        try:
            out = json.loads(raw.decode())
        except (UnicodeDecodeError, ValueError):
            raise ServerError(endpoint, f"answered with something that is not JSON: {raw[:200]!r}") from None
        if not isinstance(out, dict):
            raise ServerError(endpoint, f"answered with JSON that is not an object: {str(out)[:200]}")
        return out

    def request(self, path: str, body: dict | None = None, check: Callable[[dict], Any] | None = None) -> Any:
        """A request with retries and backoff; `check` turns the JSON into the result and
        raises KeyError/IndexError/TypeError/ValueError on garbage (retried too)."""
        deadline = time.monotonic() + (self.timeout + self.retry.max_backoff * 1.25) * (self.retry.retries + 1)
        last: ServerError | None = None
        for attempt in range(self.retry.retries + 1):
            if attempt:
                pause = self.retry.wait(attempt)
                if time.monotonic() + pause > deadline:
                    break
                time.sleep(pause)
            try:
                out = self._post_or_get(path, body)
                return check(out) if check else out
            except ServerError as e:
                last = e
                if not e.retryable:
                    raise
            except (KeyError, IndexError, TypeError, ValueError) as e:
                last = ServerError(f"{self.url}{path}", f"answered with an unexpected shape ({type(e).__name__}: {e})")
        assert last is not None
        raise ServerError(last.endpoint, f"{last.problem} (after {self.retry.retries + 1} attempts)", last.retryable)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, return_errors: bool = False) -> list[Any]:
        """fn over items on the client's pool (at most `concurrency` at once), in order.
        return_errors: a ServerError becomes that item's result instead of being raised
        (after every item has finished: no request is left running behind the caller)."""
        futures = [self._pool.submit(fn, item) for item in items]
        results, first_error = [], None
        for f in futures:
            try:
                results.append(f.result())
            except ServerError as e:
                results.append(e)
                first_error = first_error or e
        if first_error is not None and not return_errors:
            raise first_error
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ----------------------------------------------------------------- API

    @property
    def model(self) -> str:
        """The served model name (asked once from /v1/models when not given)."""
        if self._model is None:
            self._model = self.request("/models", None, lambda out: out["data"][0]["id"])
        return self._model

    def check(self) -> list[str]:
        """Ask the server which models it serves (raises ServerError when it cannot be used:
        unreachable, garbage, or the configured model not among them)."""
        served = self.request("/models", None, lambda out: [m["id"] for m in out["data"]])
        if self._model is not None and self._model not in served:
            raise ServerError(f"{self.url}/models", f"does not serve {self._model!r} (it serves {served})", False)
        return served

    def chat(
        self,
        messages: list[dict],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        n: int = 1,
        seed: int | None = None,
        extra: dict | None = None,
    ) -> list[dict]:
        """The `n` choices of one chat completion: [{"text", "finish_reason"}]."""
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "n": n,
            **({"seed": seed} if seed is not None else {}),
            **(extra or {}),
        }

        def check(out):
            choices = [
                {"text": c["message"]["content"] or "", "finish_reason": c.get("finish_reason")} for c in out["choices"]
            ]
            if len(choices) != n:
                raise ValueError(f"{len(choices)} choices for n={n}")
            return choices

        return self.request("/chat/completions", body, check)

    def ask(self, prompt: str, max_tokens: int = 1024) -> str:
        """The reply to one user message, greedy (the judge's call)."""
        return self.chat([{"role": "user", "content": prompt}], max_tokens=max_tokens)[0]["text"]


# --------------------------------------------------------------------------- media as vLLM takes them


def image_url(image) -> dict:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()},
    }


def video_url(video) -> dict:
    """A (T, C, H, W) frame tensor (as `load_media` returns it) as vLLM's JPEG frame list."""
    import numpy as np
    import torch
    from PIL import Image

    frames = []
    for frame in video:
        array = frame.permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(array)).save(buf, format="JPEG", quality=95)
        frames.append(base64.b64encode(buf.getvalue()).decode())
    return {"type": "video_url", "video_url": {"url": "data:video/jpeg;base64," + ",".join(frames)}}


def openai_messages(prompt, vision) -> list[dict]:
    """A `mmzppo.prompting.builders.Prompt`'s messages in the OpenAI chat format, media loaded under
    `vision` (None: text only) by `mmzppo.data.media.load_media`. A prompt that continues an
    assistant prefix keeps it as the last (assistant) message; the caller asks the server to
    continue it (vLLM's `continue_final_message`)."""
    from mmzppo.data.media import load_media
    from mmzppo.prompting.builders import text_content

    out = []
    for message in prompt.messages:
        content = message["content"]
        if isinstance(content, str) or vision is None:
            out.append({"role": message["role"], "content": text_content(content)})
            continue
        parts, n_image = [], 0
        for part in content:
            if part.get("type") == "text":
                parts.append({"type": "text", "text": part["text"]})
                continue
            field_name = f"images[{n_image}]" if part["type"] == "image" else "video"
            kind, *media = load_media(part, vision, prompt.uid, field_name)
            if kind == "image":
                parts.append(image_url(media[0]))
                n_image += 1
            else:
                parts.append(video_url(media[0]))
        out.append({"role": message["role"], "content": parts})
    return out


# --------------------------------------------------------------------------- a local server for tests and benchmarks
