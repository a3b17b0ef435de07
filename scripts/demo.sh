#!/usr/bin/env bash
# The main job: set up .venv if needed, then run the built-in offline demo on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m mmzppo.tools.demo "$@"
