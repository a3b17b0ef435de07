"""`build-zppo77k` under faults: a build killed (SIGKILL) while scanning and again while writing,
then run to the end, gives the same bytes as one never stopped; a corrupt parquet file is a
one-line error naming it, or with --skip-bad-files is skipped and listed in the manifest; a
wrong --processor is a one-line error before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

from mmzppo.data.zppo77k import BuildError, build, fixture, load_recipe

CAPS = "tier1=6,tier2=3"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def command(corpora: dict, out: Path, processor: Path, *extra: str) -> list[str]:
    inputs = ["--vero", str(corpora["vero"]), "--mmfinereason", str(corpora["mmfinereason"])]
    settings = ["--processor", str(processor), "--caps", CAPS, "--maxcount", "5"]
    return [sys.executable, "-m", "mmzppo.data", "build-zppo77k", *inputs, "--out", str(out), *settings, *extra]


def kill_when(cmd: list[str], ready) -> None:
    """Start the build and SIGKILL it as soon as `ready()` holds (it must still be running)."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not ready():
        assert proc.poll() is None, f"the build ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "the build never reached the point to kill it"
        time.sleep(0.005)
    proc.kill()
    proc.wait()


def test_killed_build_resumes_to_the_same_bytes(tmp_path, tiny_xs_dir):
    corpora = fixture.make_corpora(tmp_path / "corpora", scale=4, row_group_size=4)
    reference = tmp_path / "reference"
    recipe = load_recipe(caps={"tier1": 6, "tier2": 3})
    build(corpora["vero"], corpora["mmfinereason"], reference, recipe=recipe, processor=tiny_xs_dir, maxcount=5)
    out = tmp_path / "killed"
    cmd = command(corpora, out, tiny_xs_dir)
    kill_when(cmd, lambda: len(list((out / ".build" / "scan").glob("*.json"))) >= 3)
    assert not (out / "index.json").exists()
    kill_when(cmd, lambda: len(list((out / ".build" / "shards").glob("*.json"))) >= 1)
    assert not (out / "index.json").exists() and list(out.glob("shard-*.tar"))
    done = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    for p in reference.iterdir():
        assert (out / p.name).read_bytes() == p.read_bytes(), p.name
    with pytest.raises(BuildError, match="already holds a finished build"):
        build(corpora["vero"], corpora["mmfinereason"], out, recipe=recipe)


def test_corrupt_parquet_file_is_named_or_skipped(tmp_path, tiny_xs_dir):
    from mmzppo.data.__main__ import main

    corpora = fixture.make_corpora(tmp_path / "corpora")
    broken = corpora["mmfinereason"] / "data" / "train-00001-of-00002.parquet"
    broken.write_bytes(broken.read_bytes()[:-100])  # a cut download: the footer is gone
    with pytest.raises(SystemExit) as failed:
        main(command(corpora, tmp_path / "a", tiny_xs_dir)[3:])
    message = str(failed.value.code)
    assert message.startswith(f"error: {broken}: not a readable parquet file") and "\n" not in message, message
    with pytest.raises(SystemExit, match="no such folder"):  # a wrong --processor: one line, nothing written
        main(command(corpora, tmp_path / "c", tmp_path / "no-model", "--skip-bad-files")[3:])
    assert not (tmp_path / "c").exists()
    main(command(corpora, tmp_path / "b", tiny_xs_dir, "--skip-bad-files")[3:])
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [b["path"] for b in manifest["inputs"]["bad_files"]] == [str(broken)]
    assert "visualsphinx" in manifest["not_found"]  # its rows were all in the broken file
    assert manifest["subdatasets"]["mmr1"]["kept"] == 5
