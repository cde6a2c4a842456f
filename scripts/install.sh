#!/usr/bin/env bash
# Installs everything Workhand needs on Debian: system packages (Chromium, Xvfb, CJK fonts, ...)
# and the Python virtual environment in .venv. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3-venv chromium xvfb fonts-noto-cjk xdotool xclip bubblewrap)
# the daily report's PDF (WeasyPrint needs Pango) and its tests (pdftoppm)
packages+=(libpango-1.0-0 libpangoft2-1.0-0 poppler-utils)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
# the console's front-end packages come from npm: Debian's nodejs and npm, unless a Node.js
# with npm is installed already
if ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi
# OCR: the "fast" profile's PP-OCRv4 models, taken from the pinned rapidocr_onnxruntime wheel on
# PyPI (never installed: it pulls the non-headless opencv-python) into
# .venv/share/workhand/ocr-models, checked by SHA-256; nothing to do when they are there
.venv/bin/python -m libs.steps.ocr.models install

# The console's front-end packages (htmx, ECharts), exactly as package-lock.json pins them;
# the orchestrator serves them itself (never a CDN).
npm_stamp=node_modules/.installed
if [ ! -f "$npm_stamp" ] || [ package-lock.json -nt "$npm_stamp" ]; then
  echo "installing the console's front-end packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$npm_stamp"
fi
