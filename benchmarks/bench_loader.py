"""Can the shard loader feed rollout? Loader samples/s against the samples/s rollout consumes.

    .venv/bin/python benchmarks/bench_loader.py [--limit 200] [--repeats 5]

Loader: shards converted from ../shared/benchdata (MathVision images; TempCompass + TGIF-QA
mp4 videos), read by `ShardReader` under TINY_VISION (resampling, so `--limit` samples are
spread evenly over the workers however few videos there are) and turned into model inputs
by `mmzppo.policy.encoding.encode_prompts` with the tiny `s` model's processor, all inside the DataLoader
workers (0, 1, 2 of them). Timed from the first sample to the last, so worker start-up is
left out. Rollout: the tiny `s` model generating 8 rollouts x 32 new tokens for one prompt of
the same kind (as benchmarks/bench_tiny_models.py), i.e. 1 / (fastest generate time)
samples/s, measured right before each loader row. This machine is noisy and noise only adds
time, so the rollout rate is an upper bound and the loader rate (a throughput over --limit
samples) a lower one: the printed ratio errs on the low side. The target is a ratio >= 10:
the loader must never be what rollout waits for.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from mmzppo.data.convert import convert
from mmzppo.data.formats import DEFAULT_BENCHDATA
from mmzppo.data.shards import ShardReader
from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.encoding import collate, encode_prompts
from mmzppo.policy.loading import load_policy, suppressed_token_ids
from mmzppo.prompting.builders import plain
from mmzppo.tools.models import build_tiny


class Encoded(torch.utils.data.IterableDataset):
    """Reader + vision preprocessing in one dataset, so DataLoader workers do both."""

    def __init__(self, reader: ShardReader, processor):
        self.reader, self.processor = reader, processor

    def __iter__(self):
        for sample in self.reader:
            yield encode_prompts(self.processor, TINY_VISION, [plain(sample)])[0].inputs


def one_thread(_: int) -> None:
    torch.set_num_threads(1)  # each worker is one core; more threads only fight over them


def loader_rate(shards: Path, processor, workers: int, limit: int) -> tuple[float, int]:
    """Samples/s from the first sample to the last (worker start-up excluded)."""
    data = Encoded(ShardReader(shards, vision=TINY_VISION, resample=True, epoch_length=limit), processor)
    loader = torch.utils.data.DataLoader(
        data, batch_size=None, num_workers=workers, worker_init_fn=one_thread if workers else None
    )
    n, start = 0, None
    for _ in loader:
        n += 1
        if start is None:
            start = time.perf_counter()
    return (n - 1) / (time.perf_counter() - start), n


def rollout_generate(policy, sample, new_tokens: int = 32, group: int = 8):
    """A callable: the tiny model generating `group` x exactly `new_tokens` tokens for one prompt."""
    (prompt,) = encode_prompts(policy.processor, policy.vision, [plain(sample)])
    inputs = collate([prompt] * group, policy.tokenizer.pad_token_id)

    def generate():
        policy.model.generate(
            **inputs,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=True,
            top_k=0,
            suppress_tokens=suppressed_token_ids(policy.tokenizer),
        )

    return generate


def rollout_rate(policy, sample, repeats: int, new_tokens: int = 32, group: int = 8) -> float:
    """Prompts/s the tiny model consumes when it generates `group` x `new_tokens` per prompt."""
    generate = rollout_generate(policy, sample, new_tokens, group)
    generate()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generate()
        times.append(time.perf_counter() - start)
    return 1.0 / min(times)  # noise only ever adds time: the fastest run is the cleanest


def make_shards(benchdata: Path, root: Path) -> dict:
    """Converted benchdata shards: {"image": MathVision folder, "video": TempCompass + TGIF-QA tar files}."""
    convert("mathvision", benchdata / "vlm/mathvision", root / "image", maxcount=40, progress=False)
    # every video sample stores its own mp4 copy: 32 + 12 samples, resampled up to --limit
    convert("tempcompass", benchdata / "video/tempcompass", root / "video" / "a", maxcount=4, progress=False)
    convert("tgifqa", benchdata / "video/tgifqa", root / "video" / "b", maxcount=4, progress=False)
    return {"image": root / "image", "video": sorted(map(str, (root / "video").glob("*/*.tar")))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchdata", type=Path, default=DEFAULT_BENCHDATA)
    parser.add_argument("--limit", type=int, default=200, help="samples per loader measurement")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shards_of = make_shards(args.benchdata, tmp)
        policy = load_policy(build_tiny(tmp / "s", "s"), vision=TINY_VISION)

        rows = []
        for kind, shards in shards_of.items():
            first = next(iter(ShardReader(shards, vision=TINY_VISION)))
            for workers in (0, 1, 2):
                rollout = rollout_rate(policy, first, args.repeats)
                rate, n = loader_rate(shards, policy.processor, workers, args.limit)
                rows.append((kind, workers, n, rate, rollout))
    print(f"tiny s model, TINY_VISION, torch threads {torch.get_num_threads()}, rollout = 8 x 32 tokens per prompt")
    print(f"{'media':<7}{'workers':>8}{'samples':>9}{'loader/s':>11}{'rollout/s':>11}{'ratio':>8}  target >= 10x")
    for kind, workers, n, rate, rollout in rows:
        ratio = rate / rollout
        verdict = "ok" if ratio >= 10 else "BELOW"
        print(f"{kind:<7}{workers:>8}{n:>9}{rate:>11.1f}{rollout:>11.2f}{ratio:>8.1f}  {verdict}")


if __name__ == "__main__":
    main()
