"""A stand-in judge server for exact replies: an OpenAI-compatible /v1/chat/completions and
/v1/models on a loopback port that grades the mmzppo judge prompt by string equality of the
reference and the student's answer, and answers malformed or slowly on request (the student's
answer "garbled" or "slow ..."). The real-server path is tested against `vllm serve`; this one
gives the replies a tiny model cannot be made to give."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mmzppo.data.sample import Sample

_PARTS = re.compile(r"Reference answer:\n(.*?)\n\nStudent's final answer:\n(.*?)\n\nReply", re.S)


class StubJudge:
    def __init__(self, model: str = "stub-judge", delay: float = 2.0):
        self.model, self.delay, self.requests = model, delay, 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, payload: dict):
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._send({"object": "list", "data": [{"id": stub.model, "object": "model"}]})

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests += 1
                gold, answer = _PARTS.search(request["messages"][-1]["content"]).groups()
                if answer.startswith("slow"):
                    time.sleep(stub.delay)
                if answer == "garbled":
                    reply = "I believe the student is right."
                else:
                    reply = json.dumps({"correct": answer.strip() == gold.strip()})
                message = {"role": "assistant", "content": reply}
                self._send({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# one row per reward type: (reward_type, gold, extra fields, a right response, a wrong one)
ROWS = [
    (None, "7", {}, "\\boxed{7}", "\\boxed{8}"),
    ("exact_match", "\\frac{1}{2}", {}, "\\boxed{0.5}", "\\boxed{2}"),
    ("numeric", "100", {"tolerance": 0.05}, "\\boxed{103}", "\\boxed{110}"),
    ("multiple_choice", "B", {"choices": ["cat", "dog"]}, "\\boxed{dog}", "\\boxed{A}"),
    ("list_match", "a, b", {}, "\\boxed{b; a}", "\\boxed{a}"),
    ("ordering", "1, 2", {}, "\\boxed{1, 2}", "\\boxed{2, 1}"),
    ("llm_judge", "x = 2", {}, "\\boxed{x = 2}", "\\boxed{x = 3}"),
    ("grounding", "[1, 2, 3, 4]", {}, "\\boxed{[1, 2, 3, 4]}", "\\boxed{[0, 0, 1, 1]}"),
    ("numeric", "about 4", {"tolerance": 0.1}, "\\boxed{about 4}", "\\boxed{5}"),  # gold no rule reads
]
JUDGED = {"llm_judge", "grounding"}  # and the unreadable numeric gold (the last row)


def samples() -> list[Sample]:
    """One sample per row of ROWS."""
    return [
        Sample(uid=f"r{i}", question=f"question {i}?", answer=gold, reward_type=kind, **extra)
        for i, (kind, gold, extra, _, _) in enumerate(ROWS)
    ]
