"""Small helpers the tests share (imported as `helpers`; tests/ is on sys.path)."""

from __future__ import annotations

from mmzppo.policy.encoding import collate, encode_prompts
from mmzppo.policy.logprobs import completion_logprobs


def batch(processor, prompts, vision) -> dict:
    """The left-padded model inputs of `prompts`, as the trainer makes them (each prompt
    encoded once, then collated)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    return collate(encode_prompts(processor, vision, prompts), tokenizer.pad_token_id)


def logprobs(model, processor, vision, prompts, completions, **kwargs):
    """`completion_logprobs` of prompts that are encoded here."""
    tokenizer = getattr(processor, "tokenizer", processor)
    return completion_logprobs(model, tokenizer, encode_prompts(processor, vision, prompts), completions, **kwargs)


def encoded_stub(uid: str = "q", n_tokens: int = 1):
    """An `EncodedPrompt` of `n_tokens` text tokens with no model behind it (for tests of
    the loss, the micro-batching and the methods, which never run a forward here)."""
    import torch

    from mmzppo.policy.encoding import EncodedPrompt

    ids = torch.zeros(1, n_tokens, dtype=torch.long)
    return EncodedPrompt(uid, "", [], [], {"input_ids": ids, "attention_mask": torch.ones_like(ids)})


def make_tiny_run(tmp_path_factory, model_dir, name: str, extra=()):
    """A 2-step tiny run (`mmzppo.tools.inspector.tiny_run` on synthetic image/video/text
    shards), made once per test session and shared by the tests that look at run folders."""
    import torch

    from mmzppo.tools import inspector

    root = tmp_path_factory.getbasetemp() / "tiny_runs"
    if not (root / name / "metrics.jsonl").is_file():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a tiny model runs fastest on one thread, and a busy 2-core machine does not thrash
        try:
            inspector.tiny_run(root, model_dir, name=name, extra=extra)
        finally:
            torch.set_num_threads(threads)
    return root / name


def text_samples(n: int, prefix: str = "t"):
    """n text questions with distinct uids ("What is i + 1?"), two sources, a meta field."""
    from mmzppo.data.sample import Sample

    return [
        Sample(
            uid=f"{prefix}{i:03d}",
            question=f"What is {i} + 1?",
            answer=str(i + 1),
            answer_type="number",
            source="arith" if i % 2 else "sums",
            meta={"i": i},
        )
        for i in range(n)
    ]


# Candidates for the compression tests: a long correct one with a thinking block, a short wrong one.
LONG_RESPONSE = "\n".join(
    ["<think>", *(f"Step {i}: add {i} apples to the basket and count again." for i in range(9)), "</think>"]
    + ["So the total is \\boxed{36}."]
)
WRONG_RESPONSE = "The basket has 12 apples, so \\boxed{12}.\nI am sure."


def assert_compressed(out, responses):
    """Compressed candidates: one per response, at most 5 lines, the same final answer."""
    from mmzppo.grading.boxed import extract_last_boxed

    assert len(out) == len(responses)
    for summary, original in zip(out, responses):
        assert len(summary.splitlines()) <= 5
        assert extract_last_boxed(summary) == extract_last_boxed(original)


def worker_loader(reader, workers: int):
    """A DataLoader over a `ShardReader` (one sample per batch) with `workers` worker processes.

    Workers start through a fork server ("forkserver", Python 3.14's default on Linux), not a
    plain fork of this process: a pytest-xdist worker has threads of its own and of earlier
    tests, and a forked child inherits whatever lock they held at that moment. On CI two such
    loaders (video decoding in the workers, under two xdist workers) once delivered nothing in
    120 s; never seen here, so the cause is not proven. A fork server's children start from a
    process without threads. The reader's shared key set and skip counts reach the workers by
    pickling, as for any spawned worker, so this also tests that path (tests/unit/test_shards.py
    keeps the plain fork)."""
    import torch

    return torch.utils.data.DataLoader(
        reader, batch_size=None, num_workers=workers, multiprocessing_context="forkserver", timeout=180
    )
