"""The containerd-store model's indexes answer what a scan of the whole store answers (issue 10).

:class:`ContainerdStore` keeps per-image indexes (its names, its containers, the images by hex id)
and counts the garbage collector's holders once per snapshot (:func:`gc_index`), so a prune or a
removal of N images costs the images that go, not N scans of the store. Here random stores go
through random removals, prunes and container removals, and after each step every query is
compared with a plain scan of the store's names and containers: the rules as they were written
before the indexes (the differential tests check those rules against real engines).
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import replace
from types import MappingProxyType

import pytest

from tests.storegen import container, digest, make_image
from tui.core import containerd_prune
from tui.core.classic import PredictedRefusal
from tui.core.containerd import ContainerdStore, is_dangling_name
from tui.core.containerd_bytes import content_of, freed_snapshots, snapshot_holders
from tui.core.filters import PruneFilters
from tui.core.model import Container, EngineFacts, Image, Snapshot


def _store(seed: int, version: str) -> Snapshot:
    rnd = random.Random(seed)
    bases = [[(f"base{b}-{k}", 1_000 * (k + 1)) for k in range(rnd.randint(1, 3))] for b in range(3)]
    images: list[Image] = []
    parent = ""
    for n in range(rnd.randint(10, 40)):
        repo = f"r{rnd.randint(0, 3)}"
        tags = [f"{repo}:{n}"] if rnd.random() < 0.6 else []
        if tags and rnd.random() < 0.3:
            tags.append(f"{repo if rnd.random() < 0.5 else 'other'}:{n}b")
        if images and rnd.random() < 0.15:  # a name that is also an id prefix (``abcd:latest``)
            tags.append(rnd.choice(images).id[7 : 7 + rnd.randint(4, 6)] + ":latest")
        diffs = [*rnd.choice(bases), (f"s{seed}i{n}", 10 + n)]
        image = make_image(f"s{seed}i{n}", diffs, tags=tags, parent=parent if rnd.random() < 0.3 else "")
        shared = {digest(f"shared{k}"): 77 for k in range(3) if rnd.random() < 0.3}
        blobs = {image.id: 500, digest(f"cfg{seed}-{n}"): 300, **shared}
        blobs.update({digest("blob:" + d): size for d, size in diffs})
        images.append(
            replace(
                image,
                content=MappingProxyType(blobs),
                stored_at=float(rnd.randint(1, 30)),
                buildkit=rnd.random() < 0.2,
                manifests=((image.id, "linux/amd64", "image", True),),
            )
        )
        if rnd.random() < 0.3:
            parent = image.id
    containers = [
        container(f"c{seed}-{k}", image, "running" if rnd.random() < 0.3 else "exited")
        for k, image in enumerate(rnd.sample(images, k=min(len(images), rnd.randint(0, 6))))
    ]
    return Snapshot(images, containers, EngineFacts(version=version, image_store="containerd"))


# -- the rules as a scan of the whole store (the model before its indexes) ---------------------
def _images(store: ContainerdStore) -> set[str]:
    return set(store.names.values())


def _freed_content(snap: Snapshot, remaining: set[str]) -> dict[str, int]:
    kept: set[str] = set()
    for image_id in remaining:
        kept.update(content_of(snap, image_id))
    out: dict[str, int] = {}
    for image_id in set(snap.images) - remaining:
        for blob, size in content_of(snap, image_id).items():
            if blob not in kept:
                out[blob] = size
    return out


def _buildkit_content(snap: Snapshot, remaining: set[str]) -> dict[str, int]:
    plain: set[str] = set()
    for image_id in set(snap.images) - remaining:
        if not snap.images[image_id].buildkit:
            plain.update(content_of(snap, image_id))
    return {b: s for b, s in _freed_content(snap, remaining).items() if b not in plain}


def _freed_snapshots(snap: Snapshot, remaining: set[str], containers: list[Container]) -> list[str]:
    holders = snapshot_holders(snap)

    def existing(images: object, users: list[Container]) -> set[str]:
        chains: set[str] = set()
        for image_id in images:  # type: ignore[attr-defined]
            if holders.get(image_id):
                chains.update(snap.images[image_id].chain_ids)
        for c in users:
            used = snap.images.get(c.image_id)
            chains.update(used.chain_ids if used is not None else c.held_chains)
        return chains

    before = existing(snap.images, list(snap.containers))
    after = existing(remaining, containers)
    freed: list[str] = []
    for image_id in sorted(set(snap.images) - remaining) + sorted(remaining):
        for chain in reversed(snap.images[image_id].chain_ids):
            if chain in before and chain not in after and chain not in freed:
                freed.append(chain)
    return freed


def _content_holders(snap: Snapshot, remaining: set[str]) -> dict[str, int]:
    holders: dict[str, int] = {}
    for image_id in remaining:
        for blob in content_of(snap, image_id):
            holders[blob] = holders.get(blob, 0) + 1
    return holders


def _check(store: ContainerdStore) -> None:
    snap = store.snapshot
    live = _images(store)
    assert set(store.images) == live
    for image_id in snap.images:
        assert store.has_image(image_id) == (image_id in live)
        assert store.names_for(image_id) == sorted(n for n, t in store.names.items() if t == image_id)
        assert store.children(image_id) == sorted(i for i in live if store.parents.get(i) == image_id)
        users = sorted((c for c in store.containers.values() if c.image_id == image_id), key=lambda c: c.id)
        assert store.containers_using(image_id) == users
    assert store.freed_content() == _freed_content(snap, live)
    assert {b: n for b, n in store.content_holders().items() if n} == _content_holders(snap, live)
    assert store.buildkit_content() == _buildkit_content(snap, live)
    assert store.freed_snapshots() == _freed_snapshots(snap, live, list(store.containers.values()))


def _lookups(store: ContainerdStore, rnd: random.Random) -> list[str]:
    ids = sorted(store.snapshot.images)
    hexes = [i[7:] for i in ids]
    refs = [h[: rnd.randint(1, 12)] for h in rnd.sample(hexes, min(5, len(hexes)))]
    refs += [h[:4] for h in hexes[:3]] + ["0000", "fff"]
    refs += [n for n in sorted(store.names) if not is_dangling_name(n)][:5]
    refs += [n.removeprefix("docker.io/library/").removesuffix(":latest") for n in store.names]
    return refs


def _resolved_by_scan(store: ContainerdStore, ref: str) -> tuple[str | None, list[str]] | str:
    """``resolve_all`` of a hex prefix, by scanning every name (the rule before the index)."""
    name = f"docker.io/library/{ref}:latest"
    found = sorted(n for n, t in store.names.items() if n == name or t[7:].startswith(ref))
    if not found:
        return "not found"
    targets = {store.names[n] for n in found}
    if len(targets) > 1:
        return "ambiguous"
    matched = name if name in found else None
    if matched is None or len(found) > 1:
        return matched, found
    return matched, sorted(n for n, t in store.names.items() if t == store.names[matched])


@pytest.mark.parametrize("version", ["28.5.2", "26.1.5"])
@pytest.mark.parametrize("seed", range(40))
def test_every_query_after_each_change_equals_a_scan_of_the_store(seed: int, version: str) -> None:
    rnd = random.Random(seed)
    snap = _store(seed, version)
    store = ContainerdStore(snap)
    _check(store)
    for _ in range(rnd.randint(3, 10)):
        action = rnd.random()
        if action < 0.15 and store.containers:
            store.remove_container(rnd.choice(sorted(store.containers)))
        elif action < 0.25:
            trial = store.clone()
            dangling = rnd.random() < 0.5
            containerd_prune.prune(trial, PruneFilters(dangling=dangling))
            _check(trial)
            _check(store)  # the clone shares nothing it changes
        elif store.names:
            image_id = rnd.choice(sorted(snap.images))
            ref = rnd.choice([image_id, image_id[7:19], *sorted(store.names)])
            with contextlib.suppress(PredictedRefusal):
                store.delete(ref, force=rnd.random() < 0.4, explicit_parents=rnd.random() < 0.5)
        _check(store)
        for ref in _lookups(store, rnd):
            hex_prefix = len(ref) >= 4 and set(ref) <= set("0123456789abcdef")
            expected = _resolved_by_scan(store, ref) if hex_prefix else None
            try:
                got: tuple[str | None, list[str]] | str = store.resolve_all(ref)
            except PredictedRefusal as exc:
                got = "ambiguous" if "ambiguous" in str(exc) else "not found"
            if expected is not None:
                assert got == expected, ref


def test_the_generic_freed_snapshots_equals_the_scan() -> None:
    for seed in range(20):
        snap = _store(seed, "28.5.2")
        rnd = random.Random(seed)
        remaining = set(rnd.sample(sorted(snap.images), len(snap.images) // 2))
        kept = [c for c in snap.containers if rnd.random() < 0.5]
        assert freed_snapshots(snap, remaining, kept) == _freed_snapshots(snap, remaining, kept)
        assert freed_snapshots(snap, (), ()) == _freed_snapshots(snap, set(), [])
