#!/usr/bin/env bash
# Command 1 of 2: install everything, then run the main job, `workhand up`: the orchestrator
# (SQLite), its scheduler, a local worker and the demo bank systems come up; robots/ and
# schedules/ are deployed; the example robots for S1–S3 run once and their results are shown.
# It keeps running (schedules fire, jobs can be started through the API) until Ctrl+C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/workhand up "$@"
