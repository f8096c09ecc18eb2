"""How the classic (graphdriver) image store answers ``DELETE /images/{name}`` and image prune.

:class:`ClassicStore` is a mutable copy of a :class:`~tui.core.model.Snapshot` that replays the
engine's decision tree (moby ``daemon/images/image_delete.go`` and ``image_prune.go``, Docker Engine
20.10 to 28 with the graphdriver store): reference lookup, tag-versus-ID removal, hard and soft
conflicts, force, the quiet delete after the last untag, parent pruning, and layer release by
reference count. The planner runs removals on it to predict every response line exactly.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain as chain_from
from operator import attrgetter, methodcaller
from typing import Any, NamedTuple, TypeVar

from tui.core.filters import PruneFilters
from tui.core.model import Container, Image, Snapshot, short_id
from tui.core.reference import (
    InvalidReference,
    Reference,
    parse_any_reference,
    parse_normalized_named,
    tag_name_only,
)


@dataclass(frozen=True, init=False)
class Record:
    """One line of the engine's delete response: ``Untagged: ref`` or ``Deleted: id``."""

    kind: str  # "Untagged" | "Deleted"
    value: str

    def __init__(self, kind: str, value: str) -> None:
        # Written straight into the instance dict: a plan of 20,000 images makes some 60,000
        # records, and the frozen dataclass's __init__ (object.__setattr__ per field) was 2x this.
        fields = self.__dict__
        fields["kind"] = kind
        fields["value"] = value

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"


class PredictedRefusal(Exception):
    """A refusal the model predicts: what the engine would answer instead of deleting (status code
    and message). Not an engine failure: those are :class:`tui.engine.client.EngineError`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str,
        image_id: str = "",
        containers: tuple[Container, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.image_id = image_id
        self.containers = containers


@dataclass(frozen=True, init=False)
class DeleteCall:
    """One engine call the planner will make, with the records it predicts."""

    target: str
    image_id: str
    force: bool
    records: tuple[Record, ...]
    remove_first: tuple[Container, ...] = ()  # stopped containers removed (own steps) just before

    def __init__(
        self,
        target: str,
        image_id: str,
        force: bool,
        records: tuple[Record, ...],
        remove_first: tuple[Container, ...] = (),
    ) -> None:
        fields = self.__dict__  # see Record.__init__
        fields["target"] = target
        fields["image_id"] = image_id
        fields["force"] = force
        fields["records"] = records
        fields["remove_first"] = remove_first


_ScriptCall = tuple[str, tuple[Record, ...], tuple[str, ...]]  # target, Untagged records, their values


class UntagScript(NamedTuple):
    """What ``DELETE`` of each reference of a plain image does in turn (:func:`_untag_script`)."""

    calls: tuple[_ScriptCall, ...]  # each call's target, ``Untagged`` records and their values
    untagged: tuple[str, ...]  # the values of every call's records, in order
    steps: int  # ``len(calls)``, read with the script (a run counts its steps as it grows)


class PlainPrunes:
    """Prune's calls for a run of plain images without a parent, one after another, as one entry
    of ``store.calls``: for the k-th image, ``image_ids[k]``, the script of its references'
    untags ``scripts[k]`` (each call's target and ``Untagged`` records in order) and the layers
    its last call frees after deleting it, ``freed[k]`` (in record order). No object per image
    and no records are made: a prune of 20,000 images has ~16,500 such images. The plan's totals
    are whole lists (``untagged``, ``image_ids``, ``released``) and its steps read the run
    (tui/core/plan_result.py)."""

    __slots__ = ("scripts", "image_ids", "freed")

    def __init__(self) -> None:
        self.scripts: list[UntagScript] = []
        self.image_ids: list[str] = []
        self.freed: list[list[str]] = []

    def add(self, script: UntagScript, image_id: str, freed: list[str]) -> None:
        self.scripts.append(script)
        self.image_ids.append(image_id)
        self.freed.append(freed)

    @property
    def steps(self) -> int:
        """The calls of all scripts."""
        return sum(map(_STEPS, self.scripts))

    def untagged(self) -> Iterator[str]:
        """Every reference the run untags, in order."""
        return chain_from.from_iterable(map(_UNTAGGED, self.scripts))

    def released(self) -> Iterator[str]:
        """Every layer the run frees, in order."""
        return chain_from.from_iterable(self.freed)


_UNTAGGED = attrgetter("untagged")
_STEPS = attrgetter("steps")
_IS_SHA256 = methodcaller("startswith", "sha256:")


class _Conflict(Exception):
    def __init__(
        self,
        image_id: str,
        hard: bool,
        used: bool,
        message: str,
        reason: str,
        containers: tuple[Container, ...] = (),
    ) -> None:
        super().__init__(message)
        self.image_id, self.hard, self.used = image_id, hard, used
        self.message, self.reason, self.containers = message, reason, containers

    def to_error(self) -> PredictedRefusal:
        force = "cannot be forced" if self.hard else "must be forced"
        text = f"conflict: unable to delete {short_id(self.image_id)} ({force}) - {self.message}"
        return PredictedRefusal(
            409, text, reason=self.reason, image_id=self.image_id, containers=self.containers
        )


_CHILD, _RUNNING, _REFERENCE, _STOPPED = 1, 2, 4, 8
_HARD = _CHILD | _RUNNING
_SOFT = _REFERENCE | _STOPPED


class _RefIndex(dict[str, str]):
    """Normalized reference -> image id, with the reverse index kept in step (fast per-image lookups).

    The reverse index holds sorted tuples that are replaced, never changed, so :meth:`copy` is
    shallow.
    """

    def __init__(self) -> None:
        super().__init__()
        self.by_image: dict[str, tuple[str, ...]] = {}

    def __setitem__(self, key: str, image_id: str) -> None:
        if key in self:
            self._drop(key)
        super().__setitem__(key, image_id)
        self.by_image[image_id] = tuple(sorted((*self.by_image.get(image_id, ()), key)))

    def __delitem__(self, key: str) -> None:
        self._drop(key)
        super().__delitem__(key)

    def _drop(self, key: str) -> None:
        owner = self[key]
        keys = self.by_image[owner]
        at = keys.index(key)
        self.by_image[owner] = keys[:at] + keys[at + 1 :]

    def copy(self) -> _RefIndex:
        other = _RefIndex()
        dict.update(other, self)
        other.by_image = dict(self.by_image)
        return other


@lru_cache(maxsize=1 << 17)
def _stored_ref(text: str) -> tuple[str, Reference] | None:
    """How the store keeps a listed reference: its full string (the index key) and its parsed
    form, ``latest`` added to a bare name; ``None`` for one that does not parse. Remembered like
    the parsers' answers (a reload lists the same references)."""
    try:
        ref = parse_normalized_named(text)
    except InvalidReference:
        return None
    if ref.tag is None and ref.digest is None:
        ref = tag_name_only(ref)
    key = ref.string()
    if key == text:
        # the listed string itself when it is already normalized (``registry.example.com/app:1``):
        # one object for both, read once per image by the store's seed (see _seed)
        return text, ref
    if len(_KEY_REFS) >= _KEY_REFS_MAX:
        _KEY_REFS.clear()
    _KEY_REFS[key] = ref  # what _ParsedKeys asks next, by the key: not parsed a second time
    return key, ref


# normalized key -> its parsed form, for the keys :func:`_stored_ref` made from another text
# (``app:1`` -> ``docker.io/library/app:1``): a prune's untag scripts read them by the key
_KEY_REFS: dict[str, Reference] = {}
_KEY_REFS_MAX = 1 << 17


_Listed = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
# see _listed_refs: keyed by the tags alone when there is no digest reference (a tuple of
# strings, never equal to a pair of tuples), else by the pair
_LISTED: dict[tuple[str, ...] | tuple[tuple[str, ...], tuple[str, ...]], _Listed] = {}
_LISTED_MAX = 1 << 15


def _listed_refs(tags: tuple[str, ...], digests: tuple[str, ...]) -> _Listed:
    """An image's listed references as the store keeps them: the keys in listing order (a
    reference that does not parse left out; one listed twice twice), the keys sorted (the
    per-image index), and the ``name:tag@digest`` keys; all empty when none parses. Remembered
    per listing in ``_LISTED`` (a reload lists the same references), so a new snapshot's store
    is one lookup per image instead of one parse per reference. (A dict, not ``lru_cache``: a
    hit there also moves its entry in a linked list; measured 8 ms more per 20,000 images.)"""
    listing = (tags, digests) if digests else tags
    entry = _LISTED.get(listing)
    if entry is None:
        if len(_LISTED) >= _LISTED_MAX:
            _LISTED.clear()
        entry = _LISTED[listing] = _parse_listing(tags, digests)
    return entry


def _parse_listing(tags: tuple[str, ...], digests: tuple[str, ...]) -> _Listed:
    order: list[str] = []
    both: list[str] = []
    for text in chain_from(tags, digests):
        stored = _stored_ref(text)
        if stored is None:
            continue
        key, ref = stored
        order.append(key)
        if ref.tag is not None and ref.digest is not None:
            both.append(key)
    if not order:
        return (), (), ()
    keys = tuple(sorted(order)) if len(order) > 1 else (order[0],)
    return tuple(order), keys, tuple(both)


class _ParsedKeys(dict[str, Reference]):
    """Index key (a normalized reference string) -> its parsed form, parsed when first asked (a
    key parses back to the reference it was made from: :func:`_stored_ref` of either is the same)."""

    def __missing__(self, key: str) -> Reference:
        ref = _KEY_REFS.get(key)
        if ref is None:
            stored = _stored_ref(key)
            assert stored is not None and stored[0] == key, key
            ref = stored[1]
        self[key] = ref
        return ref


_BASES_LOCK = threading.Lock()


def per_snapshot(snapshot: Snapshot, name: str) -> Any:
    """What was kept on ``snapshot`` under ``name`` (``None`` if nothing): a store built for it.

    Kept on the snapshot itself: it goes when the snapshot goes. A store never refers back to its
    snapshot (only to its images): that cycle was freed only by the collector's full collections,
    rare in the app (``COLLECTOR_THRESHOLDS``), so every snapshot the app had replaced stayed in
    memory with its indexes until one ran.
    """
    return vars(snapshot).get(name)


def keep_per_snapshot(snapshot: Snapshot, name: str, value: object) -> None:
    vars(snapshot)[name] = value


_Built = TypeVar("_Built")


def built_per_snapshot(snapshot: Snapshot, name: str, build: Callable[[Snapshot], _Built]) -> _Built:
    """What was kept on ``snapshot`` under ``name``, or ``build(snapshot)``, kept there now.

    Built outside the lock: two threads that ask at once may both build it, and the last one kept
    stays; each is a whole build of the same snapshot, so either serves.
    """
    with _BASES_LOCK:
        value = per_snapshot(snapshot, name)
    if value is None:
        value = build(snapshot)
        with _BASES_LOCK:
            keep_per_snapshot(snapshot, name, value)
    return value  # type: ignore[no-any-return]


def _seeded_store(snapshot: Snapshot) -> ClassicStore:
    base = ClassicStore.__new__(ClassicStore)
    base._seed(snapshot)
    return base


def _base_store(snapshot: Snapshot) -> ClassicStore:
    """The store as the snapshot shows it, built once per snapshot (parsing every reference is the
    expensive part); each :class:`ClassicStore` starts as a cheap copy of it."""
    return built_per_snapshot(snapshot, "_classic_base", _seeded_store)


class ClassicStore:
    """A mutable model of one classic image store, seeded from a snapshot.

    The indexes are built once per snapshot and copied shallowly per store (their set values are
    frozensets and tuples, replaced on change), so making a store for one plan is cheap.
    """

    def __init__(self, snapshot: Snapshot, protected: Mapping[str, str] | None = None) -> None:
        _base_store(snapshot)._copy_into(self)
        self.protected: Mapping[str, str] = protected or {}

    def _seed(self, snapshot: Snapshot) -> None:
        # One pass over the images: parents and references (the references of each image from a
        # remembered parse of its whole listing, see _listed_refs). Measured: C-level passes
        # (map/zip per field) were slower here, each pass fetching every image again. The layer
        # stacks come from the snapshot's pass over the layers, which the layer sizes share.
        # the snapshot's images, not the snapshot: a store is kept on its snapshot (per_snapshot),
        # and a store that refers back to it makes a cycle only a full collection frees
        self.listed: Mapping[str, Image] = snapshot.images
        self.protected = {}
        images: dict[str, str] = {}
        kids: dict[str, set[str]] = {}  # parent id -> ids of existing child images
        facts = snapshot.stack_facts
        owner: dict[str, str] = {}
        by_image: dict[str, tuple[str, ...]] = {}
        both: set[str] = set()  # keys of ``name:tag@digest`` references
        listed = 0  # keys listed; more than ``len(owner)``: some reference is listed twice
        remembered = _LISTED.get  # _listed_refs, its lookup inline
        for image in snapshot.images.values():
            image_id = image.id
            parent = images[image_id] = image.parent_id
            if parent:
                kids.setdefault(parent, set()).add(image_id)
            tags, digests = image.tags, image.digests
            if not tags and not digests:
                continue
            listing = (tags, digests) if digests else tags  # (see _LISTED)
            order, keys, tag_and_digest = remembered(listing) or _listed_refs(tags, digests)
            if not order:
                continue
            for key in order:
                owner[key] = image_id
            listed += len(order)
            by_image[image_id] = keys
            if tag_and_digest:
                both.update(tag_and_digest)
        if listed != len(owner):  # rebuilt from the owners: each key under its last image only
            lists: dict[str, list[str]] = {}
            for key, image_id in owner.items():
                lists.setdefault(image_id, []).append(key)
            by_image = {k: tuple(sorted(v)) for k, v in lists.items()}
        self.images = images
        self.kids: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in kids.items()}
        # The ids sorted by their hex part (see _id_index): short-id lookups bisect instead of
        # scanning every id. Made on the first lookup (a prune never makes one), once for all
        # copies of this store.
        self.id_holder: list[tuple[str, list[str], list[str]]] = []
        self.tops: Mapping[str, str] = facts.tops
        self.below: Mapping[str, str] = facts.parent
        self.gone_holds: Mapping[str, tuple[str, ...]] = {}  # see _count_layer_holders
        self.refs = _RefIndex()  # normalized ref string -> image id
        self.ref_objs: Mapping[str, Reference] = _ParsedKeys()  # parsed on first use: prune needs few
        self.tag_and_digest = frozenset(both)
        # filled in bulk: _RefIndex.__setitem__ re-sorts the image's tuple on every insert
        dict.update(self.refs, owner)
        self.refs.by_image = by_image
        self.containers: dict[str, Container] = {c.id: c for c in snapshot.containers}
        users: dict[str, list[Container]] = {}
        for container in sorted(snapshot.containers, key=lambda c: c.id):
            users.setdefault(container.image_id, []).append(container)
        self.users: dict[str, tuple[Container, ...]] = {k: tuple(v) for k, v in users.items()}
        self._count_layer_holders(snapshot)
        self.calls: list[DeleteCall | PlainPrunes] = []
        self.run: PlainPrunes | None = None  # made by this store: see plain_run

    def _count_layer_holders(self, snapshot: Snapshot) -> None:
        """``layer_refs``: per chain, the holders whose top layer it is (image records, and
        containers of listed images) plus its chains on top (one each, however many images they
        hold): a layer is freed when that count falls to 0 (:meth:`_release`). A chain names its
        whole stack (see :func:`~tui.core.layers.read_classic_stacks`), so the chains form a tree
        and this counts as the engine's per-layer reference counts do, with one count per image
        instead of one per layer of it.

        A container whose image record is gone holds the chains the reader found for it
        (``Container.held_chains``: the layers it shares with listed images, or its image's stack
        from the layer cache), each counted on its own, as the engine counts them; a held chain
        no listed image has is a root here. (Removing such a container, which no plan does, may
        free its chains in another order than the engine's.)"""
        tops, below = self.tops, self.below
        # without "" (the parent of base layers), not deleted after: a dict with a deleted entry
        # is copied key by key, not as one block (each plan's store copies this one)
        held: Counter[str] = Counter(chain_from(tops.values(), filter(None, below.values())))
        gone: dict[str, tuple[str, ...]] = {}  # image id -> the chains its containers hold
        for container in snapshot.containers:
            image_id = container.image_id
            top = tops.get(image_id)
            if top:
                held[top] += 1
            elif image_id not in snapshot.images:  # its image record is gone
                if image_id not in gone and container.held_chains:
                    gone[image_id] = container.held_chains
                held.update(gone.get(image_id, ()))
        if gone:
            self.gone_holds = gone
            roots = {chain: "" for stack in gone.values() for chain in stack if chain not in below}
            if roots:
                self.below = {**below, **roots}
        # the Counter itself (no copy of every chain): this store is a base, never changed; the
        # stores of plans copy it into a plain dict (_copy_into), where a missing chain raises
        self.layer_refs: dict[str, int] = held

    def clone(self) -> ClassicStore:
        """An independent copy (for trial runs)."""
        other = type(self).__new__(type(self))
        self._copy_into(other)
        return other

    def _copy_into(self, other: ClassicStore) -> None:
        other.listed = self.listed
        other.protected = self.protected
        other.images = dict(self.images)
        other.kids = dict(self.kids)
        other.id_holder = self.id_holder
        other.tops = self.tops
        other.below = self.below
        other.gone_holds = self.gone_holds
        other.refs = self.refs.copy()
        other.ref_objs = self.ref_objs
        other.tag_and_digest = self.tag_and_digest
        other.containers = dict(self.containers)
        other.users = dict(self.users)
        other.layer_refs = dict(self.layer_refs)
        other.calls = list(self.calls)
        # the calls so far are shared: neither store extends a run made before the copy
        other.run = self.run = None

    # -- layer reference counting ------------------------------------------------------------
    def _release(self, image_id: str) -> list[str]:
        """A holder of the image's stack (its record, or a container) goes: the chains freed,
        top first (see :meth:`_count_layer_holders`)."""
        return self._release_chain(self.tops.get(image_id, ""))

    def _release_chain(self, chain: str) -> list[str]:
        """One count on ``chain`` goes: the chains freed, ``chain`` first, then each below it
        whose count falls to 0 with it."""
        freed: list[str] = []
        layer_refs, below = self.layer_refs, self.below
        while chain:
            left = layer_refs[chain] - 1
            layer_refs[chain] = left
            if left:
                break
            freed.append(chain)
            chain = below[chain]
        return freed

    # -- store queries -----------------------------------------------------------------------
    def references(self, image_id: str) -> list[Reference]:
        """The image's references sorted like the engine's ``lexicalRefs`` (by full string)."""
        return [self.ref_objs[k] for k in self.refs.by_image.get(image_id, ())]

    def children(self, image_id: str) -> list[str]:
        return sorted(self.kids.get(image_id, ()))

    def containers_using(self, image_id: str) -> list[Container]:
        return list(self.users.get(image_id, ()))

    def is_dangling(self, image_id: str) -> bool:
        return not self.references(image_id) and not self.children(image_id)

    def resolve(self, ref_or_id: str) -> str:
        """``GetImage``: tag or digest first, then an ID prefix. Raises :class:`PredictedRefusal`."""
        try:
            parsed = parse_any_reference(ref_or_id)
        except InvalidReference as exc:
            raise PredictedRefusal(400, str(exc), reason="invalid reference") from exc
        if isinstance(parsed, str):  # a full digest: an image ID
            if parsed in self.images:
                return parsed
            raise PredictedRefusal(404, f"No such image: {parsed}", reason="unknown reference")
        if parsed.digest is not None:
            key = Reference(parsed.name, None, parsed.digest).string()
        else:
            key = tag_name_only(parsed).string()
        if key in self.refs:
            return self.refs[key]
        found = self._search_id(ref_or_id)
        if found is not None:
            return found
        shown = tag_name_only(parsed).familiar() if parsed.digest is None else parsed.familiar()
        reason = "ambiguous reference" if self._id_prefix_matches(ref_or_id) > 1 else ("unknown reference")
        raise PredictedRefusal(404, f"No such image: {shown}", reason=reason)

    def _id_prefix_ids(self, term: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` existing image ids whose hex part starts with ``term``'s."""
        if ":" in term:
            alg, _, hex_part = term.partition(":")
        else:
            alg, hex_part = "", term
        if alg not in ("", "sha256"):
            return []
        found: list[str] = []
        prefix, keys, ids = self._id_index()
        start = prefix + hex_part
        for pos in range(bisect_left(keys, start), len(keys)):
            if not keys[pos].startswith(start):
                break
            image_id = ids[pos]
            if image_id in self.images:
                found.append(image_id)
                if len(found) >= limit:
                    break
        return found

    def _id_index(self) -> tuple[str, list[str], list[str]]:
        """The snapshot's image ids (``alg:hex``) sorted by their hex part, as ``(prefix, keys,
        ids)``: ``keys[k]`` is ``prefix`` + the hex part of ``ids[k]``. When every id is
        ``sha256:...`` the keys are the ids themselves (no string made per image)."""
        if not self.id_holder:
            ids = sorted(self.listed)
            if all(map(_IS_SHA256, ids)):  # one prefix: the ids sort as their hex
                self.id_holder[:] = [("sha256:", ids, ids)]
            else:
                pairs = sorted([(i.partition(":")[2], i) for i in ids if ":" in i])
                self.id_holder[:] = [("", [h for h, _ in pairs], [i for _, i in pairs])]
        return self.id_holder[0]

    def _id_prefix_matches(self, term: str) -> int:
        """How many existing images ``term`` is an ID prefix of: 0, 1 or 2 (two or more)."""
        return len(self._id_prefix_ids(term))

    def _search_id(self, term: str) -> str | None:
        found = self._id_prefix_ids(term)
        return found[0] if len(found) == 1 else None

    # -- conflicts -----------------------------------------------------------------------------
    def _conflict(self, image_id: str, mask: int) -> _Conflict | None:
        if image_id not in self.users and not self.kids.get(image_id) and not self.references(image_id):
            return None  # nothing can conflict (most parents a delete prunes): no lists made
        if mask & _CHILD and self.children(image_id):
            return _Conflict(
                image_id, True, False, "image has dependent child images", "dependent child images"
            )
        users = self.containers_using(image_id)
        running = tuple(c for c in users if c.running)
        stopped = tuple(c for c in users if not c.running)
        if mask & _RUNNING and running:
            return _Conflict(
                image_id,
                True,
                True,
                f"image is being used by running container {running[0].short_id}",
                "running container",
                running,
            )
        if mask & _REFERENCE and self.references(image_id):
            return _Conflict(
                image_id,
                False,
                False,
                "image is referenced in multiple repositories",
                "referenced in multiple repositories",
            )
        if mask & _STOPPED and stopped:
            return _Conflict(
                image_id,
                False,
                True,
                f"image is being used by stopped container {stopped[0].short_id}",
                "stopped container",
                stopped,
            )
        return None

    # -- the delete decision tree ------------------------------------------------------------
    def delete(
        self, ref_or_id: str, *, force: bool = False, prune: bool = True, explicit_parents: bool = True
    ) -> list[Record]:
        """Replay ``DELETE /images/{ref_or_id}?force=&noprune=``; return its records.

        With ``explicit_parents`` each parent the engine would prune is recorded as its own
        :class:`DeleteCall` (how the executor runs it), else it stays in this call's records.
        Raises :class:`PredictedRefusal` where the engine answers an error (nothing changes then).
        """
        return self.delete_resolved(
            ref_or_id, self.resolve(ref_or_id), force=force, prune=prune, explicit_parents=explicit_parents
        )

    def delete_resolved(
        self,
        ref_or_id: str,
        image_id: str,
        *,
        force: bool = False,
        prune: bool = True,
        explicit_parents: bool = True,
    ) -> list[Record]:
        """:meth:`delete` where ``image_id`` is what :meth:`resolve` just answered for
        ``ref_or_id`` on this same state (not asked again)."""
        if image_id in self.protected:
            raise PredictedRefusal(0, self.protected[image_id], reason="protected", image_id=image_id)
        records: list[Record] = []
        repo_refs = self.references(image_id)
        removed_repository_ref = False
        if not _is_image_id_prefix(image_id, ref_or_id):
            named = parse_normalized_named(ref_or_id)
            if not force and _is_single_reference(repo_refs):
                users = self.containers_using(image_id)
                if users:
                    raise PredictedRefusal(
                        409,
                        f'conflict: unable to remove repository reference "{ref_or_id}" '
                        f"(must force) - container {users[0].short_id} is using its referenced "
                        f"image {short_id(image_id)}",
                        reason="running container" if any(c.running for c in users) else "stopped container",
                        image_id=image_id,
                        containers=tuple(users),
                    )
            removed = self._remove_ref(named)
            records.append(Record("Untagged", removed.familiar()))
            repo_refs = self.references(image_id)
            if removed.digest is None:
                same_repo_tag = any(r.digest is None and r.name == removed.name for r in repo_refs)
                if not same_repo_tag:
                    remaining: list[Reference] = []
                    for ref in repo_refs:
                        if ref.digest is not None and ref.name == removed.name:
                            del self.refs[ref.string()]
                            records.append(Record("Untagged", ref.familiar()))
                        else:
                            remaining.append(ref)
                    repo_refs = remaining
            if repo_refs:
                self._log_call(ref_or_id, image_id, force, records)
                return records
            removed_repository_ref = True
        elif _is_single_reference(repo_refs):
            mask = _HARD if force else _HARD | (_SOFT & ~_REFERENCE)
            conflict = self._conflict(image_id, mask)
            if conflict is not None:
                raise conflict.to_error()
            for ref in repo_refs:
                del self.refs[ref.string()]
                records.append(Record("Untagged", ref.familiar()))
        parents: list[DeleteCall] = []
        try:
            self._delete_helper(
                image_id, records, force, prune, removed_repository_ref, parents if explicit_parents else None
            )
        except _Conflict as conflict:
            raise conflict.to_error() from None
        self._log_call(ref_or_id, image_id, force, records)
        self.calls.extend(parents)
        return records + [r for p in parents for r in p.records]

    def _log_call(self, target: str, image_id: str, force: bool, records: list[Record]) -> None:
        self.calls.append(DeleteCall(target, image_id, force, tuple(records)))

    def _remove_ref(self, named: Reference) -> Reference:
        """``removeImageRef``: a ``name:tag@digest`` removes the digest reference (the store favours
        the digest) but the response names the reference as given."""
        ref = tag_name_only(named) if named.digest is None else named
        key = (ref if ref.digest is None else Reference(ref.name, None, ref.digest)).string()
        if key not in self.refs:
            raise PredictedRefusal(404, f"No such image: {ref.familiar()}", reason="unknown reference")
        del self.refs[key]
        return ref

    def _delete_helper(
        self,
        image_id: str,
        records: list[Record],
        force: bool,
        prune: bool,
        quiet: bool,
        parent_calls: list[DeleteCall] | None,
    ) -> None:
        if image_id in self.users or self.kids.get(image_id) or self.refs.by_image.get(image_id):
            # (else nothing can conflict and there is nothing to untag: most parents a delete prunes)
            mask = _HARD if force else _HARD | _SOFT
            conflict = self._conflict(image_id, mask)
            if conflict is not None:
                if quiet and (not self.is_dangling(image_id) or conflict.used):
                    return
                try:
                    raise conflict
                finally:
                    # the traceback holds this frame (and those below it, the plan's snapshot with
                    # them): the frame must not hold the exception too, or that cycle keeps them all
                    # until a full collection
                    del conflict
            for ref in self.references(image_id):
                del self.refs[ref.string()]
                records.append(Record("Untagged", ref.familiar()))
        self._drop_image(image_id, records, prune, parent_calls)

    def _drop_image(
        self, image_id: str, records: list[Record], prune: bool, parent_calls: list[DeleteCall] | None
    ) -> None:
        """The rest of ``_delete_helper`` once the image has no conflict and no references: delete
        the record, release its layers, and prune its parent."""
        parent = self.images.pop(image_id)
        if parent and parent in self.kids:
            self.kids[parent] = self.kids[parent] - {image_id}
        records.append(Record("Deleted", image_id))
        for chain in self._release(image_id):
            records.append(Record("Deleted", chain))
        if not prune or not parent or parent not in self.images or parent in self.protected:
            return
        if parent_calls is None:
            self._delete_helper(parent, records, False, True, True, None)
            return
        parent_records: list[Record] = []
        self._delete_helper(parent, parent_records, False, True, True, None)
        if parent_records:
            # Split the parent's own lines from its parents' (each becomes one explicit call).
            self._split_parent_calls(parent_records, parent_calls)

    def _split_parent_calls(self, records: list[Record], out: list[DeleteCall]) -> None:
        current: list[Record] = []
        current_id = ""
        for record in records:
            is_image = record.kind == "Deleted" and record.value in self.listed
            if is_image and current_id:
                out.append(DeleteCall(current_id, current_id, False, tuple(current)))
                current = []
            if is_image:
                current_id = record.value
            current.append(record)
        if current_id:
            out.append(DeleteCall(current_id, current_id, False, tuple(current)))

    # -- the prune fast path ----------------------------------------------------------------
    def prune_plain(self, image_id: str, explicit_parents: bool) -> None:
        """What prune's ``DELETE /images/{ref}`` of each reference of a plain image does, in turn
        (plain: not protected, no child images, no containers, no ``name:tag@digest`` reference,
        which the engine cannot resolve): every reference but the last only untags (a tag takes
        the digest references of its repository with it when it is the repository's last tag; a
        reference already gone answers 404 and changes nothing), the last deletes the image and
        prunes its parents. The same calls and state as :meth:`delete` of each reference, from
        the remembered script of its references' untags (:func:`_untag_script`), without
        re-deciding each reference's fate or checking conflicts it cannot meet."""
        by_image = self.refs.by_image
        keys = by_image[image_id]
        script = _UNTAG_SCRIPTS.get(keys)
        if script is None:
            script = _untag_script(keys, self.ref_objs)
        forget = self.refs.pop  # no reverse-index update per key (see prune)
        for key in keys:
            forget(key)
        by_image[image_id] = ()
        if self.images[image_id]:  # a parent to prune: the general drop
            calls = self.calls
            for target, untags, _ in script.calls[:-1]:
                calls.append(DeleteCall(target, image_id, False, untags))
            target, untags, _ = script.calls[-1]
            self._drop_plain(target, image_id, list(untags), explicit_parents)
            return
        self.drop_parentless(script, image_id)

    def drop_parentless(self, script: UntagScript, image_id: str) -> None:
        """The calls of ``script`` (:func:`_untag_script`; for an image without references, one
        call with no ``Untagged`` record) on an image with no conflict, no parent and no
        references left but those the script untags: the last call deletes the record and
        releases its layers (:meth:`_drop_image` without a parent to prune). Logged in a
        :class:`PlainPrunes` run."""
        del self.images[image_id]
        self.plain_run().add(script, image_id, self._release(image_id))

    def _drop_plain(self, target: str, image_id: str, records: list[Record], explicit_parents: bool) -> None:
        """``DELETE /images/{target}`` of an image with no conflict and no references left but
        ``records`` (its untags): delete it, release its layers, prune its parents; its call
        (and its parents') logged."""
        parents: list[DeleteCall] = []
        self._drop_image(image_id, records, True, parents if explicit_parents else None)
        self.calls.append(DeleteCall(target, image_id, False, tuple(records)))
        if parents:
            self.calls.extend(parents)

    def plain_run(self) -> PlainPrunes:
        """The run of plain prunes the next one joins: the last call, if it is a run this store
        made, else a new one (logged)."""
        run = self.run
        calls = self.calls
        if run is None or not calls or calls[-1] is not run:
            run = self.run = PlainPrunes()
            calls.append(run)
        return run

    def remove_container(self, container_id: str) -> list[str]:
        """``DELETE /containers/{id}``: returns the chains its removal releases."""
        container = self.containers.pop(container_id)
        rest = tuple(c for c in self.users.get(container.image_id, ()) if c.id != container_id)
        if rest:
            self.users[container.image_id] = rest
        else:
            self.users.pop(container.image_id, None)
        held = self.gone_holds.get(container.image_id)
        if held is None:
            return self._release(container.image_id)
        return [freed for chain in reversed(held) for freed in self._release_chain(chain)]


_UNTAG_SCRIPTS: dict[tuple[str, ...], UntagScript] = {}
_UNTAG_SCRIPTS_MAX = 1 << 17


def _untag_script(keys: tuple[str, ...], objs: Mapping[str, Reference]) -> UntagScript:
    """What :meth:`ClassicStore.delete` of each of a plain image's references ``keys`` (all of
    them, sorted) does in turn (:meth:`ClassicStore.prune_plain`): its calls in order, each as its
    target, its ``Untagged`` records and their values; the last call is the one that leaves the
    image without references (it deletes the image). A function of the keys alone (a key is a
    normalized reference: its parsed form and familiar string follow from it), so remembered per
    key tuple, like the parsed references (a reload lists the same references)."""
    if len(_UNTAG_SCRIPTS) >= _UNTAG_SCRIPTS_MAX:
        _UNTAG_SCRIPTS.clear()
    if len(keys) == 1:  # most images: one call, that untags it
        familiar = objs[keys[0]].familiar()
        script = UntagScript(((keys[0], (Record("Untagged", familiar),), (familiar,)),), (familiar,), 1)
        _UNTAG_SCRIPTS[keys] = script
        return script
    rest = list(keys)
    calls: list[_ScriptCall] = []
    for key in keys:
        if key not in rest:
            continue  # untagged with its repository's last tag (prune's 404, skipped)
        removed = objs[key]
        rest.remove(key)
        records = [Record("Untagged", removed.familiar())]
        if rest and removed.digest is None:
            name = removed.name
            if not any(objs[k].digest is None and objs[k].name == name for k in rest):
                for k in [k for k in rest if objs[k].digest is not None and objs[k].name == name]:
                    rest.remove(k)
                    records.append(Record("Untagged", objs[k].familiar()))
        calls.append((key, tuple(records), tuple([r.value for r in records])))
        if not rest:
            break
    untagged = tuple([value for _, _, values in calls for value in values])
    script = UntagScript(tuple(calls), untagged, len(calls))
    _UNTAG_SCRIPTS[keys] = script
    return script


def loses_some_references(snapshot: Snapshot, image_id: str) -> bool:
    """True when removing an in-use image by each reference in turn untags some of them before the
    engine refuses (its references are not a single reference, moby ``isSingleReference``)."""
    refs = _base_store(snapshot).references(image_id)
    return bool(refs) and not _is_single_reference(refs)


def _is_image_id_prefix(image_id: str, possible_prefix: str) -> bool:
    if image_id.startswith(possible_prefix):
        return True
    _, sep, hex_part = image_id.partition(":")
    return bool(sep) and hex_part.startswith(possible_prefix)


def _is_single_reference(refs: list[Reference]) -> bool:
    """moby's ``isSingleReference``: at most one tag, and every reference in one repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    names: set[str] = set()
    for ref in refs:
        if ref.digest is not None:
            names.add(ref.name)
        elif single is None:
            names.add(ref.name)
            single = ref
        else:
            return False
    if single is None:
        single = refs[0]
    return len(names) == 1 and single.name in names


# False: every prune candidate goes through ClassicStore.delete (the reference the fast paths are
# checked against in tests/test_prune_fast_path.py)
_FAST_PRUNE = True


@dataclass(frozen=True)
class PruneOutcome:
    """What one prune run did on the model besides its calls (``store.calls``): the skipped
    candidates and partial effects."""

    skipped: tuple[PredictedRefusal, ...]  # candidates whose delete the engine refused (silently)
    untagged_only: tuple[str, ...]  # image ids that lost references but stayed


def prune(
    store: ClassicStore,
    filters: PruneFilters,
    *,
    exclude: frozenset[str] = frozenset(),
    explicit_parents: bool = True,
) -> PruneOutcome:
    """Replay ``POST /images/prune`` (classic store) on ``store``.

    Candidates are visited in image-id order (the engine walks a Go map, so its order is random;
    the final state does not depend on it for the cases the tests cover). ``exclude`` lists image
    ids the caller will not touch (docker-sweep's safe mode); they are skipped like conflicts.
    """
    dangling_only = filters.dangling
    by_labels = bool(filters.labels or filters.not_labels)  # no label terms match every image
    kids, by_image = store.kids, store.refs.by_image
    parents = {i for i, k in kids.items() if k and i in store.images}  # few: with set operations
    # every image but parents (dangling) or but intermediate parents (no references, children);
    # sorted, then those left out (a set difference first would build a set of every image)
    left_out = parents if dangling_only else {i for i in parents if not by_image.get(i)}
    pool = sorted(store.images)
    if left_out:  # cut out where they sort (a bisect each, few: no membership test per image)
        cuts = sorted([bisect_left(pool, i) for i in left_out])
        between = zip([-1, *cuts], [*cuts, len(pool)], strict=True)  # the slices around each cut
        pool = list(chain_from.from_iterable(pool[a + 1 : b] for a, b in between))
    candidates: list[str] = []
    images, until = store.listed, filters.until
    if until is None and not by_labels:
        candidates, pool = pool, []
    for image_id in pool:
        image = images[image_id]
        if until is not None and image.created_at_ns > until.ns:
            continue
        if by_labels and image.has_config and not filters.matches_labels(image.labels):
            continue  # the engine checks labels only when the config has a ``config`` object
        candidates.append(image_id)
    skipped: list[PredictedRefusal] = []
    lost: list[str] = []
    present, protected, users = store.images, store.protected, store.users
    tag_and_digest = store.tag_and_digest
    fast = _FAST_PRUNE
    calls = store.calls
    run: PlainPrunes | None = None  # the run of plain prunes the last one joined
    # ``forget``: deletes a key without updating the reverse index (done for the whole image);
    # dict's own pop (``_RefIndex`` overrides ``__delitem__`` only), 5x cheaper than calling
    # ``dict.__delitem__``
    scripts, forget, tops = _UNTAG_SCRIPTS, store.refs.pop, store.tops
    layer_refs, below, release = store.layer_refs, store.below, store._release_chain
    # the appends of ``run`` (PlainPrunes.add, inline), set with it (a stand-in's until then)
    unused = PlainPrunes()
    add_script, add_id, add_freed = unused.scripts.append, unused.image_ids.append, unused.freed.append
    for image_id in candidates:
        parent = present.get(image_id)
        if parent is None:
            continue  # already pruned as a parent
        if image_id in exclude:
            continue
        if image_id in protected:
            skipped.append(
                PredictedRefusal(0, store.protected[image_id], reason="protected", image_id=image_id)
            )
            continue
        keys = by_image.get(image_id, ())
        targets: tuple[str, ...]
        if keys:
            if dangling_only and any("@" not in k for k in keys):  # a tag (a key has "@" iff a digest)
                continue
            targets = keys  # each reference's full string (the index keys)
            # plain (not protected: seen above): no conflict can stop any of its deletes. (Another
            # image's ``name:tag@digest`` delete may have taken its digest reference, or all.)
            if (
                fast
                and not (image_id in kids and kids[image_id])
                and image_id not in users
                and (not tag_and_digest or tag_and_digest.isdisjoint(keys))
            ):  # (written out: most images have no children and there is no name:tag@digest)
                # Deleted here, so not in ``lost``.
                if parent:  # a parent to prune
                    store.prune_plain(image_id, explicit_parents)
                    continue
                # store.prune_plain, inline for the parentless (most images)
                script = scripts.get(keys) or _untag_script(keys, store.ref_objs)
                for key in keys:
                    forget(key)
                by_image[image_id] = ()
                del present[image_id]
                # store._release(image_id), inline for a top chain held once on a shared base
                freed: list[str]
                top = tops.get(image_id, "")
                if not top:
                    freed = []
                else:
                    left = layer_refs[top] - 1
                    layer_refs[top] = left
                    if left:
                        freed = []
                    else:
                        base = below[top]
                        if base:
                            left = layer_refs[base] - 1
                            layer_refs[base] = left
                            freed = [top] if left else [top, base, *release(below[base])]
                        else:
                            freed = [top]
                if not calls or calls[-1] is not run:  # (store.plain_run, once per run)
                    run = store.plain_run()
                    add_script, add_id, add_freed = run.scripts.append, run.image_ids.append, run.freed.append
                add_script(script)
                add_id(image_id)
                add_freed(freed)
                continue
        else:
            targets = (image_id.split(":", 1)[1],)
            plain = fast and not kids.get(image_id) and image_id not in users
            if plain and parse_any_reference(targets[0]) == image_id:
                # No references, no children, no containers, not protected: no conflict, and
                # its ID names it: delete's checks are skipped (same records and calls).
                if not parent:
                    store.drop_parentless(UntagScript(((targets[0], (), ()),), (), 1), image_id)  # no untag
                    continue
                # Not in ``lost``: pruning its parents untags nothing (a parent with references
                # conflicts, and a conflict stops a parent's prune quietly; see _delete_helper).
                store._drop_plain(targets[0], image_id, [], explicit_parents)
                continue
        lost_ref = False
        for target in targets:
            try:
                out = store.delete(target, force=False, prune=True, explicit_parents=explicit_parents)
            except PredictedRefusal as exc:
                if exc.status == 409 or exc.reason == "protected":
                    # kept past the handler without its traceback (or its context's): that holds
                    # the frames that raised it and this one (with the plan's snapshot), a cycle
                    # through `skipped` that only a full collection frees
                    exc.__context__ = None
                    skipped.append(exc.with_traceback(None))
                continue
            lost_ref = lost_ref or any(r.kind == "Untagged" for r in out)
        if lost_ref:
            lost.append(image_id)
    untagged_only = tuple([i for i in lost if i in present])
    return PruneOutcome(tuple(skipped), untagged_only)
