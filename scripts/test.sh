#!/usr/bin/env bash
# Sets up .venv with the test extras and runs the default (fast) test suite, one pytest worker per CPU core
# (pytest-xdist; most tests are single-threaded tracing and compiling); extra args go to pytest ("-n 0": one process).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/python -m pytest -q -n auto --dist worksteal jaxacts tests "$@"
