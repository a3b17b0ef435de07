"""The child process of tests/real_data/test_eval_vllm.py: the vLLM evaluation backend on an
UNTIED tiny `s` model, in a process of its own (vLLM holds one engine per process, and the test
session's engine serves the tied `s` fixture, whose random weights make greedy decoding repeat
one token, so agreement on it would say nothing).

    python tests/real_data/eval_vllm_child.py MODEL_DIR BENCHDATA WORK_DIR  -> WORK_DIR/result.json

1. Greedy, 16 new tokens, transformers (fp32) and vLLM (bf16) on the same prompts (the
   synthetic suites and real MathVision, MMMU with its two-image item, TempCompass, TGIF-QA and
   GSM8K items): per item, equal or not, and where they part the transformers model's log-prob
   margin between its own token and the engine's.
2. A sampled vLLM run (the paper's decoding, a seed per request) through `evaluate`: whole,
   then cut in the middle of a batch and resumed; the items per engine call of each.
"""

from __future__ import annotations

import json
import shutil
import sys
from itertools import islice
from pathlib import Path

ITEMS = {  # benchmark: item indices (MMMU 43 has two images)
    "synthetic_image": range(3),
    "synthetic_video": range(3),
    "synthetic_text": range(3),
    "mathvision": range(2),
    "mmmu": [43],
    "tempcompass": range(2),
    "tgifqa": range(1),
    "gsm8k": range(2),
}
NAMES = ("synthetic_image", "synthetic_video", "synthetic_text")


def main(model: Path, benchdata: Path, work: Path) -> None:
    from mmzppo.data.vision import TINY_VISION
    from mmzppo.eval.generation import Generator
    from mmzppo.eval.loaders import load_items
    from mmzppo.eval.runner import EvalConfig, build_prompt, evaluate
    from mmzppo.eval.suites import load_benchmarks, locate
    from mmzppo.policy.encoding import encode_prompts
    from mmzppo.policy.generation.vllm import VLLMSettings
    from mmzppo.policy.loading import load_policy
    from mmzppo.policy.logprobs import completion_logprobs

    engine = VLLMSettings(kv_cache_gb=0.25, max_model_len=1024, max_images=2)

    def config(backend, **kw):
        base = dict(model=str(model), backend=backend, vision=TINY_VISION, dtype="float32", engine=engine)
        return EvalConfig(**{**base, "progress": False, **kw})

    # 1. greedy agreement
    benches = load_benchmarks()
    prompts = []
    for name, index in ITEMS.items():
        bench = benches[name]
        items = list(islice(load_items(bench, locate(bench, benchdata), work / "media" / name), max(index) + 1))
        prompts += [build_prompt(bench, items[i]) for i in index]
    policy = load_policy(model, vision=TINY_VISION, dtype="float32")
    hf = Generator(policy, config("hf", greedy=True, max_new_tokens=16))
    vllm = Generator(policy, config("vllm", greedy=True, max_new_tokens=16))
    ours, theirs = hf.run(prompts), vllm.run(prompts)
    greedy = []
    for prompt, (a, _, error_a), (b, _, error_b) in zip(prompts, ours, theirs):
        row = {"uid": prompt.uid, "images": len(prompt.sample.images), "video": prompt.sample.video is not None}
        row.update(errors=[error_a, error_b], distinct_tokens=len(set(a.token_ids)))
        row.update(equal=a.token_ids == b.token_ids, same_text=a.text == b.text)
        if not row["equal"]:
            j = next((k for k, (x, y) in enumerate(zip(a.token_ids, b.token_ids)) if x != y), None)
            if j is not None:
                (enc,) = encode_prompts(policy.processor, policy.vision, [prompt])
                pair = [a.token_ids[: j + 1], b.token_ids[: j + 1]]
                lp = completion_logprobs(policy.model, policy.tokenizer, [enc, enc], pair, with_grad=False).logprobs
                row.update(parted_at=j, margin=float(lp[0, j] - lp[1, j]))
        greedy.append(row)

    # 2. a sampled run, whole and cut + resumed
    calls: list[int] = []
    original = Generator.run
    Generator.run = lambda self, prompts: calls.append(len(prompts)) or original(self, prompts)
    kw = dict(suite="synthetic", limit=4, max_new_tokens=12, batch_size=4)
    whole, cut = work / "whole", work / "cut"
    evaluate(config("vllm", output=whole, **kw))
    whole_calls = list(calls)
    shutil.copytree(whole, cut)  # killed in the image benchmark: one item logged, half of the next line
    for name in NAMES:
        (cut / f"{name}.json").unlink()
    lines = (cut / "synthetic_image.samples.jsonl").read_text().splitlines(keepends=True)
    (cut / "synthetic_image.samples.jsonl").write_text(lines[0] + lines[1][:40])
    for name in NAMES[1:]:
        (cut / f"{name}.samples.jsonl").unlink()
    calls.clear()
    evaluate(config("vllm", output=cut, resume=True, **kw))

    def responses(out):
        return {
            n: {r["uid"]: r["response"] for r in map(json.loads, (out / f"{n}.samples.jsonl").open())} for n in NAMES
        }

    result = {
        "greedy": greedy,
        "sampled": {
            "whole_calls": whole_calls,
            "resumed_calls": calls,
            "whole": responses(whole),
            "resumed": responses(cut),
            "settings": json.loads((whole / "run.json").read_text())["settings"],
        },
    }
    (work / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
