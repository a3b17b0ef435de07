"""Peak memory of the log-prob pass at Qwen3.5's vocabulary (248,320): before and after chunking.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_logprob_memory.py [--json OUT]

What is measured: the LM head applied to T completion positions, log-softmax, the target's
log-prob and the entropy, then backward of the sum of the log-probs (gradients of the hidden
states and of the head), for T = 1,024, 4,096 and 12,288:

* before: the unchunked path mmzppo had (`reference_logprobs` below, kept only here as the
  reference): the head's logits for every position at once, a float32 copy, log-softmax,
  gather, entropy, autograd through all of it;
* after: `mmzppo.policy.logprobs.HeadLogprob` over chunks of `--chunk` positions (1,024, the
  config's `logprob_chunk_tokens` default, and 256), backward recomputing each chunk.

Each measurement runs in a fresh process and reports its peak resident memory above what it held
before the pass (the head, the hidden states and the targets already allocated), so Python and
torch's own footprint cancels. The before path is measured at 256, 512 and 1,024 tokens only:
at 4,096 it would take about 18 GiB of this shared 24 GiB machine and at 12,288 about 55; those
two are EXTRAPOLATED linearly from its measured bytes per (token x vocabulary entry) at 1,024
tokens, and printed as such. The hidden size is 64, not the 0.8B's 1,024: the memory in question
is tokens x vocabulary, which does not depend on it, and 1,024 would make the 12,288-token
matmuls take many minutes on this CPU; the head's own V x H weight and gradient (2 x 63 MiB
here, 2 x 0.95 GiB at H = 1,024) come on top of both paths alike. float32 throughout (the CPU's
compute dtype; on a GPU in bfloat16 the logits themselves are half as large, the float32 copies
the same).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import torch

VOCAB = 248_320
HIDDEN = 64
GIB = 2**30


def reference_logprobs(hidden, weight, targets):
    """The unchunked path (mmzppo before chunking): every position's logits at once."""
    logits = (hidden @ weight.T).float()
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():
        entropy = torch.special.entr(logp.exp()).sum(-1)
    return picked, entropy


def chunked_logprobs(hidden, weight, targets, chunk):
    from mmzppo.policy.logprobs import HeadLogprob

    suppress = torch.zeros(0, dtype=torch.long)
    parts = [
        HeadLogprob.apply(hidden[i : i + chunk], weight, None, targets[i : i + chunk], suppress, 1.0, torch.float32)
        for i in range(0, hidden.shape[0], chunk)
    ]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def one(path: str, tokens: int, chunk: int) -> dict:
    """One pass in this process: peak RSS above the inputs, in bytes."""
    torch.manual_seed(0)
    weight = (torch.randn(VOCAB, HIDDEN) * 0.02).requires_grad_()
    hidden = torch.randn(tokens, HIDDEN).requires_grad_()
    targets = torch.randint(0, VOCAB, (tokens,))
    before = rss_bytes()
    if path == "before":
        picked, _ = reference_logprobs(hidden, weight, targets)
    else:
        picked, _ = chunked_logprobs(hidden, weight, targets, chunk)
    picked.sum().backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"path": path, "tokens": tokens, "chunk": chunk, "peak_above_inputs": peak - before}


def measure(path: str, tokens: int, chunk: int = 0) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", path, str(tokens), str(chunk)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--one", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        path, tokens, chunk = args.one
        print(json.dumps(one(path, int(tokens), int(chunk))))
        return
    torch.set_num_threads(1)
    rows = [measure("before", t) for t in (256, 512, 1024)]
    per_entry = rows[-1]["peak_above_inputs"] / (1024 * VOCAB)
    for t in (4096, 12288):
        rows.append(
            {
                "path": "before",
                "tokens": t,
                "chunk": 0,
                "peak_above_inputs": per_entry * t * VOCAB,
                "extrapolated": True,
            }
        )
    for chunk in (1024, 256):
        rows += [measure("after", t, chunk) for t in (1024, 4096, 12288)]
    print(f"vocabulary {VOCAB:,}, hidden {HIDDEN}, float32, forward + backward; peak RSS above the inputs")
    print(f"before: {per_entry:.1f} bytes per (token x vocabulary entry), measured at 1,024 tokens")
    print(f"{'path':<22}{'tokens':>8}{'peak GiB':>10}")
    for r in rows:
        name = (
            r["path"]
            + (f" (chunk {r['chunk']})" if r["chunk"] else "")
            + (" extrapolated" if r.get("extrapolated") else "")
        )
        print(f"{name:<22}{r['tokens']:>8}{r['peak_above_inputs'] / GIB:>10.2f}")
    after = {(r["chunk"], r["tokens"]): r["peak_above_inputs"] for r in rows if r["path"] == "after"}
    before = {r["tokens"]: r["peak_above_inputs"] for r in rows if r["path"] == "before"}
    for t in (1024, 4096, 12288):
        print(
            f"after / before at {t:,} tokens: chunk 1024 {after[(1024, t)] / before[t]:.3f}, chunk 256 {after[(256, t)] / before[t]:.3f}"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"vocab": VOCAB, "hidden": HIDDEN, "bytes_per_entry_before": per_entry, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
