"""Seed a Docker engine with known images, containers, pushes and builds (tests and the demo).

Every helper takes a low-level ``docker.APIClient``: the sandbox sets stores up through the SDK
directly, not through docker-sweep's engine adapter (:mod:`tui.engine`), so that tests of the adapter
do not depend on it. Emptying an engine (``wipe``) is in the tests, not here. Build the images themselves with
:mod:`tui.sandbox.imagegen`; run the engine with :class:`tui.sandbox.daemon.PrivateDaemon`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import docker

from tui.core.reference import split_tag
from tui.engine.load_report import loaded_images
from tui.sandbox.imagegen import FileSpec, LayerSpec, layer_tar

__all__ = [
    "FixtureError",
    "build_child",
    "create_container",
    "load_tarball",
    "push",
    "tag",
]


class FixtureError(RuntimeError):
    """The engine reported an error while a fixture was being set up."""


def _checked(lines: Iterable[Any], what: str) -> list[dict[str, Any]]:
    """Drain a decoded JSON progress stream; raise on its first error line."""
    out: list[dict[str, Any]] = []
    for line in lines:
        if not isinstance(line, dict):
            continue
        if line.get("error") or line.get("errorDetail"):
            detail = line.get("error") or cast(dict[str, Any], line["errorDetail"]).get("message")
            raise FixtureError(f"{what}: {detail}")
        out.append(cast(dict[str, Any], line))
    return out


def load_tarball(api: docker.APIClient, data: bytes) -> list[str]:
    """``docker load`` ``data``; returns the tags and IDs the engine reported, in its order.

    An untagged image may be missing from the list (:mod:`tui.engine.load_report` says when), so
    check untagged images with :func:`tui.sandbox.imagegen.image_id`.
    """
    loaded: list[str] = []
    stream = api.load_image(data)  # type: ignore[no-untyped-call]
    for line in _checked(stream, "docker load"):
        for item in loaded_images(str(line.get("stream", ""))):
            if item not in loaded:
                loaded.append(item)
    return loaded


def tag(api: docker.APIClient, image: str, repo: str, tag: str) -> None:
    """Add the reference ``repo:tag`` to ``image`` (a name or ID); replaces an existing one."""
    if not api.tag(image, repo, tag, force=True):
        raise FixtureError(f"could not tag {image} as {repo}:{tag}")


def create_container(
    api: docker.APIClient,
    image: str,
    name: str,
    *,
    start: bool,
    cmd: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Create (and if ``start``, start) a container with ``--network none``; returns its ID.

    For a busybox image, ``cmd=["/bin/busybox", "sleep", "600"]`` keeps it running.
    """
    host_config = api.create_host_config(network_mode="none")
    created = api.create_container(
        image,
        command=list(cmd) if cmd is not None else None,
        name=name,
        host_config=host_config,
        labels=dict(labels) if labels else None,
    )
    container_id = cast(str, created["Id"])
    if start:
        api.start(container_id)
    return container_id


def push(api: docker.APIClient, ref: str) -> str:
    """Push ``ref`` (``127.0.0.1:PORT/repo:tag``) to its registry; returns the manifest digest.

    Afterwards the image's ``RepoDigests`` holds ``127.0.0.1:PORT/repo@<digest>``.
    """
    repo, name = split_tag(ref)
    digest = ""
    for line in _checked(api.push(repo, tag=name, stream=True, decode=True), f"push {ref}"):
        aux = line.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = str(aux["Digest"])
        # the containerd image store sends no aux record, only "TAG: digest: sha256:… size: N"
        found = re.search(r": digest: (sha256:[0-9a-f]{64}) ", str(line.get("status", "")))
        if found and not digest:
            digest = found[1]
    if not digest:
        raise FixtureError(f"push {ref}: the engine reported no digest")
    return digest


def pull(api: docker.APIClient, repo: str, tag_or_digest: str) -> None:
    """Pull ``repo:tag`` or ``repo@sha256:…`` (give the digest as ``tag_or_digest``)."""
    _checked(api.pull(repo, tag=tag_or_digest, stream=True, decode=True), f"pull {repo} {tag_or_digest}")


def build_child(
    api: docker.APIClient,
    parent_ref: str,
    tag: str,
    steps: Sequence[str],
    *,
    files: Mapping[str, bytes] | None = None,
    nocache: bool = False,
) -> str:
    """Classic-builder ``docker build`` of ``FROM parent_ref`` + ``steps``; returns the image ID.

    The context is built in memory: a ``Dockerfile`` plus ``files`` (path → bytes, mtime 0, for
    ``COPY``). Each step commits an intermediate image, so the result's ``ParentId`` is set
    (``images(all=True)`` lists the intermediates). ``RUN`` steps run with network mode none;
    shell-form ``RUN`` needs ``/bin/sh`` (``busybox_files()`` provides it).
    """
    dockerfile = "\n".join([f"FROM {parent_ref}", *steps]) + "\n"
    context = [FileSpec("Dockerfile", data=dockerfile.encode())]
    context += [FileSpec(path, data=data) for path, data in (files or {}).items()]
    stream = api.build(
        fileobj=io.BytesIO(layer_tar(LayerSpec(tuple(context)))),
        custom_context=True,
        tag=tag,
        rm=True,
        forcerm=True,
        nocache=nocache,
        decode=True,
        network_mode="none",
    )
    _checked(stream, f"build {tag}")
    return cast(str, api.inspect_image(tag)["Id"])  # type: ignore[no-untyped-call]
