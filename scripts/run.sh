#!/usr/bin/env bash
# Sets up .venv and runs the main job: the self-normalization depth study (args go to the study).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m experiments.selfnorm_depth "$@"
