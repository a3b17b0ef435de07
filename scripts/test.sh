#!/usr/bin/env bash
# The test suite: set up .venv if needed, then run pytest offline. Fails when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# One BLAS/OpenMP thread per process: the tiny models gain little from two, and on a busy
# 2-core machine (or with the two-process tests) two threads each oversubscribe it badly.
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
.venv/bin/python -m pytest -q --timeout=900 "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
