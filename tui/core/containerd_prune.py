"""How the containerd image store answers ``POST /images/prune`` (moby
``daemon/containerd/image_prune.go``, Docker 26.1 and 28.5), on a :class:`ContainerdStore`.

Names are pruned one by one: dangling ones only by default, every name with ``dangling=false``,
filtered by ``until`` (when the name entered the store) and the config's labels. A container keeps
the name it was created with and its image's dangling name; an image a container was created from
by ID keeps its last name (Docker 28) or a dangling name (Docker 26). Each name's deletion runs
the garbage collector; the response lists ``Untagged: <familiar name>`` (``sha256:<id>`` for a
dangling one) and ``Deleted:`` for the blobs that went: manifests and indexes on 28, every blob on
26. ``SpaceReclaimed`` is the size of the blobs that went (content only).
"""

from __future__ import annotations

from tui.core import containerd_bytes as gc
from tui.core.classic import DeleteCall, PredictedRefusal, PruneOutcome, Record
from tui.core.containerd import (
    ContainerdStore,
    config_labels_match,
    dangling_name,
    familiar_name,
    is_dangling_name,
    parse_named,
)
from tui.core.filters import PruneFilters
from tui.core.model import Container, Snapshot
from tui.core.reference import Reference, tag_name_only


def _kept_names(container: Container, legacy: bool) -> tuple[set[str], bool]:
    """``filterImagesUsedByContainers`` for one container: the names it keeps from pruning, and
    whether it was created from its image by ID or digest (then the image keeps its last name;
    on Docker 26 it keeps a dangling name)."""
    config_image = container.image
    normalized = "sha256:" + config_image.removeprefix("sha256:")
    kept = {dangling_name(container.image_id)}
    if legacy and container.image_id.startswith(normalized):
        return kept, True
    by_id = container.image_id.startswith(normalized) or (
        not legacy and config_image.endswith("@" + container.image_id)
    )
    ref = parse_named(config_image)
    if ref is not None:
        kept.add(tag_name_only(ref).string())
        if not legacy and ref.digest is not None and ref.tag is not None:
            kept.add(Reference(ref.name, ref.tag).string())
    return kept, by_id


def engine_major(snapshot: Snapshot) -> int:
    """The engine's major version (28 when unknown: the current rules)."""
    head = snapshot.facts.version.split(".", 1)[0]
    return int(head) if head.isdigit() else 28


def _freed_now(
    store: ContainerdStore, target: str, freed: set[str], legacy: bool, holders: dict[str, int]
) -> list[str]:
    """Blobs of ``target`` the collector deletes now that it lost its last name, as prune reports
    them: every blob on Docker 26, only manifests and indexes on 28. ``holders``:
    :meth:`ContainerdStore.content_holders` before the first removal, less each image that lost its last name
    since; ``target`` is taken off here (once: a name is never given back during a prune)."""
    image = store.snapshot.images[target]
    manifests = {target} | {m[0] for m in image.manifests}
    out = []
    for digest in gc.content_of(store.snapshot, target):
        holders[digest] -= 1
        if holders[digest] > 0 or digest in freed:
            continue
        freed.add(digest)
        if legacy or digest in manifests:
            out.append(digest)
    return out


def prune(
    store: ContainerdStore,
    filters: PruneFilters,
    *,
    exclude: frozenset[str] = frozenset(),
    explicit_parents: bool = True,
) -> PruneOutcome:
    """Replay ``POST /images/prune`` (containerd store) on ``store``.

    Names are visited in name order (the engine walks a Go map, so its response order is random;
    the final state and the bytes do not depend on it). ``exclude`` lists image ids the caller will
    not touch (docker-sweep's safe mode); they are skipped like conflicts.
    """
    del explicit_parents
    snapshot = store.snapshot
    ref_count: dict[str, int] = {}
    for target in store.names.values():
        ref_count[target] = ref_count.get(target, 0) + 1
    candidates: dict[str, str] = {}
    for name, target in sorted(store.names.items()):
        if filters.dangling and not is_dangling_name(name):
            continue
        image = snapshot.images[target]
        if filters.until is not None and not image.stored_at_ns < filters.until.ns:
            continue
        if (filters.labels or filters.not_labels) and not config_labels_match(filters, image.labels):
            continue
        candidates[name] = target
    considered = dict(candidates)
    legacy = engine_major(snapshot) < 28
    used: set[str] = set()
    for container in store.containers.values():
        kept, by_id = _kept_names(container, legacy)
        for name in kept:
            candidates.pop(name, None)
        if by_id:
            used.add(container.image_id)
    keep_dangling: set[str] = set()
    for name in sorted(candidates):
        target = candidates[name]
        if legacy:  # Docker 26: all names go, a dangling name keeps a used image
            ref_count[target] -= 1
            if ref_count[target] == 0 and target in used:
                keep_dangling.add(target)
            continue
        if ref_count[target] > 1:
            ref_count[target] -= 1
            continue
        if target in used:
            del candidates[name]
    for target in keep_dangling:
        store.add_name(dangling_name(target), target)
    freed: set[str] = set()
    holders = store.content_holders()
    skipped: list[PredictedRefusal] = []
    skipped_ids: set[str] = set()
    touched: set[str] = set()
    for name in sorted(candidates):
        target = candidates[name]
        if target in exclude:
            continue
        if target in store.protected:
            if target not in skipped_ids:
                skipped_ids.add(target)
                skipped.append(
                    PredictedRefusal(0, store.protected[target], reason="protected", image_id=target)
                )
            continue
        store.drop_name(name)
        touched.add(target)
        out = [Record("Untagged", familiar_name(name))]
        if not store.has_image(target):
            out += [Record("Deleted", d) for d in _freed_now(store, target, freed, legacy, holders)]
        store.calls.append(DeleteCall(familiar_name(name), target, False, tuple(out)))
    kept_by_containers = {t for n, t in considered.items() if n not in candidates}
    for target in sorted(kept_by_containers):
        if store.has_image(target) and store.containers_using(target):
            users = tuple(store.containers_using(target))
            skipped.append(
                PredictedRefusal(
                    409,
                    "in use",
                    reason="running container" if any(c.running for c in users) else "stopped container",
                    image_id=target,
                    containers=users,
                )
            )
    untagged_only = tuple(sorted(t for t in touched if store.has_image(t)))
    return PruneOutcome(tuple(skipped), untagged_only)
