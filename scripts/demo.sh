#!/usr/bin/env bash
# Set up .venv and run graphkit end to end on a generated example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/graphkit demo --output-dir out/demo "$@"
