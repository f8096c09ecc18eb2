"""Podman behind the Docker-compatible API: detecting it and normalising what it answers.

Podman 4.3 differs from dockerd in what its compat API returns (see :mod:`tui.core.podman` for its
removal rules): ``Deleted:`` lines and ``/system/df`` carry bare hex IDs (no ``sha256:``), every
image carries ``localhost/…@sha256`` digests for its ``localhost/`` names although no registry
holds them, and freed layers are never reported. These helpers turn its answers into the shapes
the rest of docker-sweep uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tui.core.model import Image, Snapshot

if TYPE_CHECKING:
    from tui.core.classic import Record

_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_podman(version: Mapping[str, Any]) -> bool:
    """Whether ``GET /version`` comes from Podman (its ``Components`` name "Podman Engine")."""
    components = version.get("Components") or []
    return any("podman" in str(c.get("Name", "")).lower() for c in components if isinstance(c, dict))


def full_id(value: str) -> str:
    """``sha256:<hex>`` for a bare 64-hex ID (Podman's form), anything else unchanged."""
    return f"sha256:{value}" if _HEX64.fullmatch(value) else value


def _is_registry_digest(digest: str) -> bool:
    """A ``localhost/…@sha256`` digest names no registry: Podman adds one per local name."""
    return not digest.startswith("localhost/")


def normalise_images(images: Iterable[Image]) -> list[Image]:
    """Full parent IDs, and ``localhost/`` digests moved out of ``digests`` (not pullable)."""
    out = []
    for image in images:
        registry = tuple(d for d in image.digests if _is_registry_digest(d))
        local = tuple(d for d in image.digests if not _is_registry_digest(d))
        out.append(replace(image, digests=registry, local_digests=local, parent_id=full_id(image.parent_id)))
    return out


def normalise_record(record: Record) -> Record:
    """A compat response line with a full image ID."""
    from tui.core.classic import Record

    return Record(record.kind, full_id(record.value)) if record.kind == "Deleted" else record


def implied_layers(
    expected: Sequence[Record], reported: Sequence[Record], snapshot: Snapshot
) -> list[Record]:
    """The planned layer deletions of a step whose planned image deletions Podman all reported.

    Podman deletes an image's unshared layers with it but never lists them; the plan knows which.
    """
    planned = {r.value for r in expected if r.kind == "Deleted" and r.value in snapshot.images}
    seen = {r.value for r in reported if r.kind == "Deleted"}
    if not planned or not planned <= seen:
        return []
    return [r for r in expected if r.kind == "Deleted" and r.value not in snapshot.images]
