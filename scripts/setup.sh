#!/usr/bin/env bash
# Set up docker-sweep on a fresh Debian 12 machine (run as root): engine packages, the newer engines
# of the test matrix (downloaded into the engines cache, never installed system-wide), a venv with
# the package and its test tools. Safe to run again; it only installs or downloads what is missing.
# `bash scripts/setup.sh engines` does only the engines part.
set -euo pipefail
cd "$(dirname "$0")/.."
only_engines=false
[ "${1:-}" = engines ] && only_engines=true

# --- system packages (Debian 12): engine 20.10 and its docker CLI, test tools -----------------
# docker-buildx is not in bookworm: BuildKit comes from the 28.5 engine below (forky's docker-buildx).
need_apt=()
$only_engines ||
for pkg in docker.io busybox-static docker-registry tmux podman openssl; do
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

# --- newer engines: apt-get download from a newer Debian suite, dpkg-deb -x into the cache ----
# <engines>/<version>/usr/{bin,sbin}: dockerd, containerd and its shims, docker-init, docker CLI.
# The harness (tui/sandbox/daemon.py) starts them with that usr/bin:usr/sbin first on PATH; runc
# is the system's. DOCKER_SWEEP_ENGINES overrides the cache dir (default <repo>/.engines).
ENGINES=${DOCKER_SWEEP_ENGINES:-$PWD/.engines}

# a file each package provides: present = that package is extracted already
marker() {
    case $1 in
        docker.io) echo usr/sbin/dockerd ;;
        containerd) echo usr/bin/containerd ;;
        docker-cli) echo usr/bin/docker ;;
        docker-buildx) echo usr/libexec/docker/cli-plugins/docker-buildx ;;
    esac
}

fetch_engine() {  # VERSION SUITE PACKAGE...
    local version=$1 suite=$2
    shift 2
    local dest=$ENGINES/$version work=$ENGINES/.download/$suite missing=() pkg deb
    for pkg in "$@"; do
        [ -e "$dest/$(marker "$pkg")" ] || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: engine $version: downloading ${missing[*]} from Debian $suite into $dest"
        mkdir -p "$work/state/lists/partial" "$work/cache/archives/partial" "$work/debs"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
            >"$work/sources.list"
        local apt=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=/dev/null
                   -o "Dir::State=$work/state" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
        apt-get "${apt[@]}" -qq update
        rm -f "$work"/debs/*.deb
        (cd "$work/debs" && apt-get "${apt[@]}" -qq download "${missing[@]}")
        mkdir -p "$dest"
        for deb in "$work"/debs/*.deb; do
            dpkg-deb -x "$deb" "$dest"
        done
    fi
    local said
    said=$("$dest/usr/sbin/dockerd" --version)
    case $said in
        "Docker version $version."*) echo "setup: engine $version ready: $said" ;;
        *) echo "setup: $dest/usr/sbin/dockerd says '$said', not version $version" >&2; exit 1 ;;
    esac
}

fetch_engine 28.5 forky docker.io containerd docker-cli docker-buildx
fetch_engine 26.1 trixie docker.io containerd docker-cli
$only_engines && exit 0

# --- the venv ---------------------------------------------------------------------------------
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[test]' 2>&1 | grep -vE "WARNING|Warning|^\s*$|!!|\*\*\*|deprecated|BuildBackend|setuptools|corresp|wheel_obj|^  " || true
.venv/bin/python -c "import tui, textual, docker" 
echo "setup: ready (.venv)"
