"""A tied model under FSDP2, against the same model replicated (run by tests/integration/test_tied.py).

    accelerate launch --num_processes 2 tests/integration/tied_fsdp_check.py MODEL_DIR OUT_DIR

Both ranks load the tied model twice: one copy is sharded with `mmzppo.policy.parallel.shard`
and takes one SGD step on its rank's half of a fixed batch (gradients summed over ranks, the
trainer's own functions); the other stays whole and takes the same step on the whole batch
(what one process would do). The sharded copy is saved with the trainer's checkpoint code
(`mmzppo.train.checkpoints.save`, which gathers the full state dict), the replicated one with
`save_pretrained`; rank 0 prints whether the LM head was still tied after sharding.
"""

import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator

from mmzppo.data.sample import Sample
from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.encoding import encode_prompts
from mmzppo.policy.loading import load_policy
from mmzppo.policy.logprobs import completion_logprobs
from mmzppo.policy.parallel import shard, sync_gradients
from mmzppo.prompting.builders import plain
from mmzppo.train import checkpoints


def head_is_embedding(model) -> bool:
    return model.lm_head.weight is model.model.language_model.embed_tokens.weight


def step(policy, prompts, completions, total_tokens, sync: bool) -> None:
    """One SGD step of -sum(log-probs) / total_tokens (linear in the gradient, so the two layouts
    agree to float rounding; Adam's first step is a sign, which tiny gradients flip); `sync`
    sums the replicated gradients over ranks (the sharded ones FSDP's reduce-scatter summed)."""
    optimizer = torch.optim.SGD(policy.model.parameters(), lr=1.0)
    scored = completion_logprobs(policy.model, policy.tokenizer, prompts, completions, with_grad=True)
    (-scored.logprobs.sum() / total_tokens).backward()
    if sync:
        sync_gradients(policy.model)
    optimizer.step()


def main(model_dir: str, out: str) -> None:
    acc = Accelerator(cpu=True)
    sharded, whole = (load_policy(model_dir, vision=TINY_VISION) for _ in range(2))
    samples = [Sample(uid=f"q{i}", question=f"What is {i} + {i}?", answer=str(2 * i)) for i in range(4)]
    prompts = encode_prompts(whole.processor, whole.vision, [plain(s) for s in samples])
    completions = [[(11 * i + j) % 300 + 20 for j in range(4 + i)] for i in range(4)]
    total = sum(len(c) for c in completions)
    tied_before = head_is_embedding(sharded.model)
    shard(sharded.model)
    tied_after = head_is_embedding(sharded.model)
    mine = [i for i in range(4) if i % acc.num_processes == acc.process_index]
    step(sharded, [prompts[i] for i in mine], [completions[i] for i in mine], total, sync=True)
    step(whole, prompts, completions, total, sync=False)  # the whole batch here: what one process does
    checkpoints.save(Path(out) / "run", 1, sharded, {}, acc.process_index, acc)
    if acc.is_main_process:
        whole.model.save_pretrained(Path(out) / "replicated")
        whole.processor.save_pretrained(Path(out) / "replicated")
        print(json.dumps({"tied_before": tied_before, "tied_after": tied_after, "world": acc.num_processes}))
    acc.end_training()


if __name__ == "__main__":
    main(*sys.argv[1:3])
