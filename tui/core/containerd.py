"""How the containerd image store answers ``DELETE /images/{name}`` and image prune.

:class:`ContainerdStore` is a mutable copy of a :class:`~tui.core.model.Snapshot` that replays the
engine's decision tree for the containerd image store (moby ``daemon/containerd/image_delete.go``,
``image_prune.go``, ``image.go`` ``resolveAllReferences``; Docker Engine 26 to 28 with
``containerd-snapshotter``), the way :mod:`tui.core.classic` does for the graphdriver store.

The store is a set of *names* (``docker.io/library/web:1.25``, or ``moby-dangling@sha256:<id>`` for
an untagged image), each pointing at a *target*: the manifest or index digest that is the image's
ID. The ``repo@<id>`` entries of RepoDigests are synthesized by the API from a name: they are no
names, and deleting never reports them. Rules replayed (each checked on Docker 28.5 and 26.1):

* lookup: a full ID or ``repo@digest`` matches by target; 4 to 64 hex digits are an ID prefix, also
  matching the name ``<hex>:latest``; two different targets answer 404 ``ambiguous reference``;
  shorter hex strings are plain names (``3`` is ``3:latest``);
* by name: the names of the same repository and tag go (``getSameReferences``); if the image has
  other names, they are only untagged; a container using the image (running or stopped) is a
  conflict without force; with force only that name goes (the image stays, as a dangling name);
* by ID (or digest): every name goes, then ``Deleted: <id>``; a running container is a hard
  conflict, a stopped one or several names are soft conflicts (force bypasses them);
* prune (:mod:`tui.core.containerd_prune`): name by name, ``Untagged: sha256:<id>`` for a
  dangling one, then ``Deleted:`` for the blobs that went;
* bytes (:mod:`tui.core.containerd_bytes`): a name's deletion runs containerd's garbage
  collector: content blobs no remaining image reaches go, and unpacked snapshots no remaining
  holder image and no container keeps. Prune reports the content part only (``SpaceReclaimed``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, KeysView, Mapping
from dataclasses import dataclass

from tui.core import containerd_bytes as gc
from tui.core.classic import DeleteCall, PredictedRefusal, Record, built_per_snapshot
from tui.core.filters import PruneFilters
from tui.core.model import Container, Snapshot, short_id
from tui.core.reference import (
    InvalidReference,
    Reference,
    parse_any_reference,
    parse_normalized_named,
    tag_name_only,
)

DANGLING_PREFIX = "moby-dangling@"
_TRUNCATED_ID = re.compile(r"^(?:sha256:)?([a-f0-9]{4,64})$")


def dangling_name(image_id: str) -> str:
    return DANGLING_PREFIX + image_id


def is_dangling_name(name: str) -> bool:
    return name.startswith(DANGLING_PREFIX)


def names_of(tags: Iterable[str], image_id: str) -> list[str]:
    """The store's names for an image listed with ``tags`` (normalized), or its dangling name."""
    out: list[str] = []
    for tag in tags:
        try:
            out.append(parse_normalized_named(tag).string())
        except InvalidReference:
            out.append(tag)  # the engine lists unparsable names as they are
    return out or [dangling_name(image_id)]


def familiar_name(name: str) -> str:
    """``imageFamiliarName``: the familiar form of a name; a dangling name's is the image ID."""
    if is_dangling_name(name):
        return name.removeprefix(DANGLING_PREFIX)
    try:
        return parse_normalized_named(name).familiar()
    except InvalidReference:
        return name


def _parse(name: str) -> Reference | None:
    if is_dangling_name(name):
        return None
    try:
        return parse_normalized_named(name)
    except InvalidReference:
        return None


def _is_image_id_prefix(image_id: str, possible_prefix: str) -> bool:
    if image_id.startswith(possible_prefix):
        return True
    return image_id.partition(":")[2].startswith(possible_prefix)


def config_labels_match(filters: PruneFilters, labels: Mapping[str, str]) -> bool:
    """``setupLabelFilter`` of the containerd store: every ``label`` and ``label!`` term must hold.

    ``label=k`` needs k, ``label=k=v`` needs k with value v; ``label!=k`` needs k absent and
    ``label!=k=v`` needs k present with another value (an image without k does not match it).
    """
    checks = [(t, False) for t in filters.labels] + [(t, True) for t in filters.not_labels]
    for term, negate in checks:
        key, found, value = term.partition("=")
        if key.endswith("!"):
            key, negate = key[:-1], not negate
        exists = key in labels
        if not found:
            if exists == negate:
                return False
            continue
        if not exists or (labels[key] == value) == negate:
            return False
    return True


@dataclass(frozen=True)
class _Conflict(Exception):
    reference: str
    hard: bool
    message: str
    reason: str
    containers: tuple[Container, ...] = ()

    def to_error(self, image_id: str) -> PredictedRefusal:
        force = "cannot be forced" if self.hard else "must be forced"
        text = f"conflict: unable to delete {self.reference} ({force}) - {self.message}"
        return PredictedRefusal(409, text, reason=self.reason, image_id=image_id, containers=self.containers)


_RUNNING, _ACTIVE_REFERENCE, _STOPPED = 1, 2, 4
_HARD = _RUNNING
_SOFT = _ACTIVE_REFERENCE | _STOPPED


class ContainerdStore:
    """A mutable model of one containerd image store, seeded from a snapshot.

    ``names`` is read-only outside this class: change it with :meth:`add_name` and
    :meth:`drop_name`, which keep the per-image index of names (every query here is a lookup, so a
    prune or a removal of N images is not N scans of the store).
    """

    def __init__(self, snapshot: Snapshot, protected: Mapping[str, str] | None = None) -> None:
        base = _base(snapshot)
        self.snapshot = snapshot
        self.protected: Mapping[str, str] = protected or {}
        self.names: dict[str, str] = dict(base.names)  # name -> target (image id)
        self._named: dict[str, tuple[str, ...]] = dict(base.named)  # target -> its names; tuples
        self._gone: set[str] = set(base.gone)  # the snapshot's images without a name
        self.parents: Mapping[str, str] = base.parents
        self.containers: dict[str, Container] = dict(base.containers)
        self._users: dict[str, tuple[Container, ...]] = dict(base.users)  # image id -> containers
        self._base = base
        self.calls: list[DeleteCall] = []

    def clone(self) -> ContainerdStore:
        other = ContainerdStore.__new__(ContainerdStore)
        other.snapshot = self.snapshot
        other.protected = self.protected
        other.names = dict(self.names)
        other._named = dict(self._named)
        other._gone = set(self._gone)
        other.parents = self.parents
        other.containers = dict(self.containers)
        other._users = dict(self._users)
        other._base = self._base
        other.calls = list(self.calls)
        return other

    # -- changes (the index values are tuples: replaced, never changed, so copies are shallow) --
    def add_name(self, name: str, target: str) -> None:
        old = self.names.get(name)
        if old is not None:
            self._forget(name, old)
        self.names[name] = target
        self._named[target] = (*self._named.get(target, ()), name)
        self._gone.discard(target)

    def drop_name(self, name: str) -> None:
        self._forget(name, self.names.pop(name))

    def _forget(self, name: str, target: str) -> None:
        rest = tuple(n for n in self._named[target] if n != name)
        if rest:
            self._named[target] = rest
        else:
            del self._named[target]
            self._gone.add(target)

    # -- store queries -----------------------------------------------------------------------
    @property
    def images(self) -> KeysView[str]:
        """Ids of the images that still have a name (a live view: it follows the changes)."""
        return self._named.keys()

    def has_image(self, image_id: str) -> bool:
        return image_id in self._named

    def names_for(self, image_id: str) -> list[str]:
        """The image's names in the order containerd lists them (by name)."""
        return sorted(self._named.get(image_id, ()))

    def references(self, image_id: str) -> list[str]:
        """The image's names other than its dangling one (what it would lose by untagging)."""
        return [n for n in self.names_for(image_id) if not is_dangling_name(n)]

    def containers_using(self, image_id: str) -> list[Container]:
        return list(self._users.get(image_id, ()))

    def children(self, image_id: str) -> list[str]:
        return [i for i in self.snapshot.children.get(image_id, ()) if i in self._named]

    def _ids_with_hex_prefix(self, hex_part: str) -> list[str]:
        """Ids of the snapshot's images whose hex digits start with ``hex_part``."""
        by_hex = self._base.by_hex
        out = []
        for hex_digits, image_id in by_hex[bisect.bisect_left(by_hex, (hex_part, "")) :]:
            if not hex_digits.startswith(hex_part):
                break
            out.append(image_id)
        return out

    def is_dangling(self, image_id: str) -> bool:
        return not self.references(image_id)

    # -- lookup ------------------------------------------------------------------------------
    def resolve_all(self, ref_or_id: str) -> tuple[str | None, list[str]]:
        """``resolveAllReferences``: (the name that matched or None, all names of the target)."""
        try:
            parsed = parse_any_reference(ref_or_id)
        except InvalidReference as exc:
            raise PredictedRefusal(400, str(exc), reason="invalid reference") from exc
        target = ""
        matched: str | None = None
        truncated = _TRUNCATED_ID.match(ref_or_id)
        if truncated is not None and isinstance(parsed, str):  # a full ID
            target = parsed
        elif truncated is not None:
            assert isinstance(parsed, Reference)
            name = tag_name_only(parsed).string()
            hex_part = truncated.group(1)
            matching = {n for i in self._ids_with_hex_prefix(hex_part) for n in self._named.get(i, ())}
            if name in self.names:
                matching.add(name)
            found = sorted(matching)
            if not found:
                raise self._not_found(parsed)
            for n in found:
                if n == name:
                    matched = n
                if target and self.names[n] != target:
                    raise PredictedRefusal(404, "ambiguous reference", reason="ambiguous reference")
                target = self.names[n]
            if matched is None or len(found) > 1:
                return matched, found
        else:
            assert isinstance(parsed, Reference)
            name = tag_name_only(parsed).string()
            if name in self.names:
                matched = name
                target = self.names[name]
            elif parsed.digest is not None:
                target = parsed.digest
            else:
                raise self._not_found(parsed)
        every = self.names_for(target)
        if not every:
            raise self._not_found(parsed)
        return matched, every

    def resolve(self, ref_or_id: str) -> str:
        """The image id ``ref_or_id`` names (raises :class:`PredictedRefusal` like the engine)."""
        matched, every = self.resolve_all(ref_or_id)
        return self.names[matched] if matched is not None else self.names[every[0]]

    @staticmethod
    def _not_found(parsed: Reference | str) -> PredictedRefusal:
        shown = (
            parsed
            if isinstance(parsed, str)
            else (tag_name_only(parsed).familiar() if parsed.digest is None else parsed.familiar())
        )
        return PredictedRefusal(404, f"No such image: {shown}", reason="unknown reference")

    def _same_references(self, named: Reference | None, every: list[str]) -> list[str]:
        """``getSameReferences``: the names a removal by ``named`` takes away."""
        tag = ""
        all_tags = False
        same: list[str] = []
        digest_refs: list[str] | None = []
        if named is not None:
            if named.tag is not None:
                tag = named.tag
            elif named.digest is not None:
                all_tags = True
        for name in every:
            repo_ref = _parse(name)
            if not is_dangling_name(name) and repo_ref is not None:
                if named is None:
                    named = repo_ref
                    tag = repo_ref.tag or ""
                elif named.name != repo_ref.name:
                    continue
                elif not all_tags:
                    if repo_ref.tag is not None:
                        if tag == "":
                            tag = repo_ref.tag
                        elif tag != repo_ref.tag:
                            digest_refs = None
                            continue
                    else:
                        if digest_refs is not None:
                            digest_refs.append(name)
                        continue
            same.append(name)
        return same + (digest_refs or [])

    # -- conflicts -----------------------------------------------------------------------------
    def _conflict(self, image_id: str, every: list[str], mask: int) -> _Conflict | None:
        users = self.containers_using(image_id)
        running = tuple(c for c in users if c.running)
        stopped = tuple(c for c in users if not c.running)
        ref = short_id(image_id)
        if mask & _RUNNING and running:
            return _Conflict(
                ref,
                True,
                f"image is being used by running container {running[0].short_id}",
                "running container",
                running,
            )
        if mask & _STOPPED and stopped:
            return _Conflict(
                ref,
                False,
                f"image is being used by stopped container {stopped[0].short_id}",
                "stopped container",
                stopped,
            )
        if mask & _ACTIVE_REFERENCE and len(every) > 1:
            return _Conflict(
                ref,
                False,
                "image is referenced in multiple repositories",
                "referenced in multiple repositories",
            )
        return None

    # -- the delete decision tree ------------------------------------------------------------
    def delete(
        self, ref_or_id: str, *, force: bool = False, prune: bool = True, explicit_parents: bool = True
    ) -> list[Record]:
        """Replay ``DELETE /images/{ref_or_id}?force=&noprune=``; return its records.

        Raises :class:`PredictedRefusal` where the engine answers an error (nothing changes then).
        With ``explicit_parents`` each parent the engine would prune (legacy-builder step images)
        is recorded as its own :class:`DeleteCall` by ID (how the executor runs it, with
        ``noprune``), else it stays in this call's records.
        """
        matched, every = self.resolve_all(ref_or_id)
        image_id = self.names[matched] if matched is not None else self.names[every[0]]
        if image_id in self.protected:
            raise PredictedRefusal(0, self.protected[image_id], reason="protected", image_id=image_id)
        mask = 0 if force else _SOFT
        if matched is None:
            named: Reference | None = None
            if not _is_image_id_prefix(image_id, ref_or_id):
                named = parse_named(ref_or_id)
            same = self._same_references(named, every)
            if not same and named is not None:
                raise self._not_found(named)
            if len(same) == len(every) and not force:
                mask &= ~_ACTIVE_REFERENCE
            if named is not None and 0 < len(same) < len(every):
                return self._untag(ref_or_id, image_id, force, same)
            return self._delete_all(ref_or_id, image_id, every, mask, prune, force, explicit_parents)
        dangling_ref = ref_or_id.startswith(DANGLING_PREFIX) and is_dangling_name(matched)
        if _is_image_id_prefix(image_id, ref_or_id) or dangling_ref:
            return self._delete_all(ref_or_id, image_id, every, mask, prune, force, explicit_parents)
        parsed = _parse(matched)
        same = self._same_references(parsed, every)
        if len(same) != len(every):
            return self._untag(ref_or_id, image_id, force, same)
        if len(every) > 1 and not force:
            mask &= ~_ACTIVE_REFERENCE
        users = self.containers_using(image_id)
        if users:
            familiar = familiar_name(matched)
            if not force:
                raise PredictedRefusal(
                    409,
                    f"conflict: unable to delete {familiar} (must be forced) - container "
                    f"{users[0].short_id} is using its referenced image {short_id(image_id)}",
                    reason="running container" if any(c.running for c in users) else "stopped container",
                    image_id=image_id,
                    containers=tuple(users),
                )
            # softImageDelete: the name goes, a dangling name keeps the image.
            self.drop_name(matched)
            if len(every) == 1:
                self.add_name(dangling_name(image_id), image_id)
            records = [Record("Untagged", familiar)]
            self._log_call(ref_or_id, image_id, force, records)
            return records
        return self._delete_all(ref_or_id, image_id, every, mask, prune, force, explicit_parents)

    def _untag(self, target: str, image_id: str, force: bool, names: list[str]) -> list[Record]:
        records = []
        for name in names:
            self.drop_name(name)
            if _parse(name) is not None:
                records.append(Record("Untagged", familiar_name(name)))
        self._log_call(target, image_id, force, records)
        return records

    def _delete_all(
        self,
        target: str,
        image_id: str,
        every: list[str],
        mask: int,
        prune: bool,
        force: bool,
        explicit_parents: bool,
    ) -> list[Record]:
        conflict = self._conflict(image_id, every, _HARD | mask)
        if conflict is not None:
            raise conflict.to_error(image_id)
        records: list[Record] = []
        for name in every:
            self._delete_name(name, every, mask, records)
        records.append(Record("Deleted", image_id))
        self._log_call(target, image_id, force, records)
        parent_records: list[Record] = []
        parent = self.parents.get(image_id, "")
        while prune and parent and self.references(parent) == [] and self.names_for(parent):
            parent_names = self.names_for(parent)
            if self._conflict(parent, every, _HARD | _SOFT) is not None or (parent in self.protected):
                break
            own: list[Record] = []
            for name in parent_names:
                self._delete_name(name, every, _SOFT, own)
            own.append(Record("Deleted", parent))
            parent_records += own
            if explicit_parents:  # the executor deletes it by ID (noprune=1 on the child)
                self.calls.append(DeleteCall(parent, parent, False, tuple(own)))
            parent = self.parents.get(parent, "")
        if not explicit_parents and parent_records:
            self.calls[-1] = DeleteCall(target, image_id, force, tuple(records + parent_records))
        return records + parent_records

    def _delete_name(self, name: str, every: list[str], extra: int, records: list[Record]) -> None:
        image_id = self.names[name]
        if (
            not is_dangling_name(name)
            and len(every) == 1
            and extra & _ACTIVE_REFERENCE
            and (self.children(image_id))
        ):
            self.add_name(dangling_name(image_id), image_id)  # kept for its child images
        self.drop_name(name)
        if not is_dangling_name(name):
            records.append(Record("Untagged", familiar_name(name)))

    def _log_call(self, target: str, image_id: str, force: bool, records: list[Record]) -> None:
        self.calls.append(DeleteCall(target, image_id, force, tuple(records)))

    def remove_container(self, container_id: str) -> list[str]:
        """``DELETE /containers/{id}``: the container stops holding its snapshots."""
        container = self.containers.pop(container_id)
        users = tuple(c for c in self._users.get(container.image_id, ()) if c.id != container_id)
        if users:
            self._users[container.image_id] = users
        else:
            self._users.pop(container.image_id, None)
        return []

    # -- what the garbage collector frees (tui/core/containerd_bytes.py) ---------------------
    def content_holders(self) -> dict[str, int]:
        """Content digest -> how many of the store's named images reach it (0: none now)."""
        return gc.content_holders_left(self.snapshot, self._base.gc, self._gone)

    def freed_content(self) -> dict[str, int]:
        """Content blobs (digest -> size) of the seeded images no remaining image reaches."""
        return gc.content_freed_by(self.snapshot, self._base.gc, self._gone)

    def buildkit_content(self) -> dict[str, int]:
        """The part of :meth:`freed_content` that BuildKit's cache keeps on disk."""
        return gc.buildkit_content_of(self.snapshot, self._base.gc, self._gone)

    def freed_snapshots(self) -> list[str]:
        """Chain ids of the unpacked snapshots that go."""
        removed = [c for c in self.snapshot.containers if c.id not in self.containers]
        return gc.snapshots_freed_by(self.snapshot, self._base.gc, self._gone, removed, self.images)


@dataclass(frozen=True)
class _Base:
    """A store as its snapshot shows it, and the indexes its questions use: built once per
    snapshot, each :class:`ContainerdStore` starts as a shallow copy. Refers to no snapshot (it is
    kept on one, see :func:`tui.core.classic.per_snapshot`)."""

    names: Mapping[str, str]
    named: Mapping[str, tuple[str, ...]]
    gone: frozenset[str]
    parents: Mapping[str, str]
    containers: Mapping[str, Container]
    users: Mapping[str, tuple[Container, ...]]  # by container id
    by_hex: list[tuple[str, str]]  # (hex digits of an id, the id), sorted
    gc: gc.GcIndex


def _base(snapshot: Snapshot) -> _Base:
    return built_per_snapshot(snapshot, "_containerd_base", _build_base)


def _build_base(snapshot: Snapshot) -> _Base:
    names: dict[str, str] = {}
    named: dict[str, tuple[str, ...]] = {}
    for image in snapshot.images.values():
        for name in names_of(image.tags, image.id):
            old = names.get(name)
            if old is not None:  # two images listed with one name: the last one has it
                named[old] = tuple(n for n in named[old] if n != name)
            names[name] = image.id
            named[image.id] = (*named.get(image.id, ()), name)
    named = {target: own for target, own in named.items() if own}
    users: dict[str, tuple[Container, ...]] = {}
    for container in sorted(snapshot.containers, key=lambda c: c.id):
        users[container.image_id] = (*users.get(container.image_id, ()), container)
    return _Base(
        names=names,
        named=named,
        gone=frozenset(snapshot.images) - frozenset(named),
        parents={i.id: i.parent_id for i in snapshot.images.values()},
        containers={c.id: c for c in snapshot.containers},
        users=users,
        by_hex=sorted((i.partition(":")[2], i) for i in snapshot.images),
        gc=gc.gc_index(snapshot),
    )


def parse_named(text: str) -> Reference | None:
    try:
        return parse_normalized_named(text)
    except InvalidReference:
        return None
