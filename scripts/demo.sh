#!/usr/bin/env bash
# Set up .venv and run the training pipeline end to end on a generated example, locally (kfp's local runner):
# transform -> idmap -> train -> infer. Prints where the predictions are. Options pass through, e.g. --num-epochs 3.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh pipelines
.venv/bin/graphkit pipeline run --local --example out/demo "$@"
