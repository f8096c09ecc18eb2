"""What containerd's garbage collector frees when images go (the containerd image store).

Disk held = content blobs (indexes, manifests, configs, layers: what an image reaches, present) +
unpacked snapshots. A removal deletes the blobs no remaining image reaches, and the snapshots no
remaining holder image and no container keeps. Used by :mod:`tui.core.containerd`; pure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from tui.core.model import Container, Snapshot


def content_of(snapshot: Snapshot, image_id: str) -> Mapping[str, int]:
    """The image's content blobs (digest -> bytes); without the content store's data, one
    stand-in blob of the API's content size (shared content then counts per image)."""
    image = snapshot.images[image_id]
    if image.content is not None:
        return image.content
    return {image_id: max(image.content_size, 0)}


def snapshot_holders(snapshot: Snapshot) -> dict[str, bool]:
    """Image id -> whether the image holds its unpacked snapshots.

    A snapshot is held by the config of the image that unpacked it (a garbage-collector label)
    and keeps its parent chains. An image holds its snapshots when no image that entered the store
    before it (``stored_at``) already had its top chain among its own chains: a pull or load does
    not unpack a chain that exists (measured on Docker 28.5: loading ``x = [a, b]`` then
    ``y = [a]`` and removing x frees a's snapshot too). Equal times count as holding both (frees
    less, never more). Images the legacy builder made (they have a parent) always hold theirs: the
    builder labels each new config with its top chain.
    """
    first: dict[str, float] = {}
    for image in snapshot.images.values():
        for chain in image.chain_ids:
            if chain not in first or image.stored_at < first[chain]:
                first[chain] = image.stored_at
    out: dict[str, bool] = {}
    for image in snapshot.images.values():
        chains = image.chain_ids
        out[image.id] = bool(chains) and (bool(image.parent_id) or image.stored_at <= first[chains[-1]])
    return out


@dataclass(frozen=True)
class GcIndex:
    """What the collector's questions need, counted once per snapshot (so a plan's bytes cost the
    images that go, not the whole store). Holds no reference to the snapshot."""

    content_holders: Mapping[str, int]  # content digest -> how many of the images reach it
    chain_holders: Mapping[str, int]  # chain id -> holder images and containers keeping it now
    holders: Mapping[str, bool]  # image id -> whether it holds its snapshots (snapshot_holders)


def gc_index(snapshot: Snapshot) -> GcIndex:
    content: dict[str, int] = {}
    for image_id in snapshot.images:
        for digest in content_of(snapshot, image_id):
            content[digest] = content.get(digest, 0) + 1
    holders = snapshot_holders(snapshot)
    chains: dict[str, int] = {}
    for image in snapshot.images.values():
        if holders[image.id]:
            for chain in set(image.chain_ids):
                chains[chain] = chains.get(chain, 0) + 1
    for container in snapshot.containers:
        for chain in set(_container_chains(snapshot, container)):
            chains[chain] = chains.get(chain, 0) + 1
    return GcIndex(content, chains, holders)


def _container_chains(snapshot: Snapshot, container: Container) -> tuple[str, ...]:
    used = snapshot.images.get(container.image_id)
    return used.chain_ids if used is not None else container.held_chains


def content_holders_left(snapshot: Snapshot, index: GcIndex, gone: Iterable[str]) -> dict[str, int]:
    """Content digest -> how many images reach it once the images ``gone`` are (``index``:
    :func:`gc_index` of ``snapshot``); a blob no image reaches then counts 0."""
    left = dict(index.content_holders)
    for image_id in gone:
        for digest in content_of(snapshot, image_id):
            left[digest] -= 1
    return left


def content_freed_by(snapshot: Snapshot, index: GcIndex, gone: Iterable[str]) -> dict[str, int]:
    """Blobs (digest -> bytes) no image reaches once the images ``gone`` are (``index``:
    :func:`gc_index` of ``snapshot``).

    Blobs of BuildKit-built images count too, though the build cache and build history may keep
    them on disk (see :func:`buildkit_content_of`).
    """
    left: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for image_id in gone:
        for digest, size in content_of(snapshot, image_id).items():
            left[digest] = left.get(digest, index.content_holders[digest]) - 1
            sizes[digest] = size
    return {digest: sizes[digest] for digest, holders in left.items() if holders == 0}


def buildkit_content_of(snapshot: Snapshot, index: GcIndex, gone: Collection[str]) -> dict[str, int]:
    """The part of :func:`content_freed_by` only BuildKit-built images reach. BuildKit's cache
    and build history keep most of it on disk (measured on Docker 28.5: removing three built
    images left all but their provenance blobs), so it is not counted as disk freed."""
    freed = content_freed_by(snapshot, index, gone)
    plain: set[str] = set()
    for image_id in gone:
        if not snapshot.images[image_id].buildkit:
            plain.update(content_of(snapshot, image_id))
    return {d: size for d, size in freed.items() if d not in plain}


def snapshots_freed_by(
    snapshot: Snapshot,
    index: GcIndex,
    gone: Collection[str],
    removed: Iterable[Container],
    remaining: Iterable[str],
) -> list[str]:
    """Chain ids of the snapshots that exist now and not once the images ``gone`` and the
    containers ``removed`` are (each gone image's top first, in id order, then the ``remaining``
    images' in id order: a snapshot only a removed container kept).

    ``remaining`` is read only when a removed container's image stays."""
    left: dict[str, int] = {}
    for image_id in gone:
        if index.holders[image_id]:
            for chain in set(snapshot.images[image_id].chain_ids):
                left[chain] = left.get(chain, index.chain_holders[chain]) - 1
    for container in removed:
        for chain in set(_container_chains(snapshot, container)):
            left[chain] = left.get(chain, index.chain_holders[chain]) - 1
    unheld = {chain for chain, holders in left.items() if holders == 0}
    if not unheld:
        return []
    freed: dict[str, None] = {}  # ordered

    def add_from(images: Iterable[str]) -> bool:
        for image_id in sorted(images):
            for chain in reversed(snapshot.images[image_id].chain_ids):
                if chain in unheld:
                    freed.setdefault(chain)
            if len(freed) == len(unheld):
                return True
        return False

    if not add_from(gone):  # under snapshot_holders' rule the first image with a chain holds it,
        add_from(remaining)  # so this finds nothing more; it keeps the order whatever holds
    return list(freed)


def freed_snapshots(
    snapshot: Snapshot, remaining: Iterable[str], containers: Iterable[Container]
) -> list[str]:
    """Chain ids of the snapshots that exist now and not once only ``remaining`` images and
    ``containers`` (of the snapshot's) are left (each removed image's top first)."""
    live = set(remaining)
    kept = {c.id for c in containers}
    removed = [c for c in snapshot.containers if c.id not in kept]
    return snapshots_freed_by(snapshot, gc_index(snapshot), set(snapshot.images) - live, removed, live)


def containers_own_bytes(snapshot: Snapshot, containers: Iterable[Container]) -> tuple[int, int]:
    """``(bytes, unknown)``: disk of the containers' own snapshots (the ``-init`` one and the
    read-write one), which removing them frees and /system/df LayersSize counts; ``unknown``:
    how many containers' figures the engine's numbers do not give.

    A container's SizeRootFs is the usage of its whole snapshot chain (its image's unpacked
    snapshots, its init snapshot, its RW snapshot); less its image's snapshots, what is its own
    (measured on 28.5 and 26.1: SizeRootFs 2,134,016 = 2,101,248 of the image + 28,672 init +
    4,096 RW, and LayersSize grows by 32,768 per created container).
    """
    total = unknown = 0
    for container in containers:
        image = snapshot.images.get(container.image_id)
        chains = image.chain_ids if image is not None else container.held_chains
        if container.size_root_fs < 0 or not chains:
            unknown += 1
            continue
        chain_bytes, open_sizes = snapshot.measure(chains)
        if open_sizes:
            unknown += 1
            continue
        total += container.size_root_fs - chain_bytes
    return total, unknown


def held_bytes(snapshot: Snapshot) -> int:
    """Disk the images hold: distinct content blobs plus the snapshots images and containers
    hold, the containers' own snapshots included (what /system/df LayersSize counts on Docker
    28; the known part where a container's figure is unknown)."""
    content: dict[str, int] = {}
    for image_id in snapshot.images:
        content.update(content_of(snapshot, image_id))
    own, _ = containers_own_bytes(snapshot, snapshot.containers)
    return sum(content.values()) + snapshot.bytes_of(freed_snapshots(snapshot, (), ())) + own
