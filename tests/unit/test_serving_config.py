"""Fast checks of the serving pieces that need no vLLM: the client's failure handling against
small local HTTP servers (stalled, garbage, refusing, flaky), the TIS weighting of the PPO
loss, and the GPU configs (they inherit the paper's keys and select vLLM + a served teacher)."""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from conftest import REPO
from helpers import encoded_stub

from mmzppo.teachers.client import ChatClient, ServerError, base_url

REPO_CONFIGS = REPO / "configs"


def serve(handler_fn):
    """A loopback HTTP server whose POST/GET answer with handler_fn(handler) -> (status, body bytes)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            status, body = handler_fn(self)
            if status is None:  # stall: never answer
                time.sleep(30)
                return
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def chat_reply(text="ok"):
    return json.dumps({"choices": [{"message": {"content": text}, "finish_reason": "stop"}]}).encode()


def test_base_url_forms():
    assert {base_url(u) for u in ("http://h:8000", "http://h:8000/v1/", "http://h:8000/v1/chat/completions")} == {
        "http://h:8000/v1"
    }


def test_stalled_server_times_out_and_never_hangs():
    server = serve(lambda h: (None, b""))
    try:
        client = ChatClient(f"http://127.0.0.1:{server.server_port}", "m", timeout=0.5, retries=1, backoff=0.1)
        start = time.perf_counter()
        with pytest.raises(ServerError, match=f"127.0.0.1:{server.server_port}/v1/chat/completions.*2 attempts"):
            client.ask("hi")
        assert time.perf_counter() - start < 5
    finally:
        server.shutdown()


def test_garbage_is_retried_then_named_and_a_flaky_server_recovers():
    calls = []

    def flaky(h):
        calls.append(h.path)
        return (200, b"<html>not json</html>") if len(calls) % 2 else (200, chat_reply("fine"))

    server = serve(flaky)
    try:
        client = ChatClient(f"http://127.0.0.1:{server.server_port}", "m", timeout=5, retries=2, backoff=0.05)
        assert client.ask("hi") == "fine" and len(calls) == 2  # garbage, retried, then the answer
        no_retry = ChatClient(f"http://127.0.0.1:{server.server_port}", "m", timeout=5, retries=0)
        calls.clear()
        with pytest.raises(ServerError, match="not JSON"):
            no_retry.ask("hi")
    finally:
        server.shutdown()


def test_client_errors_are_not_retried_and_concurrency_is_bounded():
    calls, active, most = [], [0], [0]
    lock = threading.Lock()

    def handler(h):
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        calls.append(body["messages"][0]["content"])
        if body["messages"][0]["content"] == "bad":
            return 400, b'{"error": "max_tokens too large"}'
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return 200, chat_reply()

    server = serve(handler)
    try:
        client = ChatClient(f"http://127.0.0.1:{server.server_port}", "m", timeout=5, retries=3, concurrency=3)
        with pytest.raises(ServerError, match="HTTP 400: .*max_tokens too large"):
            client.ask("bad")
        assert calls == ["bad"]  # not retried
        results = client.map(lambda i: client.ask(f"q{i}"), range(9))
        assert results == ["ok"] * 9 and most[0] == 3
    finally:
        server.shutdown()


def test_refused_connection_names_the_endpoint():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ChatClient(f"http://127.0.0.1:{port}", "m", timeout=2, retries=1, backoff=0.05)
    with pytest.raises(ServerError, match=f"server http://127.0.0.1:{port}/v1/chat/completions: unreachable"):
        client.ask("hi")


def test_tis_weights_the_ppo_terms_and_caps_them():
    from mmzppo.core.ppo import ClipConfig
    from mmzppo.policy.generation.base import Completion
    from mmzppo.policy.logprobs import LogprobBatch
    from mmzppo.prompting.builders import Prompt
    from mmzppo.train.objectives import ClippedPPO
    from mmzppo.train.rollout import Rollout

    old = torch.tensor([[-1.0, -2.0, -0.5]])
    sampler = [-1.0 - math.log(5.0), -2.0 + math.log(2.0), -0.5]  # pi_old / pi_sampler = 5, 0.5, 1
    prompt = Prompt("q", "plain", [{"role": "user", "content": "x"}])
    rollout = Rollout(prompt, encoded_stub(), Completion([1, 2, 3], sampler, "", True), 1.0, None, advantage=0.7)
    scored = LogprobBatch(old.clone(), torch.ones(1, 3, dtype=torch.bool), torch.zeros(1, 3))  # ratio 1: no clip
    mask = torch.ones(1, 3, dtype=torch.bool)
    plain_loss, _ = ClippedPPO(ClipConfig()).loss(scored, [rollout], [old[0]], mask, 3.0)
    loss, stats = ClippedPPO(ClipConfig(), tis_cap=2.0).loss(scored, [rollout], [old[0]], mask, 3.0)
    assert float(plain_loss) == pytest.approx(-0.7)
    assert float(loss) == pytest.approx(-0.7 * (2.0 + 0.5 + 1.0) / 3)  # weights min(5, 2), 0.5, 1
    assert stats["tis/weight_mean"] == pytest.approx(3.5 / 3) and stats["tis/capped_frac"] == pytest.approx(1 / 3)
    assert stats["clip_ratio/low"] == stats["clip_ratio/high"] == 0.0
    assert ClippedPPO(ClipConfig(), tis_cap=2.0).stats[-2:] == ("tis/weight_mean", "tis/capped_frac")


@pytest.mark.parametrize("size", ["0.8b", "2b", "4b", "9b"])
def test_gpu_configs_inherit_the_paper_and_select_vllm_and_a_served_teacher(size):
    from mmzppo.train.config_files import load_config, resolve_auto

    c = resolve_auto(load_config(REPO_CONFIGS / f"gpu/zppo_qwen3.5-{size}.yaml"))
    base = load_config(REPO_CONFIGS / f"zppo_qwen3.5-{size}.yaml")
    assert c.student == base.student == f"Qwen/Qwen3.5-{size.upper()}"
    assert (c.prompts_per_step, c.max_new_tokens, c.vision, c.lr) == (384, 12_288, base.vision, base.lr)
    assert (c.rollout_backend, c.teacher_kind, c.tis, c.candidate_compression) == ("vllm", "server", "on", "teacher")
    assert c.vllm_max_model_len > c.max_new_tokens and c.teacher_endpoint.startswith("http://")


def test_serving_config_errors_name_the_key():
    from mmzppo.train.config import ConfigError
    from mmzppo.train.config_files import load_config

    with pytest.raises(ConfigError, match="^teacher_endpoint: "):
        load_config(None, ["teacher_kind=server"])
    with pytest.raises(ConfigError, match="^vllm_max_model_len: 4096 leaves no room"):
        load_config(None, ["teacher=x", "rollout_backend=vllm", "vllm_max_model_len=4096"])
    with pytest.raises(ConfigError, match="^teacher_failure: "):
        load_config(None, ["teacher=x", "teacher_failure=retry"])
