#!/usr/bin/env bash
# Regenerate the checked-in Kubeflow YAML: compiled pipelines (pipelines/compiled/) and component specs
# (components/yaml/). tests/kubeflow/test_compile.py fails when they are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/graphkit pipeline compile --output pipelines/compiled --components components/yaml
