"""Look at prompts as pictures and text, not JSON: `python -m mmzppo.inspect`.

    python -m mmzppo.inspect RUN_DIR --out report.html [--n N] [--kind bcq --kind ncq]
    python -m mmzppo.inspect --shards DIR --out report.html [--n N]

writes one static HTML page (no server, no external assets, no scripts): for every logged
prompt of a run folder's `samples.jsonl` (or every sample of a shard folder) the images
inline as base64 data URIs, the video as a strip of frames (an mp4 file is decoded to a few
evenly spaced frames with decord, PyAV as fallback; a frame list shows its saved frames),
the prompt text with the candidates highlighted, the candidates side by side with their
provenance label (teacher-correct / student-wrong: the label is the inspector's, the model
never sees one), and the student's rollouts with their rewards coloured green/red. A shard
folder shows each sample's plain prompt, gold answer and its teacher responses if it has
any. Every text is HTML-escaped: a prompt holding `<script>` is shown, never run.

The same pieces serve `notebooks/inspect_prompts.ipynb`: `record_from_prompt` + `render_record`
show a freshly built prompt with the media exactly as the processor receives them
(`model_media`), `token_counts` splits the encoded prompt into question / media / candidates
/ the rest, and `token_runs` lists the exact token sequence the model receives (media
placeholders expanded, long runs such as `<|image_pad|>x12` collapsed). `tiny_run` makes a
2-step tiny ZPPO run to look at when there is no run folder at hand.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import itertools
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from PIL import Image

import mmzppo  # noqa: F401  (torchvision compat before qwen-vl-utils / transformers)
from mmzppo.data.formats import read_jsonl
from mmzppo.data.sample import Sample, VisionSettings

LABELS = {"teacher_correct": "teacher-correct", "student_wrong": "student-wrong"}
VIDEO_FRAMES = 6  # frames decoded from an mp4 file for its strip
MAX_STRIP = 16  # at most this many frames of a frame list are shown (evenly spaced)
THUMB_SIDE = 320  # longest side of an embedded picture, in pixels
# How a shard folder's video is sampled for the report: a few frames at the default budget.
REPORT_VISION = VisionSettings(fps=None, nframes=VIDEO_FRAMES)


# --------------------------------------------------------------------------- text


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(text: Any) -> str:
    """Text safe to put in HTML: control characters made visible (U+2400 pictures), then
    escaped (`<`, `>`, `&`, quotes)."""
    text = _CONTROL.sub(lambda m: chr(0x2400 + ord(m[0])) if m[0] != "\x7f" else "\u2421", str(text))
    return html.escape(text, quote=True)


def candidate_spans(prompt: str, candidates: list[dict]) -> list[tuple[int, int, str]]:
    """(start, end, label) of each candidate's text inside the prompt text, in order."""
    spans, pos = [], 0
    for c in candidates:
        start = prompt.find(c["text"], pos) if c.get("text") else -1
        if start < 0:
            continue
        spans.append((start, start + len(c["text"]), c.get("label", "")))
        pos = start + len(c["text"])
    return spans


def highlight(prompt: str, candidates: list[dict]) -> str:
    """The prompt text as escaped HTML, each candidate wrapped in a coloured <mark> with its
    position letter (the colour and label are the inspector's; the prompt has none)."""
    out, pos = [], 0
    for i, (start, end, label) in enumerate(candidate_spans(prompt, candidates)):
        tag = f"{chr(65 + i)} · {LABELS.get(label, label)}"
        out.append(clean(prompt[pos:start]))
        out.append(f'<mark class="mz-mark mz-{clean(label)}" title="{clean(tag)}">{clean(prompt[start:end])}</mark>')
        pos = end
    out.append(clean(prompt[pos:]))
    return "".join(out)


# --------------------------------------------------------------------------- media


def open_media(source: Any, base: Path | None = None) -> Image.Image | None:
    """A PIL image from a PIL image or a path (relative paths: to `base`, then to the cwd)."""
    if isinstance(source, Image.Image):
        return source
    path = Path(str(source).removeprefix("file://"))
    for p in ([base / path] if base is not None and not path.is_absolute() else []) + [path]:
        if p.is_file():
            try:
                with Image.open(p) as im:
                    return im.convert("RGB")
            except OSError:
                return None
    return None


def resolve(source: Any, base: Path | None) -> Path:
    path = Path(str(source).removeprefix("file://"))
    if base is not None and not path.is_absolute() and (base / path).exists():
        return base / path
    return path


def data_uri(image: Image.Image, max_side: int = THUMB_SIDE) -> str:
    """A picture as a data URI: PNG (exact colours) unless JPEG is much smaller."""
    im = image.convert("RGB")
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    mime, data = "image/png", buf.getvalue()
    if len(data) > 40_000:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=85)
        if len(buf.getvalue()) < len(data) // 2:
            mime, data = "image/jpeg", buf.getvalue()
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def evenly(n_total: int, n: int) -> list[int]:
    if n_total <= n:
        return list(range(n_total))
    return [round(i * (n_total - 1) / (n - 1)) for i in range(n)]


def mp4_frames(path: str | Path, n: int = VIDEO_FRAMES) -> tuple[list[Image.Image], list[int], int, float]:
    """`n` evenly spaced frames of a video file: (frames, indices, total frames, fps).

    decord first (what the processor uses), PyAV when decord cannot read the file."""
    try:
        import decord

        reader = decord.VideoReader(str(path), num_threads=1)
        total, fps = len(reader), float(reader.get_avg_fps())
        idx = evenly(total, n)
        frames = [Image.fromarray(a) for a in reader.get_batch(idx).asnumpy()]
        return frames, idx, total, fps
    except Exception:  # decord missing or unable to read it: PyAV decodes every frame
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 0) or 0.0
            every = [f.to_image() for f in container.decode(stream)]
        idx = evenly(len(every), n)
        return [every[i] for i in idx], idx, len(every), fps


def media_blocks(record: dict, base: Path | None = None) -> list[dict]:
    """What to show of a record's media: [{"kind", "frames": [PIL | None], "captions", "note"}].

    A record may carry `media` (already decoded, as `model_media` returns); otherwise its
    `images` and `video` (paths or PIL) are opened here."""
    if record.get("media") is not None:
        return record["media"]
    blocks = []
    for i, source in enumerate(record.get("images") or []):
        im = open_media(source, base)
        size = f"{im.width}×{im.height} px" if im else f"missing: {source}"
        blocks.append({"kind": "image", "frames": [im], "captions": [f"image {i + 1} · {size}"], "note": ""})
    video, fps = record.get("video"), record.get("video_fps")
    if isinstance(video, list):
        idx = evenly(len(video), MAX_STRIP)
        frames = [open_media(video[i], base) for i in idx]
        captions = [f"#{i}" + (f" · {i / fps:.1f} s" if fps else "") for i in idx]
        note = f"frame list: {len(video)} frames" + (f" at {fps:.2f} fps" if fps else "")
        note += f", {len(idx)} shown" if len(idx) < len(video) else ""
        blocks.append({"kind": "video", "frames": frames, "captions": captions, "note": note})
    elif video:
        path = resolve(video, base)
        try:
            frames, idx, total, native = mp4_frames(path)
            captions = [f"#{i}" + (f" · {i / native:.1f} s" if native else "") for i in idx]
            note = f"{Path(str(video)).name}: {total} frames at {native:.2f} fps, {len(idx)} evenly spaced shown"
        except Exception as e:  # a missing or broken file is shown as such
            frames, captions, note = [None], ["missing"], f"cannot read video {video}: {e}"
        blocks.append({"kind": "video", "frames": frames, "captions": captions, "note": note})
    return blocks


def model_media(prompt, vision: VisionSettings) -> list[dict]:
    """The media of a prompt exactly as the processor receives them under `vision`: images
    resized to the pixel budget, the video frames qwen-vl-utils samples (at their size)."""
    import numpy as np

    from mmzppo.inputs import load_media

    blocks, n_image = [], 0
    for message in prompt.messages:
        for part in message["content"] if isinstance(message["content"], list) else []:
            if part.get("type") == "image":
                _, im = load_media(part, vision, prompt.uid, f"images[{n_image}]")
                n_image += 1
                caption = f"image {n_image} · {im.width}×{im.height} px as the model sees it"
                blocks.append({"kind": "image", "frames": [im], "captions": [caption], "note": ""})
            elif part.get("type") == "video":
                _, video, meta = load_media(part, vision, prompt.uid, "video")
                arr = video.clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
                frames = [Image.fromarray(np.ascontiguousarray(a)) for a in arr]
                idx = meta.get("frames_indices") or list(range(len(frames)))
                fps = meta.get("fps")
                captions = [f"#{i}" for i in idx][: len(frames)] + [" (pad)"] * max(0, len(frames) - len(idx))
                note = (f"{len(frames)} frames of {meta.get('total_num_frames', len(frames))}"
                        + (f" (source {fps:.2f} fps)" if fps else "")
                        + f", {frames[0].width}×{frames[0].height} px each, as the model sees them")  # fmt: skip
                blocks.append({"kind": "video", "frames": frames, "captions": captions, "note": note})
    return blocks


# --------------------------------------------------------------------------- records


def record_from_prompt(prompt, sample: Sample, *, vision: VisionSettings | None = None, responses=None) -> dict:
    """A freshly built `Prompt` as a record like those of samples.jsonl (for `render_record`).

    With `vision`, the media are shown as the processor receives them (`model_media`)."""
    from mmzppo.inputs import text_content

    text = text_content(prompt.messages[0]["content"])
    for m in prompt.messages[1:]:  # a prefix prompt's forced start of the assistant turn
        text += f"\n\n[{m['role']} turn, continued by the student:]\n{text_content(m['content'])}"
    record = {
        "uid": sample.uid, "kind": prompt.kind, "source": sample.source, "gold": sample.answer,
        "images": sample.images, "video": sample.video, "video_fps": sample.video_fps, "prompt": text,
        "candidates": [{"label": c.label, "text": c.text} for c in prompt.candidates],
        "wrong_answers": prompt.wrong_answers, "responses": responses or [],
    }  # fmt: skip
    if vision is not None:
        record["media"] = model_media(prompt, vision)
    return record


def run_records(run_dir: str | Path, n: int | None = None, kinds: Iterable[str] | None = None) -> list[dict]:
    """The first `n` records of a run folder's samples.jsonl (only `kinds`, if given)."""
    path = Path(run_dir) / "samples.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a run folder (python -m mmzppo.train)?")
    kinds = set(kinds or [])
    rows = (r for r in read_jsonl(path) if not kinds or r.get("kind") in kinds)
    return list(itertools.islice(rows, n))


def shard_records(shards: str | Path, n: int | None = None, vision: VisionSettings = REPORT_VISION) -> list[dict]:
    """The first `n` samples of a shard folder as records: plain prompt, gold, teacher responses."""
    from mmzppo.data.shards import ShardReader
    from mmzppo.prompts import plain

    out = []
    for s in itertools.islice(ShardReader(shards, vision=vision), n):
        out.append({
            "uid": s.uid, "kind": "plain", "source": s.source, "gold": s.answer, "images": s.images,
            "video": s.video, "video_fps": s.video_fps, "prompt": plain(s).text, "candidates": [],
            "wrong_answers": [], "responses": [], "teacher": s.meta.get("teacher") or [],
            "solution": s.solution, "choices": s.choices,
        })  # fmt: skip
    return out


# --------------------------------------------------------------------------- HTML

STYLE = """
.mz-report{font:14px/1.4 system-ui,sans-serif;color:#1d1d1f;max-width:1400px;margin:auto}
.mz-card{border:1px solid #ccc;border-radius:8px;padding:10px 14px;margin:14px 0;background:#fff}
.mz-card h3{margin:0 0 6px;font-size:15px}
.mz-card h4{margin:10px 0 4px;font-size:13px;color:#555}
.mz-badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.mz-kind-plain{background:#6b7280}.mz-kind-bcq{background:#2563eb}.mz-kind-ncq{background:#9333ea}
.mz-kind-hint{background:#0d9488}.mz-kind-prefix{background:#b45309}
.mz-meta{color:#555;font-size:12px}
.mz-media{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.mz-media figure{margin:0;text-align:center;font-size:11px;color:#555}
.mz-img{min-height:120px;max-height:240px;max-width:100%;border:1px solid #ddd}
.mz-strip{display:flex;gap:3px;overflow-x:auto;border:1px solid #ddd;padding:3px;background:#f4f4f5}
.mz-frame{height:96px;image-rendering:pixelated}
.mz-small{image-rendering:pixelated}
.mz-missing{display:inline-block;padding:30px;border:1px dashed #c00;color:#c00}
pre.mz-text{white-space:pre-wrap;word-break:break-word;background:#f8f8f8;border:1px solid #e3e3e3;
  padding:8px;margin:0;font:12px/1.45 ui-monospace,monospace;max-height:420px;overflow:auto}
.mz-mark{border-radius:3px;padding:0 1px}
.mz-teacher_correct{background:#d7f5dd;outline:1px solid #31a24c}
.mz-student_wrong{background:#fde2e1;outline:1px solid #d93025}
.mz-cands{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:10px}
.mz-cand{border:2px solid #999;border-radius:6px;padding:6px}
.mz-cand.mz-teacher_correct{border-color:#31a24c;outline:none}
.mz-cand.mz-student_wrong{border-color:#d93025;outline:none}
.mz-label{font-weight:600;font-size:12px;margin-bottom:4px}
table.mz-resp{border-collapse:collapse;width:100%;font-size:12px}
table.mz-resp td,table.mz-resp th{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
td.mz-reward{font-weight:700;text-align:center;width:52px}
.mz-pos{background:#c9f2d0;color:#0b6b1f}.mz-neg{background:#fbd3d0;color:#a50e0e}.mz-mid{background:#fdf0c4}
.mz-tokens{display:flex;flex-wrap:wrap;gap:2px;font:12px/1.5 ui-monospace,monospace}
.mz-tokens span{border-radius:2px;padding:0 2px;white-space:pre}
.mz-tokens .mz-t0{background:#e0ecff}.mz-tokens .mz-t1{background:#ffe9d6}
.mz-tokens .mz-run{background:#d9f2e6;font-weight:600}
.mz-toc{font-size:12px;columns:3}
"""


def _img(im: Image.Image | None, css: str, caption: str) -> str:
    if im is None:
        return f'<figure><span class="mz-missing">missing</span><figcaption>{clean(caption)}</figcaption></figure>'
    small = " mz-small" if max(im.size) < 200 else ""
    return (f'<figure><img class="{css}{small}" src="{data_uri(im)}" alt="{clean(caption)}">'
            f"<figcaption>{clean(caption)}</figcaption></figure>")  # fmt: skip


def render_media(blocks: list[dict]) -> str:
    """Images as pictures, a video as one strip of frames; one <img> per picture or frame."""
    parts = []
    for b in blocks:
        if b["kind"] == "image":
            parts.append(_img(b["frames"][0], "mz-img", b["captions"][0]))
        else:
            frames = "".join(_img(f, "mz-frame", c) for f, c in zip(b["frames"], b["captions"]))
            parts.append(
                f'<div><div class="mz-strip">{frames}</div><div class="mz-meta">video: {clean(b["note"])}</div></div>'
            )
    return f'<div class="mz-media">{"".join(parts)}</div>' if parts else ""


def _or_dash(value: Any) -> Any:
    return "-" if value is None else value


def reward_class(reward: float) -> str:
    return "mz-pos" if reward >= 1.0 else "mz-neg" if reward <= 0.0 else "mz-mid"


def render_responses(responses: list[dict], title: str) -> str:
    if not responses:
        return ""
    rewards = [float(r.get("reward", 0.0)) for r in responses]
    rows = "".join(
        f'<tr><td class="mz-reward {reward_class(x)}">{x:g}</td><td>{clean(_or_dash(r.get("parsed")))}</td>'
        f'<td><pre class="mz-text">{clean(r.get("text", r.get("response", "")))}</pre></td></tr>'
        for r, x in zip(responses, rewards)
    )
    correct, mean = sum(x >= 1.0 for x in rewards), sum(rewards) / len(rewards)
    head = f"{title}: {correct}/{len(rewards)} correct, mean reward {mean:.2f}"
    return (f"<h4>{clean(head)}</h4><table class=\"mz-resp\"><tr><th>reward</th><th>parsed</th><th>response</th></tr>"
            f"{rows}</table>")  # fmt: skip


def render_record(record: dict, base: Path | None = None, anchor: str | None = None) -> str:
    """One prompt as an HTML card: header, media, highlighted prompt, labelled candidates,
    listed wrong answers, rollouts (or teacher responses) with coloured rewards."""
    kind = str(record.get("kind", "plain"))
    cands = record.get("candidates") or []
    step = f"step {record['step']} · " if "step" in record else ""
    badge = f'<span class="mz-badge mz-kind-{clean(kind)}">{clean(kind.upper())}</span>'
    source, gold = clean(record.get("source") or "-"), clean(record.get("gold", ""))
    head = (f'<h3>{badge} {clean(record.get("uid", ""))}</h3>'
            f'<div class="mz-meta">{clean(step)}source {source} · gold answer <b>{gold}</b></div>')  # fmt: skip
    body = [render_media(media_blocks(record, base))]
    body.append("<h4>prompt (media go before the text; candidate highlights are the inspector's)</h4>")
    body.append(f'<pre class="mz-text mz-prompt">{highlight(record.get("prompt", ""), cands)}</pre>')
    if cands:
        boxes = "".join(
            f'<div class="mz-cand mz-{clean(c.get("label", ""))}" data-label="{clean(c.get("label", ""))}">'
            f'<div class="mz-label">{chr(65 + i)} · {clean(LABELS.get(c.get("label", ""), c.get("label", "")))}</div>'
            f'<pre class="mz-text">{clean(c.get("text", ""))}</pre></div>'
            for i, c in enumerate(cands)
        )
        body.append(
            f'<h4>candidates, in prompt order (labels are not in the prompt)</h4><div class="mz-cands">{boxes}</div>'
        )
    if record.get("wrong_answers"):
        listed = ", ".join(f"<code>{clean(a)}</code>" for a in record["wrong_answers"])
        body.append(f"<h4>final answers listed as wrong</h4><div>{listed}</div>")
    body.append(render_responses(record.get("responses") or [], "student rollouts"))
    teacher = [{"text": t.get("response", ""), "parsed": t.get("parsed"), "reward": t.get("reward", 0.0)}
               for t in record.get("teacher") or []]  # fmt: skip
    body.append(render_responses(teacher, "teacher responses"))
    if record.get("solution"):
        body.append(
            f"<details><summary>reference solution</summary>"
            f'<pre class="mz-text">{clean(record["solution"])}</pre></details>'
        )
    ident = f' id="{clean(anchor)}"' if anchor else ""
    return f'<section class="mz-card"{ident}>{head}{"".join(body)}</section>'


def page(title: str, header: str, cards: list[str]) -> str:
    """A whole self-contained HTML document (inline CSS, no scripts, no external links)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{clean(title)}</title><style>{STYLE}</style></head>"
        f'<body><main class="mz-report"><h1>{clean(title)}</h1>{header}{"".join(cards)}</main></body></html>\n'
    )


def _toc(records: list[dict]) -> str:
    items = "".join(
        f'<li><a href="#r{i}">{clean(r.get("kind", "").upper())} {clean(r.get("uid", ""))}'
        + (f" (step {clean(r['step'])})" if "step" in r else "") + "</a></li>"
        for i, r in enumerate(records)
    )  # fmt: skip
    return f'<ol class="mz-toc">{items}</ol>'


def run_header(run_dir: Path, records: list[dict]) -> str:
    """Run name, models and the last step's counts."""
    lines = []
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        import yaml

        c = yaml.safe_load(config_path.read_text()) or {}
        teacher = f"<code>{clean(c['teacher'])}</code> " if c.get("teacher") else ""
        lines.append(f"student <code>{clean(c.get('student'))}</code>, "
                     f"teacher {teacher}({clean(c.get('teacher_kind'))}); "
                     f"G_S={clean(c.get('group_size'))}, tau={clean(c.get('tau'))}; "
                     f"BCQ {clean(c.get('use_bcq'))}, NCQ {clean(c.get('use_ncq'))}, "
                     f"buffer {clean(c.get('use_buffer'))}")  # fmt: skip
    metrics_path = run_dir / "metrics.jsonl"
    if metrics_path.is_file():
        rows = list(read_jsonl(metrics_path))
        if rows:
            total = lambda k: sum(r.get(k, 0) for r in rows)  # noqa: E731
            last = rows[-1]
            lines.append(f"{len(rows)} steps; last plain reward {last.get('reward/plain_mean', 0):.3f}; "
                         f"BCQ groups {total('groups/bcq'):.0f}, NCQ groups {total('groups/ncq'):.0f}; "
                         f"buffer size {last.get('buffer/size', 0):.0f}")  # fmt: skip
    kinds = Counter(str(r.get("kind")) for r in records)
    lines.append(
        f"{len(records)} logged prompts shown: " + ", ".join(f"{clean(k)} {n}" for k, n in sorted(kinds.items()))
    )
    return "".join(f'<p class="mz-meta">{line}</p>' for line in lines) + _toc(records)


def report_html(records: list[dict], title: str, base: Path | None = None, header: str | None = None) -> str:
    header = header if header is not None else _toc(records)
    return page(title, header, [render_record(r, base, f"r{i}") for i, r in enumerate(records)])


def write_report(out: str | Path, *, run_dir=None, shards=None, n: int | None = 50, kinds=None) -> Path:
    """The report of a run folder or a shard folder, written to `out`."""
    if (run_dir is None) == (shards is None):
        raise ValueError("give a run folder or --shards DIR (one of them)")
    if run_dir is not None:
        run_dir = Path(run_dir)
        records = run_records(run_dir, n, kinds)
        text = report_html(records, f"mmzppo prompts: run {run_dir.name}", run_dir, run_header(run_dir, records))
    else:
        records = shard_records(shards, n)
        header = f'<p class="mz-meta">{len(records)} samples of {clean(shards)} (plain prompts)</p>' + _toc(records)
        text = report_html(records, f"mmzppo samples: shard folder {Path(shards).name}", None, header)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


# --------------------------------------------------------------------------- tokens


PLACEHOLDER = re.compile(r"(?:<\|vision_start\|>)?<\|(?:image|video)_pad\|>(?:<\|vision_end\|>)?")
PARTS = ("question", "media", "candidates", "hint", "prefix", "instructions and chat template")


def chat_text(processor, prompt) -> str:
    """The chat-templated text of a prompt, before media placeholders are expanded."""
    cont = bool(getattr(prompt, "continue_final", False))
    return processor.apply_chat_template(
        prompt.messages, tokenize=False, add_generation_prompt=not cont, continue_final_message=cont
    )


def part_spans(text: str, prompt, sample: Sample | None) -> list[tuple[int, int, str]]:
    """Character spans of the named parts of a chat-templated prompt."""
    from mmzppo.prompts import question_text

    spans = [(m.start(), m.end(), "media") for m in PLACEHOLDER.finditer(text)]
    if sample is not None:
        q = question_text(sample)
        start = text.find(q)
        if start >= 0:
            spans.append((start, start + len(q), "question"))
    pos = 0
    for c in prompt.candidates:
        block = f"<candidate>\n{c.text}\n</candidate>"
        start = text.find(block, pos)
        if start >= 0:
            spans.append((start, start + len(block), "candidates"))
            pos = start + len(block)
    spans += [(m.start(), m.end(), "hint") for m in re.finditer(r"<hint>.*?</hint>", text, re.DOTALL)]
    if prompt.continue_final:
        from mmzppo.inputs import text_content

        head = text_content(prompt.messages[-1]["content"])
        start = text.rfind(head)
        if head and start >= 0:
            spans.append((start, start + len(head), "prefix"))
    return spans


def token_counts(processor, prompt, vision: VisionSettings, sample: Sample | None = None) -> dict[str, int]:
    """Tokens the model receives for each part of the prompt, and the total.

    Text parts are counted exactly from the tokenizer's offsets in the chat-templated text;
    media are everything the processor puts in place of the image/video placeholders (pad
    tokens, vision start/end, video timestamps). The parts add up to `total`."""
    from mmzppo.inputs import encode

    text = chat_text(processor, prompt)
    total = int(encode(processor, [prompt], vision)["input_ids"].shape[1])
    spans = part_spans(text, prompt, sample)
    tokenizer = getattr(processor, "tokenizer", processor)
    offsets = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
    counts = Counter()
    for a, b in offsets:
        part = next((name for s, e, name in spans if s <= a and b <= e and name == "media"), None)
        part = part or next((name for s, e, name in spans if s <= a < e), "instructions and chat template")
        if part != "media":
            counts[part] += 1
    counts["media"] = total - sum(counts.values())
    out = {p: counts[p] for p in PARTS if counts[p] or p in ("question", "media", "candidates")}
    out["total"] = total
    return out


def token_runs(processor, prompt, vision: VisionSettings, min_run: int = 3) -> list[tuple[str, int]]:
    """The exact token sequence the model receives (media expanded) as (token text, repeat
    count) pairs: runs of at least `min_run` equal tokens are collapsed into one pair."""
    from mmzppo.inputs import encode

    ids = encode(processor, [prompt], vision)["input_ids"][0].tolist()
    tokenizer = getattr(processor, "tokenizer", processor)
    out: list[tuple[str, int]] = []
    for token_id, group in itertools.groupby(ids):
        n, text = len(list(group)), tokenizer.decode([token_id])
        out += [(text, n)] if n >= min_run else [(text, 1)] * n
    return out


def format_tokens(runs: list[tuple[str, int]]) -> str:
    """Plain text of `token_runs`: each token in brackets, newlines as \\n, runs as `tokxN`."""
    return "".join(f"[{t.replace(chr(10), chr(92) + 'n')}{f'x{n}' if n > 1 else ''}]" for t, n in runs)


def tokens_html(runs: list[tuple[str, int]]) -> str:
    """`token_runs` as HTML: alternating colours per token, collapsed runs in green."""
    spans = []
    for i, (t, n) in enumerate(runs):
        shown = t.replace("\n", "\\n")
        css = "mz-run" if n > 1 else f"mz-t{i % 2}"
        spans.append(f'<span class="{css}">{clean(shown)}{f"x{n}" if n > 1 else ""}</span>')
    return f'<div class="mz-tokens mz-report">{"".join(spans)}</div>'


# --------------------------------------------------------------------------- a run to look at


def tiny_run(workdir: str | Path, model_dir: str | Path | None = None, *, name: str = "tiny", steps: int = 2,
             extra: Iterable[str] = ()) -> Path:  # fmt: skip
    """A `steps`-step ZPPO run of a tiny random-weight xs student on a few synthetic image,
    video and text questions (the reference teacher, so BCQs form), for looking at.

    Everything goes under `workdir`; returns the run folder. Seconds on a CPU."""
    from mmzppo.config import load_config
    from mmzppo.data.shards import write_shards
    from mmzppo.data.synthetic import generate_suite
    from mmzppo.models import TINY_VISION, build_tiny
    from mmzppo.train import Trainer

    workdir = Path(workdir)
    model_dir = model_dir or build_tiny(workdir / "tiny-xs", size="xs")
    shards = workdir / "shards"
    if not (shards / "index.json").is_file():
        tasks = ["count_color", "motion_direction", "arith_chain", "bar_compare"]
        write_shards(list(generate_suite(tasks, 1, 0, "train", workdir / "shard-media", levels=[1])), shards)
    vision = [f"vision.{k}={v}" for k, v in TINY_VISION.to_dict().items() if k not in ("fps", "nframes")]
    overrides = [
        f"student={model_dir}", "teacher_kind=reference", f"train_shards={shards}", f"output_dir={workdir}",
        f"name={name}", f"steps={steps}", "save_every=0", "prompts_per_step=2", "group_size=2",
        "max_new_tokens=16", "updates_per_step=1", "micro_batch_size=16", "rho_aug=1.0", "log_samples=4",
        "dtype=float32", *vision, *extra,
    ]  # fmt: skip
    return Trainer(load_config(None, overrides)).train()


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m mmzppo.inspect", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?", help="a run folder (holds samples.jsonl)")
    parser.add_argument("--shards", help="a shard folder instead of a run folder")
    parser.add_argument("--out", required=True, help="the HTML file to write")
    parser.add_argument("--n", type=int, default=50, help="at most this many prompts / samples (default 50)")
    parser.add_argument("--kind", action="append", choices=["plain", "bcq", "ncq", "hint", "prefix"],
                        help="only prompts of this kind (repeatable; run folders only)")  # fmt: skip
    args = parser.parse_args(argv)
    if (args.run_dir is None) == (args.shards is None):
        parser.error("give a RUN_DIR or --shards DIR (exactly one)")
    out = write_report(args.out, run_dir=args.run_dir, shards=args.shards, n=args.n, kinds=args.kind)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
