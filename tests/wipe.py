"""Empty an engine between tests (destructive, so it lives with the tests and is not shipped)."""

from __future__ import annotations

import contextlib
from typing import Any, cast

import docker
import docker.errors

from tui.sandbox.fixtures import FixtureError


def wipe(api: docker.APIClient, *, rounds: int = 10) -> None:
    """Force-remove every container, then every image (leaves first), until the engine is empty;
    then empty the build cache.

    The build cache goes too because the containerd store's ``/system/df`` LayersSize counts its
    snapshots (moby walks every snapshot of the snapshotter): test_buildcache's builds left
    131,072 bytes of them in the 28.5-containerd session engine, which later tests' absolute
    LayersSize comparisons met as bytes no image or container holds (CONTAINERD_TODO.md).
    """
    for container in api.containers(all=True, quiet=True):
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(container["Id"], force=True, v=True)
    for _ in range(rounds):
        images = cast(list[dict[str, Any]], api.images(all=True))
        if not images:
            break
        parents = {image.get("ParentId") for image in images}
        for image in images:
            if image["Id"] in parents:
                continue  # removing its child prunes it, or a later round gets it
            try:
                api.remove_image(image["Id"], force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
    left = [image["Id"] for image in api.images(all=True)]
    if left:
        raise FixtureError(f"could not remove images: {left}")
    _prune_build_cache(api)


def _prune_build_cache(api: docker.APIClient) -> None:
    try:
        api.prune_builds(all=True)
    except docker.errors.APIError as exc:
        if exc.status_code not in (404, 501):  # an engine without a build cache API (Podman)
            raise
