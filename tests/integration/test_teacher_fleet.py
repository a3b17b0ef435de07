"""Several teacher servers behind one client, and distillation from a served teacher, against
real vLLM servers of a tiny Qwen3.5 on loopback ports.

Two servers of one teacher (`served.pair`, the session's, started side by side once in
tests/conftest.py and warmed here) check: requests
spread over both under equal load; the top-k JSD from a server's log-probs against the local
teacher's on the same student tokens (image, video and text prompts); distill_on and
distill_off steps with `teacher_kind: server` over the two; one server killed in the middle of
a batch (the batch finishes on the other with nothing lost; the killed one rejoins after a
restart); and a server of another model (`served.other`) refused at start-up, named.

The teacher is the tiny `s` with its output layer scaled by 6 (`sharp_teacher` in
tests/conftest.py; untied from the input embeddings first): a random tiny model's next-token
distributions are nearly uniform, so
every JSD is near 0 and an equality test could not fail; scaled, they are peaked like a trained
model's (the test prints the top-5 mass), and the student (the random tiny `xs`) is far from it.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch
from served import OTHER, SHARP

pytest.importorskip("vllm", reason="the vllm extra is not installed (scripts/setup.sh installs it)")

from mmzppo.data.vision import TINY_VISION  # noqa: E402
from mmzppo.policy.generation.base import SamplingParams  # noqa: E402

pytestmark = pytest.mark.vllm
SERVED = SHARP
K = 5


@pytest.fixture(scope="module")
def warm_pair(served):
    """The session's pair, warmed once for this module: a server's first requests are slow
    (warm-up), and the test of equal load needs both warm (the served-teacher tests before this
    module may have restarted one)."""
    from mmzppo.teachers.client import ChatClient

    for s in served.up(*served.pair):
        warm = ChatClient(s.url, SERVED, concurrency=2)
        warm.map(lambda c: c.chat([{"role": "user", "content": "Hi"}], max_tokens=8, temperature=1.0), [warm] * 4)
        warm.close()
    return served.pair


@pytest.fixture
def pair(warm_pair, served):
    """Both servers of the pair, up (restarted if an earlier test left one dead)."""
    return list(served.up(*warm_pair))


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    """One synthetic question per modality: a video (mp4), an image and a text item."""
    from mmzppo.data.synthetic import generate

    media = tmp_path_factory.mktemp("fleet_items")
    tasks = {"video": "motion_direction", "image": "count_color", "text": "arith_chain"}
    return {kind: next(generate(task, 1, 0, "test", media)) for kind, task in tasks.items()}


def client_for(servers, model=SERVED, **kw):
    from mmzppo.teachers.client import ChatClient

    options = {"concurrency": 2, "timeout": 60.0, "retries": 1, "backoff": 0.2, **kw}
    return ChatClient([s.url for s in servers], model, **options)


def test_requests_spread_over_two_servers(pair):
    from mmzppo.teachers.fleet import fleet_metrics

    # equal load: all 24 requests in flight at once (12 slots per server), so the least-loaded
    # choice alone decides the split (with fewer slots, a faster server takes more: by design)
    client = client_for(pair, concurrency=12)
    assert client.check() == SERVED

    def ask(i):  # 32 tokens each: every request is sent before the first one ends
        message = [{"role": "user", "content": f"Count to {i}."}]
        return client.chat(message, max_tokens=32, temperature=1.0, extra={"min_tokens": 32})

    replies = client.map(ask, range(24))
    assert len(replies) == 24 and all(len(r) == 1 for r in replies)
    counts = [client.stats[f"server{i}/requests"] for i in range(2)]
    print(f"\nrequests per server: {counts}")
    assert sum(counts) == 24 and min(counts) >= 0.7 * max(counts)  # within 30% of each other
    metrics = fleet_metrics(client.stats)
    assert metrics["teacher/server0/failures"] == metrics["teacher/server1/failures"] == 0
    assert metrics["time/teacher_server0"] > 0 and metrics["time/teacher_server1"] > 0
    client.close()


def test_served_top_k_jsd_equals_the_local_teachers(pair, sharp_teacher, tiny_xs, items):
    """The same student tokens scored by the server and by the local teacher: the top-k JSD
    (k + tail bucket, beta 0.5) of each sequence agrees to 1e-3 on the image and text prompts
    (the server computes in bf16). The video prompt is held to 1e-2 only: a frame list reaches
    vLLM's token-in endpoint without its frame rate, so the server writes other timestamps into
    the prompt (<0.5 seconds> where the local processor writes <0.4 seconds>)."""
    from mmzppo.core.divergences import generalized_jsd, sparse_support
    from mmzppo.policy.encoding import encode_prompts
    from mmzppo.policy.generation.hf import HFRollout
    from mmzppo.policy.loading import load_policy
    from mmzppo.policy.logprobs import completion_logprobs
    from mmzppo.prompting.builders import plain
    from mmzppo.teachers.local import LocalTeacher
    from mmzppo.teachers.served import ServerTeacher

    student = tiny_xs
    prompts = [plain(items[k]) for k in ("video", "image", "text")]
    torch.manual_seed(0)
    completions = [g[0].token_ids for g in HFRollout(student).generate(prompts, 1, SamplingParams(max_new_tokens=16))]
    local = LocalTeacher(load_policy(sharp_teacher, vision=TINY_VISION)).distributions(prompts, completions, top_k=K)
    served_teacher = ServerTeacher(client_for(pair), TINY_VISION, processor=student.processor)
    served = served_teacher.distributions(prompts, completions, top_k=K)
    assert served_teacher.counts["scored"] == 3 and served.mask.equal(local.mask)

    scored = completion_logprobs(
        student.model,
        student.tokenizer,
        encode_prompts(student.processor, TINY_VISION, prompts),
        completions,
        with_grad=False,
        full=True,
    )
    if getattr(scored, "head", None) is not None:  # the student's distributions, made by chunk
        rows = scored.head.logprobs(slice(0, len(scored.head)))
        distributions = torch.full((*scored.mask.shape, rows.shape[-1]), -1e4)
        distributions[scored.mask] = rows
    else:
        distributions = scored.distributions

    def per_sequence(t):
        s, target = sparse_support(distributions, t.logprobs, t.indices)
        jsd = generalized_jsd(s, target, 0.5) * scored.mask
        return jsd.sum(1) / scored.mask.sum(1)

    jsd_local, jsd_served = per_sequence(local), per_sequence(served)
    diff = (jsd_served - jsd_local).abs()
    print(f"\ntop-{K} JSD per sequence (video, image, text): local {jsd_local.tolist()}, served {jsd_served.tolist()}")
    mass = local.logprobs.exp().sum(-1)[local.mask].mean()
    print(f"differences {diff.tolist()}; the teacher's top-{K} mass {mass:.3f}")
    assert jsd_local.min() > 0.1  # far apart: an equality that could fail
    assert diff[1:].max() < 1e-3
    assert diff[0] < 1e-2
    agree = (served.indices[..., 0] == local.indices[..., 0])[local.mask].float().mean()
    print(f"the top-1 token agrees at {agree:.3f} of the positions")
    assert agree > 0.8


def test_video_chat_requests_carry_the_frame_timing(pair, tiny_xs, items):
    """A video question as the served teacher sends it (frames + their timing in
    `media_io_kwargs`) is rendered by the server into exactly the student's prompt tokens,
    timestamps included (without the timing vLLM assumes 1 fps and writes other ones)."""
    from mmzppo.policy.encoding import encode_prompts
    from mmzppo.prompting.builders import plain
    from mmzppo.teachers.messages import openai_messages

    prompt = plain(items["video"])
    timing: dict = {}
    body = {"model": SERVED, "messages": openai_messages(prompt, TINY_VISION, timing)}
    client = client_for(pair)
    untimed = client.request("/chat/completions/render", body, lambda out: out["token_ids"])
    timed = client.request(
        "/chat/completions/render", {**body, "media_io_kwargs": {"video": timing}}, lambda out: out["token_ids"]
    )
    local = encode_prompts(tiny_xs.processor, TINY_VISION, [prompt])[0].inputs["input_ids"][0].tolist()
    assert timing["fps"] > 0 and timed == local and untimed != local


def run_config(tmp_path, name, shards, student_dir, servers, **over):
    from mmzppo.train.config_files import config_from_dict

    values = dict(
        name=name,
        output_dir=str(tmp_path),
        student=str(student_dir),
        train_shards=str(shards),
        steps=2,
        save_every=0,
        prompts_per_step=2,
        group_size=2,
        teacher_group_size=2,
        max_new_tokens=12,
        dtype="float32",
        lr=1e-4,
        micro_batch_size=8,
        vision=TINY_VISION.to_dict(),
        log_samples=0,
        teacher_kind="server",
        teacher_endpoint=[s.url for s in servers],  # a YAML list
        teacher_timeout=60.0,
        teacher_retries=1,
        distill_top_k=K,
    )
    return config_from_dict({**values, **over})


def test_distill_on_and_off_with_a_served_teacher(pair, synth_shards, tiny_xs_dir, tmp_path):
    from mmzppo.train.loop import Trainer

    trainer = Trainer(run_config(tmp_path, "on", synth_shards, tiny_xs_dir, pair, method="distill_on"))
    m, _ = trainer.step()
    requests = m["teacher/server0/requests"] + m["teacher/server1/requests"]
    assert m["teacher/scored"] == m["groups/plain"] * 2 and requests >= m["teacher/scored"]
    assert 0.05 < m["distill/divergence"] < 1.0 and torch.isfinite(torch.tensor(m["loss"]))
    # the sampled-token reverse KL reads only the served log-prob of each sampled token
    over = dict(method="distill_on", distill_loss="reverse_kl_sampled", distill_top_k=0)
    m, _ = Trainer(run_config(tmp_path, "rkl", synth_shards, tiny_xs_dir, pair, **over)).step()
    assert m["teacher/scored"] > 0 and torch.isfinite(torch.tensor(m["loss"]))
    # off-policy: the teacher's answers are sampled over the fleet and graded; a random teacher
    # is rarely right, so its sequences (when there are any) are scored by the same path as above
    m, _ = Trainer(run_config(tmp_path, "off", synth_shards, tiny_xs_dir, pair, method="distill_off")).step()
    assert m["teacher/sampled"] == 4 and m["distill/sequences"] + m["distill/prompts_without_correct"] >= 2


def test_a_server_lost_mid_batch_and_back(pair, items):
    from mmzppo.teachers.served import ServerTeacher

    a, b = pair
    client = client_for(pair)
    client.check()
    teacher = ServerTeacher(client, TINY_VISION, SamplingParams(max_new_tokens=48), failure="stop")
    questions = [items["text"], items["image"]] * 8
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(groups=teacher.answer(questions, 2)))
    worker.start()
    deadline = time.monotonic() + 60
    while client.fleet.servers[1].in_flight == 0 or client.stats["server1/requests"] < 2:  # b is busy
        assert time.monotonic() < deadline and worker.is_alive()
        time.sleep(0.02)
    b.kill()
    worker.join(timeout=300)
    assert [len(g) for g in out["groups"]] == [2] * 16  # nothing lost ("stop" would have raised)
    assert teacher.counts["failed"] == 0 and client.stats["server1/failures"] >= 1
    assert client.fleet.servers[1].down is not None and client.fleet.servers[0].down is None
    print(f"\nafter the kill: {dict(client.stats)}")

    b.start()  # the background retries find it again
    deadline = time.monotonic() + 60
    while client.fleet.servers[1].down is not None:
        assert time.monotonic() < deadline, client.fleet.servers[1].down
        time.sleep(0.2)
    before = client.stats["server1/requests"]
    assert [len(g) for g in teacher.answer(questions[:8], 1)] == [1] * 8
    assert client.stats["server1/requests"] > before
    client.close()


def test_a_server_of_another_model_is_refused_at_start_up(pair, served, synth_shards, tiny_xs_dir, items, tmp_path):
    from mmzppo.teachers.served import ServerTeacher, TeacherUnavailable
    from mmzppo.train.loop import Trainer

    (other,) = served.up(served.other)  # the tiny `s` as OTHER, with vLLM's default: no per-request media settings
    config = run_config(tmp_path, "mix", synth_shards, tiny_xs_dir, [pair[0], other], method="zppo")
    with pytest.raises(TeacherUnavailable, match=f"{other.url}/v1 .*does not serve '{SERVED}'.*{OTHER}"):
        Trainer(config)
    # a server that refuses the frames' timing still answers video questions, without it
    teacher = ServerTeacher(client_for([other], model=OTHER), TINY_VISION, SamplingParams(max_new_tokens=8))
    with pytest.warns(UserWarning, match="--trust-request-mm-kwargs"):
        assert [len(g) for g in teacher.answer([items["video"]], 2)] == [2]
    assert not teacher.send_timing and [len(g) for g in teacher.answer([items["video"]], 1)] == [1]
