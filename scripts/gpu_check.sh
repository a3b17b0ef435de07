#!/usr/bin/env bash
# The prepared GPU check of the paper's shape (issue 21): builds the Qwen3.5-0.8B shape (real
# dimensions, random weights, vocabulary 248,320), runs 2 ZPPO steps with the transformers rollout
# backend in bf16-mixed with gradient checkpointing, saves and reloads the checkpoint, then a
# log-prob pass (forward + backward) over 4 sequences of 12,288 tokens; prints the peak GPU memory
# and the step times and writes them to OUT/gpu_check.json. Target: under 8 minutes on one H100.
#
#   bash scripts/gpu_check.sh [--out DIR]               # one GPU; nothing from the network, no vLLM
#   bash scripts/gpu_check.sh --cpu-smoke --out DIR     # the same path on the CPU at tiny lengths
#
# It runs from this checkout (PYTHONPATH), with the python in $PYTHON (default: python3): torch and
# transformers as a GPU machine has them, plus mmzppo's small pure-Python dependencies. Missing
# ones are named at start; bring them as wheels (on a machine with network:
#   pip download -d wheels accelerate webdataset mathruler math-verify pylatexenc qwen-vl-utils tensorboard
# ) and set WHEELS=wheels: they are installed from that folder only (--no-index).
# NOT YET RUN ON A GPU by this project: no GPU was available where it was written (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [[ -n "${WHEELS:-}" ]]; then
    "$PY" -m pip install --no-index --find-links "$WHEELS" accelerate webdataset mathruler math-verify \
        pylatexenc qwen-vl-utils tensorboard
fi
missing=$("$PY" - <<'PYEOF'
import importlib.util
need = ["torch", "transformers", "accelerate", "webdataset", "mathruler", "math_verify", "pylatexenc",
        "qwen_vl_utils", "tensorboard", "yaml", "PIL", "tqdm"]
print(" ".join(m for m in need if importlib.util.find_spec(m) is None))
PYEOF
)
if [[ -n "$missing" ]]; then
    echo "gpu_check: missing Python packages: $missing (see the header: WHEELS=dir)" >&2
    exit 2
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" scripts/gpu_check.py "$@"
