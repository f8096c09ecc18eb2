#!/usr/bin/env bash
# Set up docker-sweep on a fresh Debian machine (run as root): engine packages, a venv with the
# package and its test tools. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in docker.io busybox-static docker-registry tmux; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: need root to install: ${need_apt[*]} (run: sudo bash scripts/setup.sh)" >&2
        exit 1
    fi
    echo "setup: installing ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[test]' 2>&1 | grep -vE "WARNING|Warning|^\s*$|!!|\*\*\*|deprecated|BuildBackend|setuptools|corresp|wheel_obj|^  " || true
.venv/bin/python -c "import tui, textual, docker" 
echo "setup: ready (.venv)"
