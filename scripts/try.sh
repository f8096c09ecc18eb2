#!/usr/bin/env bash
# Start the app on the local engine, or on the throwaway demo sandbox when no engine answers.
set -euo pipefail
cd "$(dirname "$0")/.."
if .venv/bin/docker-sweep images >/dev/null 2>&1; then
    exec .venv/bin/docker-sweep
fi
exec .venv/bin/docker-sweep demo
