"""The served teacher against a real `vllm serve` of a tiny Qwen3.5 on a loopback port.

The server is the first of the session's pair (`served` in tests/conftest.py: the tiny `s` with
its output layer scaled, shared with tests/integration/test_teacher_fleet.py; killed by its
process group's id and restarted here when a test needs it dead). The tests check: sampling with
an image, a video and text; candidate rewriting (the spec's
summary prompt; the original final answer kept); hints; judging through the same client (the
evaluation judge and the training reward's);
top-k token scores against the local model; `annotate` into shards (a lost output shard rebuilt
with no server call: the rerun is pointed at a dead port) and the precomputed
teacher reading them back; and, in a short ZPPO run with `rollout_backend: vllm` and
`teacher_kind: server`, the server killed mid-run (skip: counted `teacher/failed`, the step
finishes; stop: a clear error naming the endpoint), then restarted (the teacher recovers),
with the same metric names as a run on the transformers backend.
"""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest
import torch
from served import SHARP, free_port

pytest.importorskip("vllm", reason="the vllm extra is not installed (scripts/setup.sh installs it)")

from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.generation.base import SamplingParams  # noqa: E402
from mmzppo.prompting.compress import truncate_candidates  # noqa: E402

pytestmark = pytest.mark.vllm
SERVED = SHARP


@pytest.fixture
def server(served):
    """The session's first served teacher, up (restarted if an earlier test left it dead)."""
    (s,) = served.up(served.pair[0])
    return s


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    """One synthetic question per modality: an image, a video (mp4) and a text item."""
    from mmzppo.data.synthetic import generate

    media = tmp_path_factory.mktemp("served_items")
    tasks = {"image": "count_color", "video": "motion_direction", "text": "arith_chain"}
    return {kind: next(generate(task, 1, 0, "test", media)) for kind, task in tasks.items()}


def client_for(server, **kw):
    from mmzppo.teachers.client import ChatClient

    return ChatClient(
        server.url, **{"model": SERVED, "concurrency": 4, "timeout": 60.0, "retries": 1, "backoff": 0.2, **kw}
    )


def teacher_for(client, **kw):
    from mmzppo.teachers.served import ServerTeacher

    return ServerTeacher(client, TINY_VISION, SamplingParams(max_new_tokens=16), **kw)


def test_sample_rewrite_hint_and_judge(server, items):
    from mmzppo.eval.metrics import Judge

    client = client_for(server)
    teacher = teacher_for(client)
    groups = teacher.answer([items[k] for k in ("image", "video", "text")], 2)
    assert [len(g) for g in groups] == [2, 2, 2]
    assert all(isinstance(c.text, str) and c.token_ids == [] for g in groups for c in g)
    responses = ["First add 2 and 3.\nThen double it.\nSo \\boxed{10}", "It is clearly \\boxed{7}"]
    summaries = teacher.compress(responses)
    assert [s.splitlines()[-1].endswith(a) for s, a in zip(summaries, ["\\boxed{10}", "\\boxed{7}"])] == [True, True]
    assert all(len(s.splitlines()) <= 5 for s in summaries)
    hints = teacher.write_hints([items["image"]], ["The answer is \\boxed{3}"])
    assert len(hints) == 1 and isinstance(hints[0], str)
    calls = {k: v for k, v in teacher.counts.items() if not k.startswith("server")}  # beside the fleet's
    assert calls == {"sampled": 6, "rewrites": 2, "hints": 1} and teacher.counts["server0/failures"] == 0
    # the evaluation judge speaks through the same client (one client, not two)
    judge = Judge(server.url, SERVED, client=client)
    before = client.requests
    reply = judge.ask("Is 2 + 2 = 4? Answer yes or no.")
    assert isinstance(reply, str) and client.requests == before + 1 and judge.down is None

    # the training reward's judge too: a random tiny model writes no JSON verdict, so each
    # is malformed = wrong, counted, and asked again next time (only readable verdicts are kept)
    from mmzppo.data.sample import Sample
    from mmzppo.teachers.judge import RewardJudge
    from mmzppo.train.rewards import Rewarder

    rewarder = Rewarder(RewardJudge(client, max_tokens=16), "stop")
    rows = [Sample(uid=f"j{i}", question=f"Name {i}.", answer=f"name {i}", reward_type="llm_judge") for i in range(3)]
    texts = [[f"\\boxed{{name {i}}}", "\\boxed{nothing}"] for i in range(3)]
    assert rewarder.correct(rows, texts) == [[False, False]] * 3
    m = rewarder.step_metrics()
    assert (m["judge/asked"], m["judge/malformed"], m["judge/failed"]) == (6, 6, 0) and m["judge/latency_s"] > 0
    assert rewarder.correct(rows[:1], texts[:1]) == [[False, False]] and rewarder.step_metrics()["judge/asked"] == 2


def shard_members(folder: Path) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    for tar_path in sorted(folder.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for m in tar.getmembers():
                key, suffix = m.name.split(".", 1)
                out.setdefault(key, {})[suffix] = tar.extractfile(m).read()
    return out


def test_annotate_then_precomputed_teacher(server, tmp_path, tiny_s_dir):
    from mmzppo.data.shards import ShardReader, write_shards
    from mmzppo.data.synthetic import generate_suite
    from mmzppo.teachers.annotate import main as annotate_main
    from mmzppo.teachers.text import PrecomputedTeacher

    samples = list(
        generate_suite(
            ["count_color", "motion_direction", "arith_chain"], 2, 0, "train", tmp_path / "media", levels=[1]
        )
    )
    write_shards(samples, tmp_path / "in", maxcount=4)
    args = [
        "annotate",
        "--shards",
        str(tmp_path / "in"),
        "--out",
        str(tmp_path / "out"),
        "--endpoint",
        server.url,
        "--served-model",
        SERVED,
        "--n",
        "2",
        "--max-new-tokens",
        "16",
        "--vision",
        "tiny",
        "--batch",
        "2",
        "--timeout",
        "60",
        "--retries",
        "1",
    ]
    annotate_main(args)
    before, after = shard_members(tmp_path / "in"), shard_members(tmp_path / "out")
    annotated = {k: dict(v) for k, v in after.items()}
    assert set(before) == set(after) == {s.uid for s in samples}
    for key, members in after.items():
        graded = json.loads(members.pop("teacher.json"))
        assert len(graded) == 2 and all(set(g) == {"response", "reward", "parsed"} for g in graded)
        assert members == before[key]  # media and question copied byte for byte
    # resumable: a lost output shard is rebuilt from the stored answers, with no server call
    # (the rerun's endpoint is a port nobody listens on: any call would fail the tool)
    first = sorted((tmp_path / "out").glob("*.tar"))[0]
    first.unlink()
    dead = args.index("--endpoint") + 1
    annotate_main([*args[:dead], f"http://127.0.0.1:{free_port()}", *args[dead + 1 :]])
    assert first.is_file() and shard_members(tmp_path / "out") == annotated
    # the precomputed teacher hands the stored answers out
    read = {s.uid: s for s in ShardReader(str(tmp_path / "out"), vision=TINY_VISION)}
    teacher = PrecomputedTeacher()
    answers = teacher.answer([read[samples[0].uid]], 4)[0]
    assert [a.text for a in answers] == [g["response"] for g in read[samples[0].uid].meta["teacher"]]
    # and a training step takes its answers from the shards (teacher_kind: precomputed)
    from mmzppo.train.loop import Trainer

    trainer = Trainer(run_config(tmp_path, "pre", tmp_path / "out", tiny_s_dir, teacher_kind="precomputed"))
    metrics, _ = trainer.step()
    assert type(trainer.teacher).__name__ == "PrecomputedTeacher" and metrics["teacher/sampled"] > 0


def run_config(tmp_path, name, synth_shards, tiny_s_dir, **over):
    from mmzppo.train.config_files import config_from_dict

    values = dict(
        name=name,
        output_dir=str(tmp_path),
        student=str(tiny_s_dir),
        train_shards=str(synth_shards),
        steps=3,
        save_every=0,
        prompts_per_step=4,
        group_size=2,
        teacher_group_size=2,
        max_new_tokens=16,
        dtype="float32",
        lr=1e-4,
        updates_per_step=1,
        rho_aug=0.5,
        rho_replay=0.25,
        micro_batch_size=8,
        vision=TINY_VISION.to_dict(),
        vllm_kv_cache_gb=0.25,
        vllm_max_model_len=1024,
        vllm_max_images=2,
        log_samples=0,
    )
    return config_from_dict({**values, **over})


def test_zppo_with_vllm_and_server_survives_a_dead_teacher(server, synth_shards, tiny_s_dir, tmp_path):
    from mmzppo.teachers.served import TeacherUnavailable
    from mmzppo.train.config_files import resolve_auto
    from mmzppo.train.loop import Trainer
    from mmzppo.train.setup import make_teacher

    served = dict(
        rollout_backend="vllm",
        teacher_kind="server",
        teacher_endpoint=server.url,
        teacher_served_model=SERVED,
        teacher_failure="skip",
        teacher_timeout=30.0,
        teacher_retries=1,
    )
    trainer = Trainer(run_config(tmp_path, "served", synth_shards, tiny_s_dir, **served))
    assert type(trainer.rollout).__name__ == "VLLMRollout" and trainer.tis_cap == 2.0
    m1, _ = trainer.step()
    assert m1["teacher/sampled"] > 0 and m1["teacher/failed"] == 0 and m1["teacher/rewrites"] > 0

    server.kill()  # mid-run
    try:
        started = time.perf_counter()
        m2, _ = trainer.step()  # skip: the step finishes without the teacher
        assert m2["teacher/failed"] > 0 and time.perf_counter() - started < 120
        assert m2["groups/plain"] >= 4 and torch.isfinite(torch.tensor(m2["loss"]))  # 4 new (+ replayed)
        dead = teacher_for(client_for(server, retries=0), failure="skip")
        responses = ["Add them.\nSo \\boxed{1}", "It is \\boxed{2}"]
        assert dead.compress(responses) == truncate_candidates(responses)  # one prompt's candidates alike
        from mmzppo.data.shards import ShardReader

        questions = list(ShardReader(str(synth_shards), vision=TINY_VISION))[:2]
        assert dead.answer(questions, 2) == [[], []]
        assert dead.counts["failed"] == 3
        trainer.teacher.failure = "stop"  # the other configured behaviour: a clear stop
        with pytest.raises(TeacherUnavailable, match=f"teacher server {server.url}/v1"):
            trainer.step()
        trainer.teacher.failure = "skip"
        with pytest.raises(TeacherUnavailable, match=f"{server.url}/v1 is not usable at start-up"):
            config = run_config(tmp_path, "x", synth_shards, tiny_s_dir, **{**served, "teacher_failure": "stop"})
            make_teacher(resolve_auto(config), "cpu")
    finally:
        server.launch()  # restarted; the run on the transformers backend below goes on while it starts

    # the transformers backend writes the same metric names (recomputed pi_old and TIS on there too),
    # beside which a served teacher adds its per-server counts, and the judge it makes (`judge: auto`)
    reference = Trainer(
        run_config(
            tmp_path, "hf", synth_shards, tiny_s_dir, teacher_kind="reference", tis="on", old_logprobs="recompute"
        )
    )
    m_hf, _ = reference.step()

    server.wait()
    m3, _ = trainer.step()  # the same teacher object recovers
    assert m3["teacher/failed"] == 0 and m3["teacher/sampled"] > 0
    served = {k for k in m1 if k.startswith(("teacher/server", "time/teacher_server", "judge/"))}
    assert {"teacher/server0/requests", "teacher/server0/failures", "time/teacher_server0"} <= served
    assert set(m_hf) | served == set(m1) == set(m3)
