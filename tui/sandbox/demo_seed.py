"""Seed an engine with the demo store (:mod:`tui.sandbox.demo_store`); used by ``docker-sweep demo``,
its tests and the screenshot script."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import docker
import docker.errors

from tui.sandbox import fixtures
from tui.sandbox.demo_store import DEMO_CONTAINERS, DEMO_PULLED, EXITED_CMD, RUNNING_CMD, demo_images
from tui.sandbox.imagegen import build_tarball


def seed_demo(api: docker.APIClient, now: datetime, registry_host: str | None = None) -> dict[str, str]:
    """Load the demo images (dated relative to ``now``) and create the demo containers.

    With ``registry_host`` (``"127.0.0.1:PORT"``, a running registry), the images of
    :data:`~tui.sandbox.demo_store.DEMO_PULLED` are pushed there as ``HOST/repo:tag`` and that
    tag is removed again: they keep their own tags and gain a real ``RepoDigests`` entry
    (``HOST/repo@sha256:…``), as pulled images have; the others stay local-only.
    Removes nothing else: call it on an empty engine (a fresh sandbox). Every container uses
    network none; running ones sleep, stopped ones ran ``/bin/busybox true`` once and exited with 0.
    Returns the container IDs by name. Raises :class:`tui.sandbox.fixtures.FixtureError` (or the
    SDK's ``docker.errors.APIError``) if the engine refuses something.
    """
    fixtures.load_tarball(api, build_tarball(demo_images(now)))
    if registry_host:
        push_through_registry(api, registry_host, DEMO_PULLED)
    ids: dict[str, str] = {}
    for name, image, running in DEMO_CONTAINERS:
        cmd = RUNNING_CMD if running else EXITED_CMD
        ids[name] = fixtures.create_container(api, image, name, start=True, cmd=cmd)
        if not running:
            result: Any = api.wait(ids[name], timeout=60)
            if result.get("StatusCode") != 0:
                raise fixtures.FixtureError(f"demo container {name} exited with {result}")
    return ids


def push_through_registry(api: docker.APIClient, registry_host: str, refs: tuple[str, ...]) -> dict[str, str]:
    """Push each of ``refs`` to ``registry_host`` under the same repository and tag, drop that tag
    and pull the image back by digest; returns the manifest digest by ref.

    Why the pull: untagging the last tag of a repository also drops that repository's digest
    references (classic store, seen on 20.10), so the digest comes back with a pull by digest,
    which adds only ``HOST/repo@sha256:…`` (same image ID: nothing is downloaded).
    """
    digests: dict[str, str] = {}
    for ref in refs:
        repo, _, tag = ref.rpartition(":")  # the demo's refs all have a tag
        remote = f"{registry_host}/{repo}"
        fixtures.tag(api, ref, remote, tag)
        digest = digests[ref] = fixtures.push(api, f"{remote}:{tag}")
        api.remove_image(f"{remote}:{tag}")
        fixtures.pull(api, remote, digest)
    return digests


def seed_demo_engine(url: str, now: datetime, registry_host: str | None = None) -> dict[str, str]:
    """:func:`seed_demo` on the engine at ``url``, through an SDK client of its own (closed after).

    Raises :class:`tui.sandbox.fixtures.FixtureError` for whatever the engine or the SDK refuses, so
    that the demo catches one error and never imports the SDK itself.
    """
    try:
        api = docker.APIClient(base_url=url, version="auto", timeout=120)
        try:
            return seed_demo(api, now, registry_host)
        finally:
            api.close()
    except docker.errors.DockerException as exc:
        raise fixtures.FixtureError(str(exc)) from exc
