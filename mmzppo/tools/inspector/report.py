"""The HTML report: prompt text with candidates highlighted, records from a run folder or a
shard folder, and the static page (escaped text, inline media, no scripts)."""

from __future__ import annotations

import html
import itertools
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image

from mmzppo.data.formats import read_jsonl
from mmzppo.data.sample import Sample
from mmzppo.data.vision import VisionSettings
from mmzppo.tools.inspector.media import REPORT_VISION, data_uri, media_blocks, model_media

LABELS = {"teacher_correct": "teacher-correct", "student_wrong": "student-wrong"}


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


# --------------------------------------------------------------------------- records


def record_from_prompt(prompt, sample: Sample, *, vision: VisionSettings | None = None, responses=None) -> dict:
    """A freshly built `Prompt` as a record like those of samples.jsonl (for `render_record`).

    With `vision`, the media are shown as the processor receives them (`model_media`)."""
    from mmzppo.prompting.builders import text_content

    text = text_content(prompt.messages[0]["content"])
    for m in prompt.messages[1:]:  # a prefix prompt's forced start of the assistant turn
        text += f"\n\n[{m['role']} turn, continued by the student:]\n{text_content(m['content'])}"
    record = {
        "uid": sample.uid,
        "kind": prompt.kind,
        "source": sample.source,
        "gold": sample.answer,
        "images": sample.images,
        "video": sample.video,
        "video_fps": sample.video_fps,
        "prompt": text,
        "candidates": [{"label": c.label, "text": c.text} for c in prompt.candidates],
        "wrong_answers": prompt.wrong_answers,
        "responses": responses or [],
    }
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
    from mmzppo.prompting.builders import plain

    out = []
    for s in itertools.islice(ShardReader(shards, vision=vision), n):
        out.append(
            {
                "uid": s.uid,
                "kind": "plain",
                "source": s.source,
                "gold": s.answer,
                "images": s.images,
                "video": s.video,
                "video_fps": s.video_fps,
                "prompt": plain(s).text,
                "candidates": [],
                "wrong_answers": [],
                "responses": [],
                "teacher": s.meta.get("teacher") or [],
                "solution": s.solution,
                "choices": s.choices,
            }
        )
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
    return (
        f'<figure><img class="{css}{small}" src="{data_uri(im)}" alt="{clean(caption)}">'
        f"<figcaption>{clean(caption)}</figcaption></figure>"
    )


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
    return (
        f'<h4>{clean(head)}</h4><table class="mz-resp"><tr><th>reward</th><th>parsed</th><th>response</th></tr>'
        f"{rows}</table>"
    )


def render_record(record: dict, base: Path | None = None, anchor: str | None = None) -> str:
    """One prompt as an HTML card: header, media, highlighted prompt, labelled candidates,
    listed wrong answers, rollouts (or teacher responses) with coloured rewards."""
    kind = str(record.get("kind", "plain"))
    cands = record.get("candidates") or []
    step = f"step {record['step']} · " if "step" in record else ""
    badge = f'<span class="mz-badge mz-kind-{clean(kind)}">{clean(kind.upper())}</span>'
    source, gold = clean(record.get("source") or "-"), clean(record.get("gold", ""))
    head = (
        f"<h3>{badge} {clean(record.get('uid', ''))}</h3>"
        f'<div class="mz-meta">{clean(step)}source {source} · gold answer <b>{gold}</b></div>'
    )
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
    teacher = [
        {"text": t.get("response", ""), "parsed": t.get("parsed"), "reward": t.get("reward", 0.0)}
        for t in record.get("teacher") or []
    ]
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
        + (f" (step {clean(r['step'])})" if "step" in r else "")
        + "</a></li>"
        for i, r in enumerate(records)
    )
    return f'<ol class="mz-toc">{items}</ol>'


def run_header(run_dir: Path, records: list[dict]) -> str:
    """Run name, models and the last step's counts."""
    lines = []
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        import yaml

        c = yaml.safe_load(config_path.read_text()) or {}
        teacher = f"<code>{clean(c['teacher'])}</code> " if c.get("teacher") else ""
        lines.append(
            f"student <code>{clean(c.get('student'))}</code>, "
            f"teacher {teacher}({clean(c.get('teacher_kind'))}); "
            f"G_S={clean(c.get('group_size'))}, tau={clean(c.get('tau'))}; "
            f"BCQ {clean(c.get('use_bcq'))}, NCQ {clean(c.get('use_ncq'))}, "
            f"buffer {clean(c.get('use_buffer'))}"
        )
    metrics_path = run_dir / "metrics.jsonl"
    if metrics_path.is_file():
        rows = list(read_jsonl(metrics_path))
        if rows:
            total = lambda k: sum(r.get(k, 0) for r in rows)  # noqa: E731
            last = rows[-1]
            lines.append(
                f"{len(rows)} steps; last plain reward {last.get('reward/plain_mean', 0):.3f}; "
                f"BCQ groups {total('groups/bcq'):.0f}, NCQ groups {total('groups/ncq'):.0f}; "
                f"buffer size {last.get('buffer/size', 0):.0f}"
            )
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
