#!/usr/bin/env bash
# Lint, type-check and run the whole suite (it starts its own private dockerd; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
