#!/usr/bin/env bash
# Lint, type-check, check the layering and run the suite on the engine matrix (each run starts its own private
# dockerd; needs root and `bash scripts/setup.sh` first):
#   20.10            (Debian 12, classic store)    the whole suite
#   28.5             (classic store)               the engine tests (-m engine)
#   28.5-containerd  (containerd image store)      the engine tests (-m engine)
#   26.1-containerd  (containerd image store)      the containerd-store tests (tests/test_containerd_*.py,
#                                                   test_differential_containerd.py): in the 20.10 run they
#                                                   start their own 28.5-containerd and 26.1-containerd daemons
#   podman           (Podman 4.3, /usr/bin/podman)   the engine tests that apply to Podman's Docker-compatible
#                                                   API (-m engine; Docker-only ones are deselected with their
#                                                   reason) and the Podman tests, which run only here
# 20.10 draws 20 differential examples per test (SWEEP_DIFF_EXAMPLES), the other engines 8
# (SWEEP_DIFF_EXAMPLES_SECONDARY). Extra arguments go to every pytest run (e.g. -x, -k NAME).
# CI=true unless set otherwise: an engine that is missing fails its tests instead of skipping
# them. Every run is made, then the script exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=${CI:-true}
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports  # the layering contracts in pyproject.toml (README: Layout and layering)

summary=()
failed=0
run() {  # ENGINE PYTEST-ARGS...
    local engine=$1 started status
    shift
    echo "=== engine $engine: pytest $*"
    started=$SECONDS
    status=0
    DOCKER_SWEEP_TEST_ENGINE=$engine .venv/bin/python -m pytest -q "$@" || status=$?
    local note=""
    # 5 = no test selected: the caller's own selection (-k ...) or the store's deselection
    # (every selected test is classic_store) left nothing for this engine; said in the summary
    if [ "$status" = 5 ]; then
        note="  (no test selected)"
    elif [ "$status" != 0 ]; then
        failed=1
    fi
    summary+=("$(printf '%-16s %-20s exit %s %5ss%s' "$engine" "$label" "$status" $((SECONDS - started)) "$note")")
}

# the secondary engines draw fewer differential examples (SWEEP_DIFF_EXAMPLES; 20 on 20.10)
secondary=${SWEEP_DIFF_EXAMPLES_SECONDARY:-8}
label="whole suite"; run 20.10 "$@"
label="engine tests"; SWEEP_DIFF_EXAMPLES=$secondary run 28.5 -m engine "$@"
label="engine tests"; SWEEP_DIFF_EXAMPLES=$secondary run 28.5-containerd -m engine "$@"
label="engine tests"; SWEEP_DIFF_EXAMPLES=${SWEEP_DIFF_EXAMPLES_PODMAN:-4} run podman -m engine "$@"

echo "=== engine matrix (total ${SECONDS}s)"
printf '%s\n' "${summary[@]}"
exit "$failed"
