#!/usr/bin/env bash
# The test suite: set up .venv if needed, check formatting and lint (ruff), then run pytest
# offline on the folders or tests given, every tier by default (tests/unit is the fast one:
# `bash scripts/test.sh tests/unit`). Fails when ruff does, and when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

lint=0
if ! .venv/bin/ruff format --check .; then
  echo "ruff format: files above need formatting; run: .venv/bin/ruff format ." >&2
  lint=1
fi
if ! .venv/bin/ruff check .; then
  echo "ruff check: fix the findings above; many are fixed by: .venv/bin/ruff check --fix ." >&2
  lint=1
fi
if [ "$lint" -ne 0 ]; then
  echo "formatting or lint failed: no tests were run" >&2
  exit 1
fi

# One BLAS/OpenMP thread per process: the tiny models gain little from two, and on a busy
# 2-core machine (or with the two-process tests) two threads each oversubscribe it badly.
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
if [ "$#" -eq 0 ]; then
  set -- tests
fi
# Two pytest-xdist workers fill the 2 cores, a test module at a time (the modules that start
# vLLM together, first: tests/conftest.py); MMZPPO_TEST_WORKERS=0 runs one session instead.
workers=${MMZPPO_TEST_WORKERS:-2}
xdist=()
if [ "$workers" != 0 ]; then
  xdist=(-n "$workers")
fi
.venv/bin/python -m pytest -q --timeout=900 "${xdist[@]}" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
