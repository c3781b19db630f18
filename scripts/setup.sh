#!/usr/bin/env bash
# Creates .venv (once) and installs jaxacts into it; pass extras to add them: "test", "cuda12", "test,cuda13".
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
if [ $# -gt 0 ]; then .venv/bin/python -m pip install -q -e ".[$1]"; else .venv/bin/python -m pip install -q -e .; fi
