"""The plan's data (:class:`Plan`, its :class:`Step` calls, what is :class:`Blocked`) and how a
replay's calls become a plan: each step with what it expects to find (seen state), the references
untagged, the images deleted, the layers freed and their bytes, and the warnings that go with them.
:mod:`tui.core.plan` makes the replays.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tui.core import containerd
from tui.core.classic import ClassicStore, DeleteCall, PlainPrunes, Record
from tui.core.containerd_bytes import containers_own_bytes
from tui.core.filters import PruneFilters
from tui.core.model import Container, Snapshot, short_id

Store = ClassicStore | containerd.ContainerdStore

REASON_FIX = {
    "running container": "stop and remove the running container(s) first; docker-sweep never "
    "removes running containers, and --force only untags an image a running container uses",
    "stopped container": "remove the stopped container(s) first: --with-containers (key c in the "
    "TUI) does that; --force would delete the image record but free no bytes while they exist",
    "dependent child images": "remove the child images first",
    "referenced in multiple repositories": "remove it by each tag, or use --force to untag every "
    "reference and delete it",
    "unknown reference": "check the name or ID with `docker-sweep images --all`",
    "ambiguous reference": "give more characters of the image ID",
    "invalid reference": "give repository[:tag], repository@digest or an image ID (lowercase)",
    "untag only": "the engine would remove its tags but keep the image (moby #36295); remove the "
    "containers that use it first",
    "protected": "it matches [protect] in the config; change the config to remove it",
}


@dataclass(frozen=True)
class Blocked:
    """Something the plan will not remove, why, and what would unblock it."""

    ref: str
    image_id: str
    reason: str
    message: str
    containers: tuple[Container, ...] = ()

    @property
    def fix(self) -> str:
        return REASON_FIX.get(self.reason, "")


@dataclass(frozen=True, init=False)
class Step:
    """One engine call, in order, with the response lines the plan predicts for it."""

    action: str  # "remove_container" | "delete_image"
    target: str
    image_id: str = ""
    force: bool = False
    expect: tuple[Record, ...] = ()
    container: Container | None = None
    # What the plan saw of ``image_id`` just before this step (after the plan's own earlier steps):
    # all its references (tags and digests) and the ids of the containers using it, in any state.
    # The executor re-reads both before the call and skips the step if they differ. ``None``: not
    # recorded (nothing to compare).
    seen_refs: tuple[str, ...] | None = None
    seen_containers: tuple[str, ...] | None = None
    # A ``delete_image`` step that removes only this platform (``os/arch[/variant]``) of a
    # multi-platform image (containerd store, API 1.50+: ``DELETE /images/{name}?platforms=``).
    platform: str = ""

    def __init__(
        self,
        action: str,
        target: str,
        image_id: str = "",
        force: bool = False,
        expect: tuple[Record, ...] = (),
        container: Container | None = None,
        seen_refs: tuple[str, ...] | None = None,
        seen_containers: tuple[str, ...] | None = None,
        platform: str = "",
    ) -> None:
        # Written straight into the instance dict (a 20,000-image plan makes 40,000 steps; the
        # frozen dataclass's __init__ sets each field through object.__setattr__, 3x slower).
        fields = self.__dict__
        fields["action"] = action
        fields["target"] = target
        fields["image_id"] = image_id
        fields["force"] = force
        fields["expect"] = expect
        fields["container"] = container
        fields["seen_refs"] = seen_refs
        fields["seen_containers"] = seen_containers
        fields["platform"] = platform


Planned = Step | DeleteCall | PlainPrunes  # a step, or a call the replay logged (store.calls)

_GC_LOCK = threading.Lock()
_GC_DEPTH = 0


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a plan runs (or makes its steps on first read).

    A plan of a 20,000-image store allocates some 500,000 small objects; each 70,000 of them
    start a full collection that walks every object of the snapshot (millions), which was half
    of the plan's CPU time. Plans make no reference cycles, so nothing is lost: the collector
    resumes (if it was on) when the last concurrent plan ends. Then the objects made meanwhile
    join the oldest generation at once (``gc.freeze`` and ``gc.unfreeze`` move whole lists, in
    constant time): otherwise the first young collection after the plan walks all of them (a
    quarter of a second at 20,000 images). They are still collected by the next full collection.
    Not done when someone else has frozen objects (unfreezing would release theirs).
    """
    global _GC_DEPTH
    with _GC_LOCK:
        if _GC_DEPTH == 0:
            _GC_STATE[0] = gc.isenabled()
            gc.disable()
        _GC_DEPTH += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_DEPTH -= 1
            if _GC_DEPTH == 0 and _GC_STATE[0]:
                if gc.get_freeze_count() == 0:
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()


_GC_STATE = [False]


class _PendingSteps:
    """A plan's steps not made yet: the replay's calls, and what their seen state is read from
    (the snapshot's image and container-per-image maps, not the snapshot: a plan remembered per
    snapshot must not keep it alive). Made once, on the first read of :attr:`Plan.steps`."""

    __slots__ = ("planned", "images", "users_of", "count", "lock", "made")

    def __init__(
        self,
        planned: Sequence[Planned],
        images: Mapping[str, Any],
        users_of: Mapping[str, tuple[Container, ...]],
        count: int,
    ) -> None:
        self.planned: Sequence[Planned] | None = planned
        self.images = images
        self.users_of = users_of
        self.count = count  # how many steps (known without making them)
        self.lock = threading.Lock()
        self.made: tuple[Step, ...] | None = None

    def steps(self) -> tuple[Step, ...]:
        made = self.made
        if made is None:
            with self.lock:
                made = self.made
                if made is None:
                    assert self.planned is not None
                    with collector_paused():  # as while the plan was made (35,000 steps at 20,000 images)
                        made = self.made = _make_steps(self.images, self.users_of, self.planned)
                    self.planned = None  # the calls are not needed any more
        return made


class _StepsField:
    """:attr:`Plan.steps`: a tuple of :class:`Step`, given to the constructor as usual or (from
    :func:`finish_plan`) made on its first read. Every reader sees the same tuple, made once even
    when threads read it at the same time; the plan stays immutable (frozen)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, instance: object | None, owner: type) -> tuple[Step, ...]:
        if instance is None:
            return ()  # the field's default
        value: tuple[Step, ...] | _PendingSteps = instance.__dict__[self.slot]
        return value.steps() if isinstance(value, _PendingSteps) else value

    def __set__(self, instance: object, value: tuple[Step, ...] | _PendingSteps) -> None:
        instance.__dict__[self.slot] = value


@dataclass(frozen=True)
class Plan:
    """The exact effect of a removal or prune, computed before any engine call."""

    kind: str  # "rm" | "prune"
    description: str
    # The engine calls in order. Made on first read for plans from finish_plan (a prune of
    # 20,000 images has 35,000 steps; its totals are known without them).
    steps: tuple[Step, ...] = _StepsField()  # type: ignore[assignment]
    untag: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    remove_containers: tuple[Container, ...] = ()
    freed_layers: tuple[str, ...] = ()
    reclaim_bytes: int = 0
    blocked: tuple[Blocked, ...] = ()
    warnings: tuple[str, ...] = ()
    force: bool = False
    filters: PruneFilters | None = None
    layers_known: bool = True
    pinned: tuple[str, ...] = field(default=())  # deleted images whose layers containers keep
    unknown_layers: int = 0  # freed layers of sizes no engine number proves: frees at least reclaim_bytes
    # containerd store: bytes of content blobs and of unpacked snapshots freed (their sum is
    # reclaim_bytes, the disk freed), and what the engine reports as SpaceReclaimed for a prune
    # (content only); None on the classic store, where SpaceReclaimed is reclaim_bytes.
    content_bytes: int | None = None
    snapshot_bytes: int | None = None
    engine_reported_bytes: int | None = None
    buildkit_bytes: int = 0  # content of BuildKit-built images the build cache may keep on disk

    @property
    def exact(self) -> bool:
        """True when ``reclaim_bytes`` is exactly what the removal frees."""
        return self.layers_known and not self.unknown_layers

    def freed_text(self, size: Callable[[int], str]) -> str:
        """``5.28MB``, or ``at least 5.28MB (2 layers of unknown size)``; ``size`` formats bytes."""
        if not self.layers_known:
            return "unknown (layers not read)"
        if self.unknown_layers:
            return (
                f"at least {size(self.reclaim_bytes)} ({self.unknown_layers} layer(s) of "
                "unknown size: the engine's numbers do not determine them)"
            )
        return size(self.reclaim_bytes)

    def local_only_deletes(self, snapshot: Snapshot) -> list[str]:
        """Deleted images that have no registry digest (cannot be pulled back), and images one
        platform of which goes (``rm --platform``) that cannot be pulled back either."""
        partly = [s.image_id for s in self.steps if s.platform and s.image_id not in self.delete]
        return [i for i in (*self.delete, *partly) if i in snapshot.images and snapshot.images[i].local_only]

    @property
    def step_count(self) -> int:
        """``len(self.steps)``, without making the steps when they are not made yet."""
        value = self.__dict__["_steps"]
        return value.count if type(value) is _PendingSteps else len(value)

    @property
    def empty(self) -> bool:
        """Nothing would change."""
        return not self.step_count

    def to_json(self) -> dict[str, Any]:
        """The stable ``--json`` form (see README)."""
        return {
            "kind": self.kind,
            "description": self.description,
            "untag": list(self.untag),
            "delete": list(self.delete),
            "remove_containers": [_container_json(c) for c in self.remove_containers],
            "freed_layers": list(self.freed_layers),
            "reclaim_bytes": self.reclaim_bytes if self.layers_known else None,
            "reclaim_exact": self.exact,
            "reclaim_unknown_layers": self.unknown_layers,
            "engine_reported_bytes": (
                self.reclaim_bytes
                if self.content_bytes is None and self.kind == "prune"
                else self.engine_reported_bytes
            )
            if self.layers_known
            else None,
            "content_bytes": self.content_bytes,
            "snapshot_bytes": self.snapshot_bytes,
            "buildkit_cache_bytes": self.buildkit_bytes,
            "blocked": [
                {
                    "ref": b.ref,
                    "image_id": b.image_id,
                    "reason": b.reason,
                    "message": b.message,
                    "fix": b.fix,
                    "containers": [_container_json(c) for c in b.containers],
                }
                for b in self.blocked
            ],
            "warnings": list(self.warnings),
            "steps": [
                {
                    "action": s.action,
                    "target": s.target,
                    "image_id": s.image_id,
                    "force": s.force,
                    "expect": [str(r) for r in s.expect],
                    "seen_refs": None if s.seen_refs is None else list(s.seen_refs),
                    "seen_containers": None if s.seen_containers is None else list(s.seen_containers),
                    **({"platform": s.platform} if s.platform else {}),
                }
                for s in self.steps
            ],
        }


def _container_json(c: Container) -> dict[str, str]:
    return {"id": c.id, "name": c.name, "state": c.state}


def finish_plan(
    kind: str,
    description: str,
    snapshot: Snapshot,
    store: Store,
    planned: Sequence[Planned],
    blocked: list[Blocked],
    warnings: list[str],
    force: bool = False,
    filters: PruneFilters | None = None,
    container_chains: Sequence[str] = (),
) -> Plan:
    untag: list[str] = []
    delete: list[str] = []
    freed: list[str] = list(container_chains)
    removed: list[Container] = []
    planned = tuple(planned)
    count = _effects(snapshot, planned, untag, delete, freed, removed)
    steps = _PendingSteps(planned, snapshot.images, snapshot.containers_by_image, count)
    if isinstance(store, ClassicStore):  # its index of users: no list per deleted image
        # A deleted image is gone from the store's records: when the images with users are
        # fewer than the deleted ones (a prune), those gone say whether any deleted one is pinned
        # (the deleted list is walked, for its order, only when one is).
        in_use = store.users
        if len(in_use) < len(delete):
            records, listed = store.images, snapshot.images
            if not any(i not in records and i in listed for i in in_use):
                in_use = {}
        pinned = tuple([i for i in delete if i in in_use]) if in_use else ()
    else:
        pinned = tuple(i for i in delete if store.containers_using(i))
    for image_id in pinned:
        names = ", ".join(c.name or c.short_id for c in store.containers_using(image_id))
        warnings.append(
            f"{short_id(image_id)} is deleted but its layers stay on disk while container(s) "
            f"{names} exist: "
            + (
                "only its content (compressed layers, config, manifest) is freed"
                if snapshot.containerd
                else "no bytes are freed for it"
            )
        )
    removed_containers = tuple(removed)
    without_layers = snapshot.images_without_layers
    layers_known = (not without_layers or without_layers.isdisjoint(delete)) and all(
        c.image_id in snapshot.images and snapshot.images[c.image_id].layers is not None
        for c in removed_containers
    )
    if snapshot.orphan_containers and delete:
        warnings.append(
            f"{len(snapshot.orphan_containers)} container(s) use image records that no longer "
            "exist; layers they share with the deleted images are not counted as freed"
        )
    content_bytes = snapshot_bytes = reported = None
    buildkit_bytes = 0
    if isinstance(store, containerd.ContainerdStore):
        freed = store.freed_snapshots()
        buildkit_bytes = sum(store.buildkit_content().values())
        content_bytes = sum(store.freed_content().values()) - buildkit_bytes
        if buildkit_bytes:
            warnings.append(
                f"{buildkit_bytes:,} bytes of content of BuildKit-built images are not counted "
                "as freed: the build cache and build history keep them on disk until "
                "`docker builder prune` (the engine's df will count them as freed)"
            )
        if any(snapshot.images[i].content is None for i in delete):
            warnings.append(
                "containerd's content store is not readable here: content the "
                "deleted images share with others is counted as freed (approximate)"
            )
    # the classic store frees a chain once, when its last holder goes (ClassicStore._release_chain)
    reclaim, unknown = snapshot.measure(freed, distinct=isinstance(store, ClassicStore))
    why = "images without full history"
    if content_bytes is not None and snapshot.orphan_containers and freed:
        # A container whose image was force-removed keeps that image's snapshots, and no engine
        # number names them (seen on 28.5: the drop fell 61,440 bytes short of them): any
        # snapshot this plan frees may be one it keeps.
        reclaim, unknown = 0, len(freed)
        why = "containers of removed image records may keep them"
    if content_bytes is not None and (hidden := _unsized_platforms(snapshot, delete)):
        # Below API 1.47 (Docker 26) the engine gives snapshot sizes of the host platform only,
        # but unpacks every platform of a loaded index whose content is there (measured on 26.1):
        # the other platforms' snapshots go too, of a size no engine number gives.
        why = why if unknown else "the engine (API below 1.47) gives no size for non-host platforms"
        unknown += hidden
    if content_bytes is not None:
        # the removed containers' own snapshots (init + RW) go too, and LayersSize counts them
        own, own_unknown = containers_own_bytes(snapshot, removed_containers)
        reclaim += own
        if own_unknown:
            why = why if unknown else "removed containers whose own snapshots' size was not read"
            unknown += own_unknown
        snapshot_bytes = reclaim
        reclaim += content_bytes
        reported = content_bytes if kind == "prune" else None
    if unknown:
        warnings.append(
            f"{unknown} freed layer(s) have sizes the engine's numbers do not "
            f"determine ({why}): the plan frees at least "
            f"{reclaim:,} bytes"
        )
    return Plan(
        kind=kind,
        description=description,
        steps=steps,  # type: ignore[arg-type]  # made on first read (see _StepsField)
        untag=tuple(untag),
        delete=tuple(delete),
        remove_containers=removed_containers,
        freed_layers=tuple(freed),
        reclaim_bytes=reclaim,
        blocked=tuple(blocked),
        warnings=tuple(warnings),
        force=force,
        filters=filters,
        layers_known=layers_known,
        pinned=pinned,
        unknown_layers=unknown,
        content_bytes=content_bytes,
        snapshot_bytes=snapshot_bytes,
        engine_reported_bytes=reported,
        buildkit_bytes=buildkit_bytes,
    )


def with_seen_state(snapshot: Snapshot, planned: Iterable[Planned]) -> tuple[Step, ...]:
    """The steps, in order, with what each one expects to find (:attr:`Step.seen_refs`,
    ``seen_containers``): the snapshot's references and containers of its image, minus what
    earlier steps remove. ``planned``: steps, and the store's calls (:class:`DeleteCall`), each of
    them its stopped containers' removals then one ``delete_image`` step (made here once, with its
    seen state: a prune of 20,000 images has as many)."""
    return _make_steps(snapshot.images, snapshot.containers_by_image, planned)


def _effects(
    snapshot: Snapshot,
    planned: Iterable[Planned],
    untag: list[str],
    delete: list[str],
    freed: list[str],
    removed: list[Container],
) -> int:
    """The steps' records, collected in one pass over them (no step made): the references
    untagged, the image ids deleted and the other ids deleted (layers), and the containers the
    steps remove. Returns how many steps :func:`_make_steps` makes of ``planned``."""
    images = snapshot.images
    untagged, deleted, released = untag.append, delete.append, freed.append
    count = 0
    for item in planned:
        if isinstance(item, PlainPrunes):  # most of a prune's calls: whole lists, no records made
            untag.extend(item.untagged())
            layers = list(item.released())
            if images.keys().isdisjoint(layers):  # (a layer id that is an image id: its deletion)
                delete.extend(item.image_ids)
                freed.extend(layers)
            else:
                for image_id, chains in zip(item.image_ids, item.freed, strict=True):
                    deleted(image_id)
                    for value in chains:
                        (deleted if value in images else released)(value)
            count += item.steps
            continue
        if not isinstance(item, Step):  # a DeleteCall
            if item.remove_first:
                removed.extend(item.remove_first)
                count += len(item.remove_first)
            expect = item.records
            container = None
        else:
            expect, container = item.expect, item.container
        count += 1
        for record in expect:
            value = record.value
            if record.kind == "Untagged":
                untagged(value)
            elif value in images:
                deleted(value)
            else:
                released(value)
        if container is not None:
            removed.append(container)
    return count


def _make_steps(
    images: Mapping[str, Any],
    users_of: Mapping[str, tuple[Container, ...]],
    planned: Iterable[Planned],
) -> tuple[Step, ...]:
    """:func:`with_seen_state` on the snapshot's ``images`` and ``users_of``
    (``containers_by_image``)."""
    refs_gone: set[str] = set()
    containers_gone: set[str] = set()
    out: list[Step] = []
    append = out.append
    get_image, get_users = images.get, users_of.get
    gone = refs_gone.add
    for item in planned:
        if isinstance(item, PlainPrunes):  # the steps of its calls, made from their scripts
            for script, image_id, freed in zip(item.scripts, item.image_ids, item.freed, strict=True):
                image = images[image_id]  # a plain image: listed
                refs = image.tags + image.digests if image.digests else image.tags  # image.refs
                users = get_users(image_id)  # only containers earlier steps remove
                seen = tuple(c.id for c in users if c.id not in containers_gone) if users else ()
                last = len(script.calls) - 1
                for at, (target, untags, values) in enumerate(script.calls):
                    if refs_gone and not refs_gone.isdisjoint(refs):
                        refs = tuple(r for r in refs if r not in refs_gone)
                    expect = untags
                    if at == last:
                        deleted = [Record("Deleted", c) for c in freed]
                        expect = (*untags, Record("Deleted", image_id), *deleted)
                    append(Step("delete_image", target, image_id, False, expect, None, refs, seen))
                    refs_gone.update(values)
            continue
        if not isinstance(item, Step):  # a DeleteCall
            for user in item.remove_first:
                append(Step("remove_container", user.id, user.image_id, container=user))
                containers_gone.add(user.id)
            image_id, expect = item.image_id, item.records
            image = get_image(image_id)
            if image is not None:
                refs = image.tags + image.digests if image.digests else image.tags  # image.refs
                if refs_gone and not refs_gone.isdisjoint(refs):
                    refs = tuple(r for r in refs if r not in refs_gone)
                users = get_users(image_id)
                seen = tuple(c.id for c in users if c.id not in containers_gone) if users else ()
                append(Step("delete_image", item.target, image_id, item.force, expect, None, refs, seen))
            else:
                append(Step("delete_image", item.target, image_id, item.force, expect))
            container = None
        else:
            image_id, expect, container = item.image_id, item.expect, item.container
            image = get_image(image_id)
            if item.action == "delete_image" and image is not None:
                refs = image.refs
                if refs_gone and not refs_gone.isdisjoint(refs):
                    refs = tuple(r for r in refs if r not in refs_gone)
                users = get_users(image_id)
                seen = tuple(c.id for c in users if c.id not in containers_gone) if users else ()
                item = Step(item.action, item.target, image_id, item.force, expect, container, refs, seen)
            append(item)
        for record in expect:
            if record.kind == "Untagged":
                gone(record.value)
        if container is not None:
            containers_gone.add(container.id)
    return tuple(out)


def _unsized_platforms(snapshot: Snapshot, delete: Iterable[str]) -> int:
    """Platforms besides the host's, with their content present, of the deleted images, on an
    engine whose API has no per-platform sizes (``GET /images/json?manifests=1`` is API 1.47+)."""
    parts = snapshot.facts.api_version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]) or (int(parts[0]), int(parts[1])) >= (1, 47):
        return 0
    count = 0
    for image_id in delete:
        image = snapshot.images.get(image_id)
        if image is not None:
            present = sum(1 for _, _, kind, available in image.manifests if kind == "image" and available)
            count += max(present - 1, 0)
    return count
