"""How Podman's Docker-compatible API (4.3) answers ``DELETE /images/{name}`` and image prune.

:class:`PodmanStore` replays Podman's own rules, read from containers/podman v4.3.1
(``pkg/api/handlers/compat/images_remove.go``, ``images_prune.go``, ``pkg/domain/infra/abi/images.go``)
and containers/common v0.50.1 (``libimage/runtime.go`` ``LookupImage``/``RemoveImages``,
``libimage/image.go`` ``removeRecursive``), and checked against a real Podman 4.3.1 by
``tests/test_podman_differential.py``. Where they differ from the classic Docker store:

* Names are stored fully qualified (``localhost/myapp:2.0.0``, ``docker.io/library/db:16``). A short
  name is looked up as ``localhost/NAME``, then ``docker.io/library/NAME``, then as an ID prefix
  (one character is enough), then by digest (any repository) or as a repository-path suffix.
* By tag with other tags: only untagged. The last tag, an ID or a digest deletes the image with all
  its tags; any container using it (running or stopped) makes that a 409 ``image … is in use``.
* By ID with two or more tags: 500 ``unable to delete image … by ID with more than one tag``.
* ``force=true`` first **removes every container using the image, running ones too** (they are
  stopped), then deletes it; the bytes are freed. ``noprune`` is ignored: dangling parents go too
  (images ``podman build`` left, each the only child's parent). A container on such a parent makes
  the call a 409 ``image <ref> is in use`` *after* the image itself was deleted; force removes it.
* The response lists every ``Deleted`` (bare hex IDs, no ``sha256:``) before every ``Untagged``
  (full names); freed layers are never reported.
* ``POST /images/prune`` always adds ``dangling=true`` (``dangling=false`` is a 500), skips images
  containers use, and reports ``SpaceReclaimed`` as the sum of the removed images' whole sizes
  (shared layers counted once per image: Podman's estimate, not disk truth).

With ``safe=True`` (what the planner uses) the store never plans a forced call: where force would
be needed, stopped containers become explicit container removals (``DeleteCall.remove_first``),
several tags become one call per tag, and running containers block the removal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial

from tui.core.classic import ClassicStore, DeleteCall, PredictedRefusal, PruneOutcome, Record
from tui.core.filters import PruneFilters
from tui.core.model import Container, Snapshot
from tui.core.reference import (
    InvalidReference,
    Reference,
    parse,
    parse_docker_ref,
    parse_normalized_named,
    tag_name_only,
)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_IN_USE = (
    "image used by {cid}: image is in use by a container: consider listing external "
    "containers and force-removing image"
)


def _hex(image_id: str) -> str:
    return image_id.removeprefix("sha256:")


class PodmanStore(ClassicStore):
    """A mutable model of one Podman image store (seen through its compat API)."""

    def __init__(
        self, snapshot: Snapshot, protected: Mapping[str, str] | None = None, *, safe: bool = True
    ) -> None:
        super().__init__(snapshot, protected)
        self.safe = safe
        self.names: dict[str, list[str]] = {i.id: list(i.tags) for i in snapshot.images.values()}
        self.digest_of: dict[str, set[str]] = {
            i.id: {d.rpartition("@")[2] for d in (*i.digests, *i.local_digests)}
            for i in snapshot.images.values()
        }
        self.removed_containers: list[Container] = []  # by forced engine calls (safe=False)

    def clone(self) -> PodmanStore:
        other = super().clone()
        assert isinstance(other, PodmanStore)
        other.safe = self.safe
        other.digest_of = {k: set(v) for k, v in self.digest_of.items()}
        other.names = {k: list(v) for k, v in self.names.items()}
        other.removed_containers = list(self.removed_containers)
        return other

    # -- lookup ------------------------------------------------------------------------------
    def references(self, image_id: str) -> list[Reference]:
        """Podman's names of the image (tags only; digests are not names)."""
        return [parse(n) for n in self.names.get(image_id, ())]

    def _by_name(self, name: str) -> str | None:
        return next((i for i, names in self.names.items() if name in names), None)

    def _lookup(self, name: str) -> tuple[str, str]:
        """libimage ``LookupImage``: (image id, the name it was found as). Raises PredictedRefusal."""
        if name.startswith("sha256:") or _HEX64.fullmatch(name):
            hex_part = name.removeprefix("sha256:")
            if _HEX64.fullmatch(hex_part) is None:
                raise PredictedRefusal(
                    500, f"{name}: invalid format: no 64-byte hexadecimal value", reason="invalid reference"
                )
            found = f"sha256:{hex_part}"
            if found in self.images:
                return found, name
            raise PredictedRefusal(404, f"{name}: image not known", reason="unknown reference")
        try:
            ref = parse(name)
        except InvalidReference as exc:
            raise PredictedRefusal(500, str(exc), reason="invalid reference") from exc
        if ref.tag is not None and ref.digest is not None:
            ref = Reference(ref.name, None, ref.digest)  # the digest alone counts
            name = ref.string()
        domain = ref.domain
        short = not (domain == "localhost" or "." in domain or ":" in domain)
        try:
            if short:
                candidates = [
                    tag_name_only(parse_normalized_named(f"localhost/{name}")),
                    parse_docker_ref(name),
                ]
            else:
                candidates = [tag_name_only(parse_normalized_named(name))]
        except InvalidReference as exc:
            raise PredictedRefusal(500, str(exc), reason="invalid reference") from exc
        for candidate in candidates:
            found_id = self._by_name(candidate.string())
            if found_id is not None:
                return found_id, candidate.string()
        found_id = self._by_name(name)
        prefixed = [i for i in self.images if _hex(i).startswith(name)]
        if found_id is None and len(prefixed) == 1:
            found_id = prefixed[0]
        if found_id is not None:
            return found_id, name
        # made when raised, never kept in a local: the raised error's traceback holds this frame
        # (and the plan's frames below it), and a frame that held the error would be a cycle
        # that keeps them all until a full collection
        unknown = partial(
            PredictedRefusal,
            404,
            f"{name}: image not known",
            reason="ambiguous reference" if len(prefixed) > 1 else "unknown reference",
        )
        if ref.digest is not None:
            for image_id in self.listed:  # the engine's list order
                if image_id in self.images and ref.digest in self.digest_of.get(image_id, ()):
                    return image_id, name
            raise unknown()
        if not short:
            raise unknown()
        tagged = tag_name_only(ref)
        for image_id in self.listed:
            for full in self.names.get(image_id, ()):
                pair = parse(full)
                if pair.tag == tagged.tag and (
                    pair.name == tagged.name or pair.name.endswith("/" + tagged.name)
                ):
                    return image_id, full
        raise unknown()

    def compat_resolve(self, ref: str) -> tuple[str, str]:
        """The compat handler's ``NormalizeToDockerHub`` then ``LookupImage``: (id, referencedBy)."""
        try:
            image_id, candidate = self._lookup(ref)
        except PredictedRefusal as exc:
            if exc.status != 404:
                raise PredictedRefusal(
                    500,
                    f"normalizing image: normalizing name for compat API: {exc.message}",
                    reason=exc.reason,
                ) from None
            normalized = self._normalize(ref, ref)
        else:
            if _hex(image_id).startswith(ref.removeprefix("sha256:")):
                normalized = _hex(image_id)
            else:
                normalized = self._normalize(ref, candidate)
        try:
            return self._lookup(normalized)
        except PredictedRefusal as exc:
            if exc.status == 404:
                raise PredictedRefusal(
                    404, f"failed to find image {ref}: {exc.message}", reason=exc.reason
                ) from None
            raise

    @staticmethod
    def _normalize(ref: str, candidate: str) -> str:
        try:
            return parse_normalized_named(candidate).string()
        except InvalidReference as exc:
            raise PredictedRefusal(
                500,
                f"normalizing image: normalizing name {candidate!r} (orig: {ref!r}) for compat API: {exc}",
                reason="invalid reference",
            ) from None

    def resolve(self, ref_or_id: str) -> str:
        return self.compat_resolve(ref_or_id)[0]

    # -- removal -----------------------------------------------------------------------------
    def delete(
        self, ref_or_id: str, *, force: bool = False, prune: bool = True, explicit_parents: bool = True
    ) -> list[Record]:
        """Replay ``DELETE /images/{ref_or_id}?force=`` (``safe``: without ever sending force).

        Returns the records in the engine's order (all ``Deleted`` then all ``Untagged``), then one
        ``Deleted: <chain id>`` per freed layer (the engine does not report those).
        """
        image_id, referenced_by = self.compat_resolve(ref_or_id)
        if image_id in self.protected:
            raise PredictedRefusal(0, self.protected[image_id], reason="protected", image_id=image_id)
        if not self.safe:
            records = self._remove(image_id, ref_or_id, referenced_by, force)
            self.calls.append(DeleteCall(ref_or_id, image_id, force, tuple(records)))
            return records
        trial = self.clone()
        try:
            records = trial._remove(image_id, ref_or_id, referenced_by, False)
        except PredictedRefusal:
            if not force:
                raise
        else:
            self._remove(image_id, ref_or_id, referenced_by, False)
            self.calls.append(DeleteCall(ref_or_id, image_id, False, tuple(records)))
            return records
        return self._forced_safely(image_id, ref_or_id, referenced_by)

    def _forced_safely(self, image_id: str, ref: str, referenced_by: str) -> list[Record]:
        """What ``force`` achieves, as unforced calls: stopped users removed first (the image's and
        those of the untagged parents its deletion takes along), tags one by one."""
        users = list(self.containers_using(image_id))
        for parent in self._parents_taken_along(image_id):
            users += [c for c in self.containers_using(parent) if c not in users]
        running = tuple(c for c in users if c.running)
        if running:
            shown = ", ".join(c.name or c.short_id for c in running)
            raise PredictedRefusal(
                409,
                f"image {ref} is in use by running container {shown}; Podman's "
                "force would stop and remove it",
                reason="running container",
                image_id=image_id,
                containers=running,
            )
        for container in users:
            self.remove_container(container.id)
        names = list(self.names[image_id])
        by_id = _hex(image_id).startswith(referenced_by)
        targets = names if (by_id or referenced_by not in names) and len(names) > 1 else [ref]
        out: list[Record] = []
        for n, target in enumerate(targets):
            by = target if target in names else referenced_by
            records = self._remove(image_id, target, by, False)
            self.calls.append(
                DeleteCall(
                    target, image_id, False, tuple(records), remove_first=tuple(users) if n == 0 else ()
                )
            )
            out.extend(records)
        return out

    def _remove(self, image_id: str, ref: str, referenced_by: str, force: bool) -> list[Record]:
        """libimage ``removeRecursive`` for one looked-up image; the compat response's records."""
        names = self.names[image_id]
        deleted: list[Record] = []
        untagged: list[Record] = []
        layers: list[Record] = []
        if referenced_by and len(names) > 1:
            by_id = _hex(image_id).startswith(referenced_by)
            by_digest = referenced_by.startswith("sha256:")
            if not force and (by_id or by_digest):
                how = "ID" if by_id else "digest"
                raise PredictedRefusal(
                    500,
                    f'unable to delete image "{_hex(image_id)}" by {how} with '
                    f"more than one tag ([{' '.join(names)}]): please force removal",
                    reason="referenced in multiple repositories",
                    image_id=image_id,
                )
            if not by_id and not by_digest:
                if referenced_by not in names:
                    # repo@digest of an image with several tags: this 500 even with force (seen on
                    # 4.3.1); docker-sweep's --force removes the tags one by one instead
                    digest_ref = "@" in referenced_by
                    raise PredictedRefusal(
                        500,
                        f"{referenced_by}: tag not known",
                        reason="referenced in multiple repositories" if digest_ref else "unknown reference",
                        image_id=image_id,
                    )
                names.remove(referenced_by)
                untagged.append(Record("Untagged", referenced_by))
                if names:
                    return untagged
        self._delete_image(image_id, ref, force, deleted, untagged, layers)
        return deleted + untagged + layers

    def _delete_image(
        self,
        image_id: str,
        ref: str,
        force: bool,
        deleted: list[Record],
        untagged: list[Record],
        layers: list[Record],
    ) -> None:
        users = self.containers_using(image_id)
        if users and not force:
            raise PredictedRefusal(
                409,
                f"image {ref} is in use: " + _IN_USE.format(cid=users[0].id),
                reason="running container" if any(c.running for c in users) else "stopped container",
                image_id=image_id,
                containers=tuple(users),
            )
        for container in users:  # force: Podman removes them, running ones too
            self.removed_containers.append(container)
            self.remove_container(container.id)
        has_children = bool(self.children(image_id))
        parent = self.images.pop(image_id)
        if parent and parent in self.kids:  # kids' sets are shared between copies: replace them
            self.kids[parent] = self.kids[parent] - {image_id}
        untagged.extend(Record("Untagged", n) for n in self.names.pop(image_id))
        if not has_children:
            deleted.append(Record("Deleted", image_id))
        layers.extend(Record("Deleted", c) for c in self._release(image_id))
        if (
            parent
            and parent in self.images
            and not self.names.get(parent)
            and not self.children(parent)
            and parent not in self.protected
        ):
            # A container on that parent: without force, a 409 naming the first reference, after
            # the image itself is gone (seen on Podman 4.3.1); force removes the container too.
            self._delete_image(parent, ref, force, deleted, untagged, layers)

    def _parents_taken_along(self, image_id: str) -> list[str]:
        """The untagged parents that deleting ``image_id`` deletes too (each its parent's only child)."""
        out: list[str] = []
        current = image_id
        while True:
            parent = self.images.get(current)
            if (
                not parent
                or parent not in self.images
                or self.names.get(parent)
                or set(self.children(parent)) != {current}
                or parent in self.protected
            ):
                return out
            out.append(parent)
            current = parent


def prune(
    store: ClassicStore,
    filters: PruneFilters,
    *,
    exclude: frozenset[str] = frozenset(),
    explicit_parents: bool = True,
) -> PruneOutcome:
    """Podman's image prune on ``store`` (a :class:`PodmanStore`).

    ``safe`` store (docker-sweep's prune): every candidate goes whole (Podman never strips some
    tags off an image): dangling images, or with ``dangling=false`` every image that no container
    uses, in passes like ``podman image prune -a``: a parent (tagged, or an intermediate) once its
    children are gone, whatever the order of the IDs. Engine mode (``POST /images/prune``): the
    compat API always adds ``dangling=true``, so ``dangling=false`` is the engine's 500.
    """
    assert isinstance(store, PodmanStore)
    if not store.safe and not filters.dangling:
        raise PredictedRefusal(
            500,
            'specifying "dangling" filter more than once with different values is not supported',
            reason="invalid filter",
        )
    skipped: list[PredictedRefusal] = []
    decided: set[str] = set()
    progress = True
    while progress:  # like ``podman image prune -a``: parents in a later pass, once their children went
        progress = False
        for image_id in sorted(store.images):
            if image_id in store.images and image_id not in decided and image_id not in exclude:
                progress |= _prune_one(store, filters, image_id, decided, skipped)
    return PruneOutcome(tuple(skipped), ())


def _prune_one(
    store: PodmanStore,
    filters: PruneFilters,
    image_id: str,
    decided: set[str],
    skipped: list[PredictedRefusal],
) -> bool:
    """One candidate of :func:`prune`: True when it was removed (another pass may find more)."""
    names, kids = store.names[image_id], store.children(image_id)
    if filters.dangling and (names or kids):
        return False
    if kids:  # a parent: goes with its children, or (tagged) in a later pass once they are gone
        return False
    decided.add(image_id)
    image = store.listed[image_id]
    if filters.until is not None and image.created > filters.until.timestamp:
        return False
    if not filters.matches_labels(image.labels):
        return False
    if image_id in store.protected:
        skipped.append(PredictedRefusal(0, store.protected[image_id], reason="protected", image_id=image_id))
        return False
    users = tuple(store.containers_using(image_id))
    if users:
        running = any(c.running for c in users)
        skipped.append(
            PredictedRefusal(
                409,
                "image is in use by a container",
                reason="running container" if running else "stopped container",
                image_id=image_id,
                containers=users,
            )
        )
        return False
    if store.safe:
        for target in list(names) or [_hex(image_id)]:
            store.delete(target)
    else:
        out: list[Record] = []
        store._delete_image(image_id, image_id, False, out, [], out)
        store.calls.append(DeleteCall(image_id, image_id, False, tuple(out)))
    return True


def reported_space(snapshot: Snapshot, deleted: list[str]) -> int:
    """Podman's ``SpaceReclaimed`` for a prune that deleted ``deleted``: each image's whole size."""
    return sum(snapshot.images[i].size for i in deleted if i in snapshot.images)


def estimate_note(snapshot: Snapshot, deleted: list[str], freed_bytes: int) -> str:
    """The figure Podman itself would report for deleting ``deleted``, labelled as its estimate."""
    estimate = reported_space(snapshot, deleted)
    return (
        f"Podman's estimate for this prune is {estimate:,} bytes (the sum of whole image sizes, "
        f"layers shared between them counted once per image); the layers actually freed on "
        f"disk are {freed_bytes:,} bytes"
    )
