"""notebooks/inspect_prompts.ipynb: stored without outputs, and runs top to bottom offline."""

from __future__ import annotations

import time

import nbformat
from conftest import REPO, SHARED
from nbclient import NotebookClient

NOTEBOOK = REPO / "notebooks/inspect_prompts.ipynb"


def test_notebook_is_stored_cleared():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def test_notebook_runs_top_to_bottom(monkeypatch):
    """A fresh kernel, no run folder given (the notebook makes its own 2-step tiny run)."""
    monkeypatch.delenv("MMZPPO_RUN_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - start
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    for part in (
        "mz-kind-bcq",
        "mz-kind-ncq",
        "mz-kind-hint",
        "mz-kind-prefix",
        "teacher-correct",
        "student-wrong",
        "mz-frame",
        "data:image/png;base64",
        "&lt;|image_pad|&gt;x",
        "student rollouts",
    ):
        assert part in shown, part
    assert "logged prompts over 2 steps" in text
    if (SHARED / "benchdata").is_dir():
        assert "mathvision-4" in shown and "tempcompass-1021488277-0" in shown
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the curves
    print(f"notebook ran in {elapsed:.0f} s")
