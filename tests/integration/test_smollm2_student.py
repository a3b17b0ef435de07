"""The real SmolLM2-135M as a student: export, warm-up, one ZPPO step with a checkpoint, reload;
the step trains only the top 2 of its 30 layers (`train_top_layers`, the comparison's setting).

Issue: the export used to keep the GGUF `quantization_config`, so every later load was
marked quantized and the first `save_pretrained` after training failed.
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers import batch

from mmzppo.policy.loading import load_policy
from mmzppo.prompting.builders import plain
from mmzppo.train.config_files import load_config


@pytest.fixture(scope="module")
def text_shards(tmp_path_factory):
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite

    root = tmp_path_factory.mktemp("smol_text")
    samples = list(generate_suite(["arith_chain", "word_problem"], 4, 0, "train", root / "media", levels=[1]))
    write_shards(samples, root / "train", maxcount=8)
    return root / "train", samples


def logits_of(policy, prompt) -> torch.Tensor:
    inputs = batch(policy.processor, [prompt], None)
    with torch.no_grad():
        return policy.model(**inputs).logits


@pytest.mark.slow
def test_smollm2_warmup_train_save_reload(smollm2_dir, text_shards, tmp_path):
    from mmzppo.tools.warmup import main as warmup_main
    from mmzppo.train.loop import Trainer

    shards, samples = text_shards
    assert "quantization_config" not in json.loads((smollm2_dir / "config.json").read_text())  # plain floats

    # 1. supervised warm-up (the CLI path), saved
    warm = tmp_path / "warm"
    warmup_main(
        [
            "--model",
            str(smollm2_dir),
            "--shards",
            str(shards),
            "--out",
            str(warm),
            "--steps",
            "1",
            "--batch-size",
            "2",
            "--lr",
            "2e-5",
        ]
    )
    assert "quantization_config" not in json.loads((warm / "config.json").read_text())

    # 2. one ZPPO step from the warmed student, top 2 layers only, NCQs of at most 2 candidates, with its checkpoint
    config = load_config(
        None,
        [
            f"student={warm}",
            "teacher_kind=reference",
            f"train_shards={shards}",
            "prompts_per_step=2",
            "group_size=2",
            "max_new_tokens=8",
            "steps=1",
            "save_every=1",
            "updates_per_step=1",
            "dtype=float32",
            "lr=1e-5",
            f"output_dir={tmp_path / 'runs'}",
            "name=smol",
            "candidate_max_words=20",
            "train_top_layers=2",
            "ncq_max_candidates=2",
        ],
    )
    trainer = Trainer(config)
    trainer.train()
    checkpoint = trainer.run_dir / "checkpoints" / "step-1"
    assert (checkpoint / "DONE").is_file()
    metrics = [json.loads(line) for line in open(trainer.run_dir / "metrics.jsonl")]
    assert len(metrics) == 1 and metrics[0]["groups/plain"] == 2

    # 3. the reloaded checkpoint gives the trained model's logits
    prompt = plain(samples[0])
    trained = logits_of(trainer.student, prompt)
    reloaded = load_policy(checkpoint, dtype="float32")
    assert not getattr(reloaded.model, "is_quantized", False)
    torch.testing.assert_close(logits_of(reloaded, prompt), trained, rtol=0, atol=1e-5)
    start = load_policy(warm, dtype="float32")
    before = logits_of(start, prompt)
    assert not torch.allclose(before, trained)  # the step moved them (AdamW's decay, if every reward was 0)
    old, new = start.model.state_dict(), trainer.model.state_dict()
    moved = {k for k in new if not torch.equal(old[k], new[k])}
    top = {k for k in new if k.startswith(("model.layers.28.", "model.layers.29.", "model.norm."))}
    assert moved and moved <= top  # the embeddings (tied to the LM head) and layers 0-27 as loaded
    assert {id(p) for g in trainer.optimizer.param_groups for p in g["params"]} == {
        id(p) for k, p in trainer.model.named_parameters() if k in top
    }
