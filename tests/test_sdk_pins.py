"""Pins on the docker SDK's private methods that ``tui/engine/sdk_private.py`` uses.

A docker release that renames or changes ``APIClient._url``, ``_get`` or ``_raise_for_status``
fails here by name, instead of as a broken backup in a user's hands.
"""

from __future__ import annotations

import inspect
import io
import json
import tarfile
from typing import Any

import docker
import docker.errors
import pytest

from tests.conftest import session_store
from tests.fakeengine import API, EMPTY_STORE, fake_engine
from tests.test_backup import load, small
from tui.engine import client
from tui.engine.sdk_private import PRIVATE_METHODS, image_archive

#: The signatures image_archive is written against (docker 7.x).
PINNED = {
    "_url": "(self, pathfmt, *args, **kwargs)",
    "_get": "(self, *args, **kwargs)",  # update_headers wraps _get(self, url, **kwargs)
    "_raise_for_status": "(self, response)",
}


def test_docker_major_version_is_the_one_pinned() -> None:
    assert docker.__version__.split(".")[0] == "7", (
        f"docker {docker.__version__}: tui/engine/sdk_private.py is written against docker 7.x "
        "private methods; check them and the bound in pyproject.toml"
    )


@pytest.mark.parametrize("name", PRIVATE_METHODS)
def test_private_method_signature_unchanged(name: str) -> None:
    method = getattr(docker.APIClient, name, None)
    assert callable(method), f"docker.APIClient.{name} is gone: fix tui/engine/sdk_private.py"
    actual = str(inspect.signature(inspect.unwrap(method)))
    assert actual == PINNED[name], f"docker.APIClient.{name}{actual} changed: fix tui/engine/sdk_private.py"


def test_image_archive_saves_every_name_and_raises_not_found(clean_engine: Any) -> None:
    api = clean_engine.api
    [image_id] = load(api, small(("pin:one", "pin:two"), "sdk-pin"))
    with image_archive(api, ["pin:one", "pin:two"], 1 << 16) as chunks:
        data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        manifest = json.load(member)
        names = tar.getnames()
    # Podman names a loaded image localhost/NAME
    names_saved = [sorted(t.removeprefix("localhost/") for t in m["RepoTags"]) for m in manifest]
    assert names_saved == [["pin:one", "pin:two"]]
    if session_store() == "containerd":
        # the containerd store saves an OCI layout: the image's id is its manifest's digest
        assert f"blobs/sha256/{image_id.removeprefix('sha256:')}" in names
    else:
        assert image_id.removeprefix("sha256:") in manifest[0]["Config"]
    # Podman 4.3 answers a missing name with a 500 ("image not known"), Docker with a 404
    missing = docker.errors.APIError if session_store() == "podman" else docker.errors.NotFound
    with pytest.raises(missing), image_archive(api, ["pin:missing"], 1 << 16) as chunks:
        b"".join(chunks)


def test_direct_reads_ask_the_urls_the_sdk_asks(tmp_path: Any) -> None:
    """tui/engine/snapshot.py reads the lists without the SDK (on a unix socket) by the URLs the
    SDK's calls ask, query and all, and negotiates the API version as the SDK does."""
    assert ".".join(map(str, client.SDK_MINIMUM_API)) == docker.constants.MINIMUM_DOCKER_API_VERSION
    with fake_engine(EMPTY_STORE, socket_path=tmp_path / "fake.sock") as fake:
        api = docker.APIClient(base_url=fake.url, version="auto")
        assert [s.target for s in fake.seen] == ["/version"]  # unversioned
        api.images(all=True)
        api.containers(all=True)
        api.containers(all=True, size=True)
        api.info()
        api.df()
        api.close()
    prefix = f"/v{API}"
    assert [s.target for s in fake.seen[1:]] == [
        prefix + client.IMAGES_URL,
        prefix + client.CONTAINERS_URL,
        prefix + client.CONTAINER_SIZES_URL,
        prefix + "/info",
        prefix + "/system/df",
    ]


def test_the_image_list_with_manifests_is_the_url_the_sdk_asks(tmp_path: Any) -> None:
    """From API 1.47 the image list is asked with ``manifests=1``, by the SDK and without it."""
    from tui.engine.client import Engine
    from tui.engine.snapshot import list_image_rows

    newer = {"/version": (200, {"Version": "28.5.2", "ApiVersion": "1.51"}), "/v1.51/images/json": (200, [])}
    with fake_engine(newer, socket_path=tmp_path / "fake.sock") as fake:
        assert list_image_rows(Engine(fake.url, direct_reads=False)) == ([], True)
        assert list_image_rows(Engine(fake.url)) == ([], True)
    assert [s.target for s in fake.seen if "images" in s.target] == [
        "/v1.51" + client.IMAGES_MANIFESTS_URL
    ] * 2
