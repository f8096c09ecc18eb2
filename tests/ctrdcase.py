"""Shared by the containerd-store tests: a private daemon with the containerd image store per
engine version, and the engine's own byte accounting."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.conftest import SESSION_ENGINE, Engine, session_store, unavailable
from tui.core.plan import Plan
from tui.sandbox.daemon import PrivateDaemon, SandboxError

#: Engines the containerd-store tests run on: the session engine when it runs the containerd
#: store, else $DOCKER_SWEEP_CONTAINERD_ENGINES (comma-separated names of
#: tui.sandbox.daemon.ENGINES; default both containerd engines of the matrix).
ENGINES = (
    [SESSION_ENGINE]
    if session_store() == "containerd"
    else [
        e.strip()
        for e in os.environ.get("DOCKER_SWEEP_CONTAINERD_ENGINES", "28.5-containerd,26.1-containerd").split(
            ","
        )
        if e.strip()
    ]
)


@pytest.fixture(scope="module", params=ENGINES, name="ctrd")
def ctrd_fixture(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A private daemon with the containerd image store (one per engine version); the session's
    own daemon when it is one."""
    if request.param == SESSION_ENGINE:
        yield request.getfixturevalue("engine")
        return
    try:
        daemon = PrivateDaemon.start(engine=request.param)
    except (SandboxError, OSError, KeyError) as exc:
        unavailable(f"private dockerd {request.param}", exc)
    api = docker.APIClient(base_url=daemon.url, version="auto", timeout=120)
    yield Engine(daemon, api)
    api.close()
    daemon.stop()


def major(api: Any) -> int:
    return int(str(api.version()["Version"]).split(".")[0])


def layers_size(api: Any, *, settle: float = 0.3, limit: float = 15.0) -> int:
    """/system/df LayersSize once it stops changing: containerd removes snapshots asynchronously
    (seen under load on 26.1: an earlier removal's snapshot went inside a later measurement)."""
    deadline = time.monotonic() + limit
    last = int(api.df()["LayersSize"])
    while time.monotonic() < deadline:
        time.sleep(settle)
        now = int(api.df()["LayersSize"])
        if now == last:
            return now
        last = now
    return last


def disk_drop(plan: Plan, api: Any) -> int:
    """What /system/df LayersSize drops by when ``plan`` runs: content + snapshots on Docker 28
    (content of BuildKit-built images included: LayersSize counts the content images reach, not
    what the build cache keeps), snapshots only on 26 (its LayersSize counts no content)."""
    if major(api) >= 28:
        return plan.reclaim_bytes + plan.buildkit_bytes
    return int(plan.snapshot_bytes or 0)
