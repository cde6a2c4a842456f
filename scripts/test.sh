#!/usr/bin/env bash
# Command 2 of 2: install what is missing, then run the whole test suite (lint, types, tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -q --durations=12 "$@"  # the slowest tests, to keep CI short
