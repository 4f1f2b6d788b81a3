#!/usr/bin/env bash
# Create .venv (if missing) and install graphkit into it, with optional extras: setup.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first and exactly pinned: a looser requirement resolves to a multi-GB CUDA build.
"${pip[@]}" "torch==2.13.0"
if [ -n "$extras" ]; then "${pip[@]}" -e ".[${extras}]"; else "${pip[@]}" -e .; fi
