"""Shared by the containerd-store tests: a private daemon with the containerd image store per
engine version, and the engine's own byte accounting."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.conftest import SESSION_ENGINE, Engine, session_store, unavailable
from tests.enginecase import disk_drop, layers_size  # noqa: F401 (shared)
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
