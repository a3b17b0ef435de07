"""Prompt builders: plain, BCQ and NCQ (ZPPO), hint and prefix (baselines).

Section 3 of the ZPPO paper (arXiv:2606.18216, Figs. 8, 16-18), in our own words:

* every prompt ends with the same closer (think in <think> </think>, answer in \\boxed{});
* BCQ (both-candidate question): the question, an instruction that two candidate responses
  follow, exactly one correct and one wrong, unlabeled, as references; one correct teacher
  answer and one wrong student answer, compressed alike, in identical <candidate> tags, in
  random order;
* NCQ (negative-candidate question): the question, the distinct wrong \\boxed{} answers
  listed as wrong, then every wrong student response in <candidate> tags; never teacher text;
* media are never duplicated: the question's images/video appear once, where the plain
  prompt has them (before the text); candidates are text only.

Each builder returns a `Prompt`: chat messages in the Qwen-VL content-part format plus what
the trainer and the inspector need to know (the question asked, kind, candidate
provenance). Templates live in `templates/prompts.yaml`. Candidates are compressed by a
pluggable `Compressor` (`mmzppo.prompting.compress`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jinja2
import yaml

import mmzppo  # noqa: F401  (torchvision compat before qwen-vl-utils imports torchvision)
from mmzppo.data.sample import Sample
from mmzppo.grading.boxed import extract_last_boxed
from mmzppo.prompting.compress import Compressor, truncate_candidates

PROMPT_TEMPLATES = Path(__file__).parent / "templates" / "prompts.yaml"
KINDS = ("plain", "bcq", "ncq", "hint", "prefix")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class Candidate:
    """A candidate response as placed in a prompt; `label` is for logs and inspection only."""

    text: str  # the compressed text inside <candidate> tags
    label: str  # "teacher_correct" or "student_wrong" (never shown to the model)


@dataclass
class Prompt:
    """One prompt for the student: chat messages plus their provenance."""

    uid: str  # the origin question's uid
    kind: str  # one of KINDS
    messages: list[dict]  # Qwen-VL chat messages (content parts: image / video / text)
    candidates: list[Candidate] = field(default_factory=list)  # in prompt order
    wrong_answers: list[str] = field(default_factory=list)  # NCQ: the listed wrong answers
    continue_final: bool = False  # True when the last message is an assistant prefix to continue
    sample: Sample | None = None  # the question asked (gold answer, media); None for a request that is none

    @property
    def assistant_prefix(self) -> str:
        """The forced start of the answer (prefix prompts), '' otherwise: the response the
        grader reads is this text followed by the sampled continuation."""
        if not self.continue_final:
            return ""
        content = self.messages[-1]["content"]
        return content if isinstance(content, str) else "".join(p["text"] for p in content if p["type"] == "text")

    @property
    def text(self) -> str:
        """All text of the conversation (media placeholders left out)."""
        parts = []
        for m in self.messages:
            content = m["content"]
            parts += [content] if isinstance(content, str) else [p["text"] for p in content if p["type"] == "text"]
        return "\n".join(parts)


# --------------------------------------------------------------------------- templates


@lru_cache(maxsize=8)
def load_templates(path: str | Path = PROMPT_TEMPLATES) -> dict[str, jinja2.Template]:
    """Compile the prompt templates of a YAML file (cached per path)."""
    raw = yaml.safe_load(Path(path).read_text())
    missing = {"closer", "option_line", *(k for k in KINDS if k != "prefix")} - set(raw)
    if missing:
        raise ValueError(f"prompt templates {path}: missing {sorted(missing)}")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    return {name: env.from_string(text) for name, text in raw.items()}


def render(kind: str, templates: str | Path = PROMPT_TEMPLATES, **values) -> str:
    t = load_templates(str(templates))
    closer = t["closer"].render().strip()
    text = t[kind].render(closer=closer, **values)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --------------------------------------------------------------------------- pieces


def options_in_question(question: str, choices: list[str]) -> bool:
    """True when the question already shows its options: each one as a whole line (as in
    TempCompass), or, for short labels such as "A" or "P", each as a whole word."""
    lines = {ln.strip() for ln in question.splitlines()}
    if all(c.strip() in lines for c in choices):
        return True
    return all(len(c.strip()) <= 2 and re.search(rf"(?<!\w){re.escape(c.strip())}(?!\w)", question) for c in choices)


def question_text(sample: Sample, templates: str | Path = PROMPT_TEMPLATES) -> str:
    """The question, followed by its lettered options unless the question already lists them."""
    q = sample.question.strip()
    if not sample.choices or options_in_question(q, sample.choices):
        return q
    line = load_templates(str(templates))["option_line"]
    options = "\n".join(line.render(letter=LETTERS[i], text=c.strip()) for i, c in enumerate(sample.choices))
    return f"{q}\n\n{options}"


def media_parts(sample: Sample) -> list[dict]:
    """The sample's images then its video, as Qwen-VL content parts, each exactly once."""
    parts: list[dict] = [{"type": "image", "image": im} for im in sample.images]
    if sample.video is not None:
        part = {"type": "video", "video": sample.video}
        if isinstance(sample.video, list) and sample.video_fps:
            part["fps"] = sample.video_fps
        parts.append(part)
    return parts


def user_message(sample: Sample, text: str) -> dict:
    return {"role": "user", "content": [*media_parts(sample), {"type": "text", "text": text}]}


# --------------------------------------------------------------------------- builders


def plain(sample: Sample, *, templates: str | Path = PROMPT_TEMPLATES) -> Prompt:
    """The plain question (training and evaluation)."""
    text = render("plain", templates, question=question_text(sample, templates))
    return Prompt(sample.uid, "plain", [user_message(sample, text)], sample=sample)


def bcq(
    sample: Sample,
    correct: str,
    wrong: str,
    rng: random.Random,
    *,
    compress: Compressor = truncate_candidates,
    templates: str | Path = PROMPT_TEMPLATES,
) -> Prompt:
    """Both-candidate question: one correct teacher response and one wrong student response,
    compressed together, unlabeled, in an order drawn from `rng`."""
    texts = compress([correct, wrong])
    if len(texts) != 2:
        raise ValueError(f"compressor returned {len(texts)} texts for 2 candidates")
    candidates = [Candidate(texts[0], "teacher_correct"), Candidate(texts[1], "student_wrong")]
    rng.shuffle(candidates)
    text = render("bcq", templates, question=question_text(sample, templates), candidates=[c.text for c in candidates])
    return Prompt(sample.uid, "bcq", [user_message(sample, text)], candidates=candidates, sample=sample)


def distinct_answers(responses: list[str]) -> list[str]:
    """Distinct last-\\boxed{} answers of `responses`, in first-seen order."""
    seen: dict[str, None] = {}
    for r in responses:
        a = extract_last_boxed(r)
        if a is not None and a.strip():
            seen.setdefault(a.strip(), None)
    return list(seen)


def ncq(
    sample: Sample,
    wrong_responses: list[str],
    *,
    compress: Compressor = truncate_candidates,
    templates: str | Path = PROMPT_TEMPLATES,
    listed: list[str] | None = None,
) -> Prompt:
    """Negative-candidate question: the student's wrong answers listed as wrong, then every
    wrong student response (compressed). Only student text goes in. `listed`: the responses
    whose answers are listed, when only some of them are shown (default: the shown ones)."""
    if not wrong_responses:
        raise ValueError(f"sample {sample.uid!r}: an NCQ needs at least one wrong response")
    wrong_answers = distinct_answers(listed if listed is not None else wrong_responses)
    texts = compress(list(wrong_responses))
    candidates = [Candidate(t, "student_wrong") for t in texts]
    text = render(
        "ncq",
        templates,
        question=question_text(sample, templates),
        wrong_answers=wrong_answers,
        candidates=texts,
    )
    return Prompt(
        sample.uid,
        "ncq",
        [user_message(sample, text)],
        candidates=candidates,
        wrong_answers=wrong_answers,
        sample=sample,
    )


def hint(sample: Sample, hint_text: str, *, templates: str | Path = PROMPT_TEMPLATES) -> Prompt:
    """Hint baseline: the question plus an answer-free hint in <hint> tags."""
    if not hint_text.strip():
        raise ValueError(f"sample {sample.uid!r}: empty hint")
    text = render("hint", templates, question=question_text(sample, templates), hint=hint_text.strip())
    return Prompt(sample.uid, "hint", [user_message(sample, text)], sample=sample)


def prefix(
    sample: Sample,
    teacher_response: str,
    tokenizer,
    fraction: float = 0.4,
    *,
    templates: str | Path = PROMPT_TEMPLATES,
) -> Prompt:
    """Prefix baseline: the plain prompt, and the first `fraction` of a correct teacher
    response's TOKENS (under `tokenizer`, the student's: the tokens the student is forced to
    start with) as the start of the assistant turn.

    The rollout continues the final assistant message (`continue_final=True`); the prefix
    tokens are part of the prompt, so they are masked from the loss by construction.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    ids = tokenizer(teacher_response, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"sample {sample.uid!r}: empty teacher response for a prefix")
    head = tokenizer.decode(ids[: max(1, int(len(ids) * fraction))], skip_special_tokens=True)
    base = plain(sample, templates=templates)
    messages = base.messages + [{"role": "assistant", "content": [{"type": "text", "text": head}]}]
    return Prompt(sample.uid, "prefix", messages, continue_final=True, sample=sample)


def text_content(content: str | list[dict]) -> str:
    """The text of a message's content (string, or the text parts joined)."""
    return content if isinstance(content, str) else "".join(p["text"] for p in content if p["type"] == "text")
