"""`python -m mmzppo.teachers annotate`: teacher answers and their grades written into shards.

    python -m mmzppo.teachers annotate --shards data/train --out data/train-teacher \\
        (--endpoint http://127.0.0.1:8000 [--served-model NAME] | --model PATH) --n 4

For `teacher_kind: precomputed` (see `mmzppo.teachers.text.PrecomputedTeacher`): every question of
every shard gets `--n` teacher answers to its plain prompt, graded with the training reward
against the gold answer, stored as the shard's `<uid>.teacher.json` member
([{"response", "reward", "parsed"}], the shape the shard writer and reader already know).
Every other member is copied byte for byte, so the media are unchanged; a sample the reader
would skip (damaged) is copied as it is, without answers.

Resumable: answers are appended, question by question, to `OUT/.annotate/<shard>.jsonl`
as they arrive, and a shard's tar is written under a temporary name and renamed when
complete; a rerun skips finished shards and re-uses every stored answer. A progress bar
counts questions. A teacher failure stops the tool with the endpoint's message (rerun to
resume); it never writes a shard with answers missing.

The teacher sees the media under `--vision` (default: the paper's settings; `tiny` for the
tiny test models), as the student will.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

from tqdm.auto import tqdm


def stored_answers(progress: Path) -> dict[str, list[dict]]:
    """uid -> answers from a progress file (a torn last line, from a kill, is ignored)."""
    out: dict[str, list[dict]] = {}
    if not progress.is_file():
        return out
    for line in progress.read_text().splitlines():
        try:
            row = json.loads(line)
            out[row["uid"]] = row["teacher"]
        except (ValueError, KeyError, TypeError):
            continue
    return out


def write_tar(path: Path, samples: list[tuple[str, dict[str, bytes]]]) -> None:
    """A WebDataset tar of (key, {suffix: bytes}) under a temporary name, then renamed."""
    tmp = path.with_name(path.name + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        for key, members in samples:
            for suffix in sorted(members, key=lambda s: (s != "json", s)):
                data = members[suffix]
                info = tarfile.TarInfo(f"{key}.{suffix}")
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
    tmp.replace(path)


def make_teacher(args, vision):
    """The teacher answering: a served one (`--endpoint`) or a local model (`--model`)."""
    from mmzppo.policy.generation.base import SamplingParams

    sampling = SamplingParams(temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens)
    if args.endpoint:
        from mmzppo.teachers.client import ChatClient
        from mmzppo.teachers.served import ServerTeacher

        client = ChatClient(
            args.endpoint, args.served_model, concurrency=args.concurrency, timeout=args.timeout, retries=args.retries
        )
        return ServerTeacher(client, vision, sampling, compress_with_model=False, failure="stop")
    from mmzppo.policy.loading import load_policy
    from mmzppo.teachers.local import LocalTeacher

    policy = load_policy(args.model, dtype=args.dtype, vision=vision)
    return LocalTeacher(policy, sampling=sampling, batch_size=args.batch * args.n)


def answer_and_store(teacher, pending: list, records: list, progress: Path, n: int, totals: dict) -> None:
    """`n` graded teacher answers for each pending (index in `records`, Sample): appended to the
    shard's progress file as they arrive and put into the record's `teacher.json` member."""
    from mmzppo.grading.grader import grade

    if not pending:
        return
    answers = teacher.answer([s for _, s in pending], n)
    with open(progress, "a") as f:
        for (index, s), group in zip(pending, answers):
            graded = []
            for a in group:
                g = grade(a.text, s.answer, s.answer_type, s.choices)
                graded.append({"response": a.text, "reward": g.reward, "parsed": g.parsed})
            f.write(json.dumps({"uid": s.uid, "teacher": graded}, ensure_ascii=False) + "\n")
            records[index][1]["teacher.json"] = json.dumps(graded, ensure_ascii=False).encode()
            totals["answered_now"] += 1
            totals["answers"] += len(graded)
            totals["correct"] += sum(g["reward"] == 1.0 for g in graded)
        f.flush()


def annotate(args) -> dict:
    from mmzppo.data.shards import RawSample, decode_sample, iter_shard, parse_info, resolve_shards
    from mmzppo.data.shards.layout import SkipSample
    from mmzppo.data.vision import TINY_VISION, VisionSettings

    vision = TINY_VISION if args.vision == "tiny" else VisionSettings()
    shards = resolve_shards(args.shards)
    out = Path(args.out)
    (out / ".annotate").mkdir(parents=True, exist_ok=True)
    teacher = make_teacher(args, vision)
    totals = {
        "shards": len(shards),
        "shards_skipped_done": 0,
        "questions": 0,
        "answered_now": 0,
        "reused": 0,
        "copied_unreadable": 0,
        "correct": 0,
        "answers": 0,
    }
    bar = tqdm(desc="annotate", unit="question", dynamic_ncols=True)
    for shard in shards:
        name = Path(shard).name
        if (out / name).is_file():
            totals["shards_skipped_done"] += 1
            continue
        progress = out / ".annotate" / f"{name}.jsonl"
        done = stored_answers(progress)
        records: list[tuple[str, dict[str, bytes]]] = []
        pending: list[tuple[int, object]] = []  # (index in records, Sample)

        for item in iter_shard(shard):
            if not isinstance(item, RawSample):
                continue  # a damaged tar's lost sample: nothing to copy
            members = {k: v for k, v in item.members.items() if k != "teacher.json"}
            records.append((item.key, members))
            try:
                sample = decode_sample(item, vision, parse_info(item))
            except SkipSample:
                totals["copied_unreadable"] += 1
                continue
            totals["questions"] += 1
            if sample.uid in done:
                members["teacher.json"] = json.dumps(done[sample.uid], ensure_ascii=False).encode()
                totals["reused"] += 1
                bar.update(1)
                continue
            pending.append((len(records) - 1, sample))
            if len(pending) >= args.batch:
                answer_and_store(teacher, pending, records, progress, args.n, totals)
                bar.update(len(pending))
                pending.clear()
        answer_and_store(teacher, pending, records, progress, args.n, totals)
        bar.update(len(pending))
        write_tar(out / name, records)
    bar.close()
    index = Path(args.shards) / "index.json" if Path(args.shards).is_dir() else None
    if index is not None and index.is_file():
        data = json.loads(index.read_text())
        data["teacher"] = {"n": args.n, "source": args.endpoint or str(args.model), "vision": vision.to_dict()}
        (out / "index.json").write_text(json.dumps(data, indent=2))
    return totals


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m mmzppo.teachers", description="teacher tools")
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("annotate", help="write graded teacher answers into shards (teacher.json)")
    a.add_argument("--shards", required=True, help="input shards: a folder, glob or brace pattern")
    a.add_argument("--out", required=True, help="output folder (same shard names, teacher.json added)")
    who = a.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--endpoint", help="OpenAI-compatible server of the teacher (vllm serve ...), or several comma-separated"
    )
    who.add_argument("--model", help="a local teacher model folder or hub id")
    a.add_argument("--served-model", default=None, help="model name to send (default: the server's first)")
    a.add_argument("--n", type=int, default=4, help="answers per question (G_T; paper: 4)")
    a.add_argument("--max-new-tokens", type=int, default=12_288)
    a.add_argument("--temperature", type=float, default=1.0)
    a.add_argument("--top-p", type=float, default=1.0)
    a.add_argument("--vision", choices=["paper", "tiny"], default="paper", help="media budgets the teacher sees")
    a.add_argument("--batch", type=int, default=16, help="questions per teacher call (and per progress write)")
    a.add_argument("--concurrency", type=int, default=8, help="server requests in flight")
    a.add_argument("--timeout", type=float, default=600.0, help="seconds per server request")
    a.add_argument("--retries", type=int, default=3)
    a.add_argument("--dtype", default="bfloat16", help="local model dtype")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error("--n must be >= 1")
    from mmzppo.teachers.client import ServerError
    from mmzppo.teachers.served import TeacherUnavailable

    try:
        totals = annotate(args)
    except (TeacherUnavailable, ServerError) as e:
        sys.exit(
            f"annotate stopped: {e}\n(answers so far are kept under {Path(args.out) / '.annotate'}; "
            "rerun the same command to resume)"
        )
    print(json.dumps(totals))


if __name__ == "__main__":
    main()
