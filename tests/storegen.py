"""Small helpers to build pure core snapshots in unit tests (no engine)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from types import MappingProxyType

from tui.core.layers import chain_ids
from tui.core.model import Container, Image, Layer, Snapshot


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def make_image(
    name: str,
    diffs: Sequence[tuple[str, int]],
    *,
    tags: Sequence[str] = (),
    digests: Sequence[str] = (),
    parent: str = "",
    created: float = 1_700_000_000.0,
    labels: dict[str, str] | None = None,
) -> Image:
    """An image whose layers are (diff name, size) pairs; ids derive from ``name``."""
    diff_ids = [digest("diff:" + d) for d, _ in diffs]
    layers = tuple(
        Layer(chain_id=c, diff_id=d, size=s)
        for c, d, (_, s) in zip(chain_ids(diff_ids), diff_ids, diffs, strict=True)
    )
    return Image(
        id=digest("image:" + name),
        tags=tuple(tags),
        digests=tuple(digests),
        created=created,
        size=sum(s for _, s in diffs),
        parent_id=parent,
        labels=MappingProxyType(labels or {}),
        layers=layers,
    )


def container(name: str, image: Image, state: str = "exited") -> Container:
    return Container(id=digest("container:" + name)[7:], name=name, image_id=image.id, state=state)


def snapshot(images: Sequence[Image], containers: Sequence[Container] = ()) -> Snapshot:
    return Snapshot(images, containers)
