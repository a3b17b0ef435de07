"""Look at prompts as pictures and text, not JSON: `python -m mmzppo.tools.inspector`.

    python -m mmzppo.tools.inspector RUN_DIR --out report.html [--n N] [--kind bcq --kind ncq]
    python -m mmzppo.tools.inspector --shards DIR --out report.html [--n N]

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

Modules: `report` (text, records, the HTML page), `media` (pictures and frame strips),
`tokens` (what the model receives, part by part), `cli` (this command and `tiny_run`). The
package itself exports what the notebook and the tests use; the rest is in its module.
"""

import mmzppo  # noqa: F401  (torchvision compat before qwen-vl-utils / transformers)
from mmzppo.tools.inspector.cli import main, tiny_run
from mmzppo.tools.inspector.media import MAX_STRIP, REPORT_VISION, VIDEO_FRAMES, mp4_frames
from mmzppo.tools.inspector.report import STYLE, record_from_prompt, render_record, run_records
from mmzppo.tools.inspector.tokens import format_tokens, token_counts, token_runs, tokens_html

__all__ = [
    "MAX_STRIP",
    "REPORT_VISION",
    "STYLE",
    "VIDEO_FRAMES",
    "format_tokens",
    "main",
    "mp4_frames",
    "record_from_prompt",
    "render_record",
    "run_records",
    "tiny_run",
    "token_counts",
    "token_runs",
    "tokens_html",
]
