"""One client for OpenAI-compatible servers: the served teacher and the evaluation judge.

In the paper's deployment the teacher (Qwen3.5-27B-FP8) runs on its own GPUs behind
`vllm serve`, one server per GPU on 2 GPUs of every node; the student's trainer talks to them
over HTTP. `ChatClient` is that connection, and the only one the project has
(`mmzppo.teachers.served.ServerTeacher` samples, rewrites candidates, writes hints and scores
tokens through it; `mmzppo.eval.metrics.Judge` grades through it):

* one URL or several (`mmzppo.teachers.fleet`): each request goes to the least-loaded healthy
  server, a server that stops answering is marked down, retried in the background and
  rejoins; per-server counts in `stats`;
* bounded concurrency: `concurrency` requests in flight per server at most (one thread pool
  of `concurrency` x servers workers), so a step with 96 hard questions x G_T answers never
  opens more than that many requests at once;
* every request has a timeout, and a call as a whole a deadline (`timeout` x attempts plus
  the backoff), so dead or stalled servers cost bounded time: it never hangs;
* retries with exponential backoff (and jitter) on what can pass: connection refused or
  reset and timeouts (first on another server, when one is up), HTTP 429 and 5xx, and garbage
  (a body that is not the JSON an OpenAI-compatible server returns). A 4xx other than 429 is
  our request's fault and is raised at once with the server's message;
* every failure is a `ServerError` whose message names the endpoint (every endpoint, when all
  are down), so the configured failure behaviour (`teacher_failure`: stop with that message,
  or skip and count) has something to say;
* `check()` at start-up: every server must serve the same model (the odd one is named).

Prompts and their media are put in the chat format by `mmzppo.teachers.messages`.

urllib only (no SDK): the client must work in the base install, where no HTTP library
beyond the standard one is declared.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mmzppo.teachers.fleet import Fleet, Server, endpoint_list


class ServerError(RuntimeError):
    """A request to an OpenAI-compatible server failed for good; names the endpoint.
    `unreachable`: the server refused or dropped the connection or timed out (it is marked down)."""

    def __init__(self, endpoint: str, problem: str, retryable: bool = True, unreachable: bool = False):
        self.endpoint, self.problem, self.retryable, self.unreachable = endpoint, problem, retryable, unreachable
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
    """OpenAI-compatible endpoints (`/v1/chat/completions`, `/v1/models`; vLLM's `/tokenize` and
    `/inference/v1/generate` for token scores).

    urls: one server ("http://127.0.0.1:8000", ".../v1" or a full endpoint URL), several
        comma-separated, or a list (all serving the same model).
    model: the served model name to send; None = the first one the first server lists.
    concurrency: requests in flight per server at most.
    timeout: seconds per request; retries: further attempts after a failure that may pass.
    api_key: sent as a bearer token when given.
    """

    def __init__(
        self,
        urls: str | list[str],
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
        endpoints = [base_url(u) for u in endpoint_list(urls)]
        if not endpoints:
            raise ValueError(f"no server URL in {urls!r}")
        self.url = ", ".join(endpoints)  # what messages name
        self._model = model
        self.concurrency, self.timeout, self.api_key = concurrency, timeout, api_key
        self.retry = RetryPolicy(retries, backoff)
        self.stats: Counter = Counter()  # per-server counts (`mmzppo.teachers.fleet`)
        self.fleet = Fleet(endpoints, concurrency, self.stats, self._probe, backoff=backoff)
        workers = concurrency * len(endpoints)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chat-client")
        self.requests = 0  # HTTP requests sent (retries included)

    # ----------------------------------------------------------------- plumbing

    def _send(self, server: Server, path: str, body: dict | None, *, root: bool = False, timeout=None) -> dict:
        """One HTTP request to one server (`path` under /v1, or under the server's root);
        raises ServerError (retryable or not, unreachable or not)."""
        endpoint = f"{server.root if root else server.url}{path}"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(endpoint, data=data, headers=headers, method="GET" if body is None else "POST")
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:500].decode(errors="replace")
            retryable = e.code == 429 or e.code >= 500
            raise ServerError(endpoint, f"HTTP {e.code}: {detail}", retryable) from None
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", e)
            raise ServerError(endpoint, f"unreachable ({type(e).__name__}: {reason})", unreachable=True) from None
        try:
            out = json.loads(raw.decode())
        except (UnicodeDecodeError, ValueError):
            raise ServerError(endpoint, f"answered with something that is not JSON: {raw[:200]!r}") from None
        if not isinstance(out, dict):
            raise ServerError(endpoint, f"answered with JSON that is not an object: {str(out)[:200]}")
        return out

    def request(
        self, path: str, body: dict | None = None, check: Callable[[dict], Any] | None = None, *, root: bool = False
    ) -> Any:
        """A request on the fleet with retries and backoff; `check` turns the JSON into the
        result and raises KeyError/IndexError/TypeError/ValueError on garbage (retried too).

        A server that is unreachable is marked down and the request goes to another healthy
        server at once (not counted as a retry); with none left, or on a 429/5xx/garbage
        answer, the request waits out the back-off and tries again, `retries` times at most."""
        deadline = time.monotonic() + (self.timeout + self.retry.max_backoff * 1.25) * (self.retry.retries + 1)
        failures, last = 0, None
        while time.monotonic() < deadline:
            server = self.fleet.acquire()
            started = time.monotonic()
            try:
                out = self._send(server, path, body, root=root)
                result = check(out) if check else out
            except ServerError as e:
                last = e
            except (KeyError, IndexError, TypeError, ValueError) as e:
                last = ServerError(
                    f"{server.url}{path}", f"answered with an unexpected shape ({type(e).__name__}: {e})"
                )
            else:
                self.fleet.done(server, time.monotonic() - started)
                if server.down is not None:  # it answered: back in the fleet
                    self.fleet.mark_up(server)
                return result
            self.fleet.done(server, None)
            if not last.retryable:
                raise last
            if last.unreachable:
                self.fleet.mark_down(server, last.problem)
                if self.fleet.healthy():
                    continue  # its request goes to another server at once
            failures += 1
            pause = self.retry.wait(failures)
            if failures > self.retry.retries or time.monotonic() + pause > deadline:
                break
            time.sleep(pause)
        assert last is not None
        if len(self.fleet.servers) > 1 and not self.fleet.healthy():
            raise ServerError(self.url, f"every server is down ({self.fleet.describe_down()})", True, True)
        raise ServerError(
            last.endpoint, f"{last.problem} (after {failures} attempts)", last.retryable, last.unreachable
        )

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, return_errors: bool = False) -> list[Any]:
        """fn over items on the client's pool (at most `concurrency` per server at once), in
        order. return_errors: a ServerError becomes that item's result instead of being raised
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
        self.fleet.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ----------------------------------------------------------------- the fleet's model

    def _served(self, server: Server) -> list[str]:
        """The model names one server lists (one request, no retries)."""
        out = self._send(server, "/models", None, timeout=min(self.timeout, 10.0))
        try:
            return [m["id"] for m in out["data"]]
        except (KeyError, TypeError) as e:
            raise ServerError(f"{server.url}/models", f"answered with an unexpected shape ({e})") from None

    def _probe(self, server: Server) -> None:
        """Can a down server rejoin? It must answer and serve the fleet's model."""
        served = self._served(server)
        if self._model is not None and self._model not in served:
            raise ServerError(f"{server.url}/models", f"serves {served}, not {self._model!r}", False)

    def check(self) -> str:
        """Ask every server which models it serves and return the fleet's model (the configured
        one, else the first the first answering server lists). Raises ServerError, not
        retryable, when a server does not serve it (a mix of models: the odd ones named), and
        a retryable one when no server answers; a server that does not answer is marked down
        (retried in the background)."""
        served: dict[str, list[str]] = {}
        for server in self.fleet.servers:
            try:
                served[server.url] = self._served(server)
            except ServerError as e:
                if not e.unreachable and not e.retryable:
                    raise
                self.fleet.mark_down(server, e.problem)
        if not served:
            raise ServerError(self.url, f"no server answered ({self.fleet.describe_down()})", True, True)
        model = self._model or next(iter(served.values()))[0]
        odd = {url: models for url, models in served.items() if model not in models}
        if odd:
            which = "; ".join(f"{url} serves {models}" for url, models in odd.items())
            raise ServerError(
                ", ".join(odd),
                f"does not serve {model!r} ({which}; the other servers serve it): all teacher servers "
                "must serve the same model",
                False,
            )
        self._model = model
        return model

    # ----------------------------------------------------------------- API

    @property
    def model(self) -> str:
        """The served model name (asked once from the servers when not given)."""
        if self._model is None:
            self.check()
        return self._model

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

    def tokenize(self, text: str) -> list[int]:
        """The server's token ids of `text` (vLLM's `/tokenize`; no special tokens added)."""
        body = {"model": self.model, "prompt": text, "add_special_tokens": False}
        return self.request("/tokenize", body, lambda out: [int(t) for t in out["tokens"]], root=True)

    def prompt_logprobs(
        self, token_ids: list[int], media: list[dict], positions: int, top_k: int
    ) -> list[dict[int, tuple[float, int]]]:
        """Log-probs of the last `positions` tokens of `token_ids`, each given the tokens before
        it, from vLLM's token-in endpoint (`/inference/v1/generate`, on a server started with
        `--enable-scale-out`): per position {token id: (log-prob, rank)} for the top `top_k`
        tokens and the token itself. `media`: the prompt's images and videos as the chat parts
        `openai_messages` makes; the server loads them and expands the prompt's <|image_pad|> /
        <|video_pad|> tokens as its processor does for a chat request. The log-probs are the
        model's raw ones (temperature 1, no processing)."""
        tokens = token_ids[-positions:]
        body = {
            "model": self.model,
            "token_ids": token_ids,
            "content_parts": [{"type": p["type"], "url": p[p["type"]]["url"]} for p in media] or None,
            "sampling_params": {"max_tokens": 1, "temperature": 1.0, "prompt_logprobs": top_k, "detokenize": False},
        }

        def check(out):
            rows = out["prompt_logprobs"][-positions:]
            table = [{int(t): (float(v["logprob"]), int(v["rank"])) for t, v in row.items()} for row in rows]
            if len(table) != positions or any(t not in row for t, row in zip(tokens, table)):
                raise ValueError(f"{len(table)} prompt log-prob rows for {positions} tokens, or a token missing")
            return table

        return self.request("/inference/v1/generate", body, check, root=True)


def connect(urls, model: str | None, config, error: type[Exception], what: str = "teacher") -> ChatClient:
    """A client for served models, checked at start-up rather than at the first request: a mix of
    models is always refused; no server answering is refused with `teacher_failure: stop`
    (`error`, naming the server). Concurrency, timeout and retries come from the run config's
    teacher_* keys (the teacher and the judge share them)."""
    client = ChatClient(
        urls,
        model,
        concurrency=config.teacher_concurrency,
        timeout=config.teacher_timeout,
        retries=config.teacher_retries,
        api_key=os.environ.get("MMZPPO_TEACHER_API_KEY"),
    )
    try:
        client.check()
    except ServerError as e:
        if not e.retryable or config.teacher_failure == "stop":
            raise error(f"{what} server {e.endpoint} is not usable at start-up: {e.problem}") from e
    return client
