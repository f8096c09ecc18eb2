"""Seed an engine with the demo store (:mod:`tui.sandbox.demo_store`); used by ``docker-sweep demo``,
its tests and the screenshot script."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import docker
import docker.errors

from tui.sandbox import fixtures
from tui.sandbox.demo_store import DEMO_CONTAINERS, EXITED_CMD, RUNNING_CMD, demo_images
from tui.sandbox.imagegen import build_tarball


def seed_demo(api: docker.APIClient, now: datetime) -> dict[str, str]:
    """Load the demo images (dated relative to ``now``) and create the demo containers.

    Removes nothing: call it on an empty engine (a fresh sandbox). Every container uses network
    none; running ones sleep, stopped ones ran ``/bin/busybox true`` once and exited with 0.
    Returns the container IDs by name. Raises :class:`tui.sandbox.fixtures.FixtureError` (or the
    SDK's ``docker.errors.APIError``) if the engine refuses something.
    """
    fixtures.load_tarball(api, build_tarball(demo_images(now)))
    ids: dict[str, str] = {}
    for name, image, running in DEMO_CONTAINERS:
        cmd = RUNNING_CMD if running else EXITED_CMD
        ids[name] = fixtures.create_container(api, image, name, start=True, cmd=cmd)
        if not running:
            result: Any = api.wait(ids[name], timeout=60)
            if result.get("StatusCode") != 0:
                raise fixtures.FixtureError(f"demo container {name} exited with {result}")
    return ids


def seed_demo_engine(url: str, now: datetime) -> dict[str, str]:
    """:func:`seed_demo` on the engine at ``url``, through an SDK client of its own (closed after).

    Raises :class:`tui.sandbox.fixtures.FixtureError` for whatever the engine or the SDK refuses, so
    that the demo catches one error and never imports the SDK itself.
    """
    try:
        api = docker.APIClient(base_url=url, version="auto", timeout=120)
        try:
            return seed_demo(api, now)
        finally:
            api.close()
    except docker.errors.DockerException as exc:
        raise fixtures.FixtureError(str(exc)) from exc
