"""The unit tier: no model weights and nothing from `../shared`.

A unit test that asks for a fixture that builds or loads a model, or reads the real
benchmark items, fails at set-up and says where the test belongs instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Every tier's tests write `from conftest import REPO, SHARED`. Pytest imports each conftest.py
# that is not inside a package as the module "conftest", the last one loaded replacing the one
# before, so this file offers the same names as tests/conftest.py.
REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("MMZPPO_SHARED", REPO.parent / "shared"))

MODELS = "move the test to tests/integration (or to tests/real_data if it also reads ../shared)"
SHARED_DATA = "move the test to tests/real_data, or build a synthetic Sample (mmzppo.data.synthetic)"
REFUSED = {
    "tiny_xs_dir": ("builds a tiny Qwen3.5 model", MODELS),
    "tiny_s_dir": ("builds a tiny Qwen3.5 model", MODELS),
    "tiny_xs": ("loads a tiny Qwen3.5 model", MODELS),
    "warm_xs": ("trains a tiny Qwen3.5 model", MODELS),
    "smollm2_dir": ("exports the real SmolLM2-135M", MODELS),
    "sharp_teacher": ("builds a tiny Qwen3.5 model", MODELS),
    "served": ("starts vllm serve servers of tiny Qwen3.5 models", MODELS),
    "benchdata": ("reads ../shared/benchdata", SHARED_DATA),
    "mixed_items": ("reads ../shared/benchdata", SHARED_DATA),
}


def _refuse(name: str, what: str, where: str):
    @pytest.fixture(name=name, scope="session")
    def refused():
        pytest.fail(
            f"tests/unit takes no model weights and nothing from ../shared: the fixture {name!r} {what}; {where}",
            pytrace=False,
        )

    return refused


for _name, (_what, _where) in REFUSED.items():
    globals()[f"_refused_{_name}"] = _refuse(_name, _what, _where)
