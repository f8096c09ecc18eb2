"""Reading what the containerd image store adds to a snapshot (see tui/core/containerd.py).

The Docker API shows, per image, its platform manifests (``GET /images/json?manifests=1``, API
1.47+), when its names entered the store (inspect ``Metadata.LastTagTime``), its diff IDs and, in
history, the usage of each unpacked snapshot. It does not show which content blobs an image
reaches, which is what a removal frees. Those come from containerd's content store on disk when
docker-sweep runs next to the engine (``DockerRootDir/containerd/daemon`` for the containerd that
dockerd starts itself, ``/var/lib/containerd`` for a system containerd): the index and manifest
JSON blobs are small, and every file is checked against its digest before it is trusted. Without
that access, each image's content counts as its own (the API's per-image content size), and plans
say so.

The engine's image inspect is slow on this store (it scans every image record for each image's
``LastTagTime``), so next to the engine it is asked only for what cannot be read here: the tag
times come from containerd's metadata database (:mod:`tui.engine.containerd_meta`), and a
single-platform image's layers, created time, config object and comment from its manifest and
config blobs (:meth:`ContentStore.local_inspect`).
"""

from __future__ import annotations

import hashlib
import json
import platform as platform_module
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tui.core.model import EngineFacts, Image
from tui.core.reference import familiar_ref, split_tag
from tui.engine.client import Engine, EngineAPIError, ReaderPerThread

if TYPE_CHECKING:
    from tui.engine.containerd_meta import ImageRecord

_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
LOCAL_ONLY_REASON = (
    "local-only: nothing shows it came from or went to a registry (on the "
    "containerd store every image has a RepoDigest, and the engine's pull and "
    "push events since it started name none of its tags)"
)
LOADED_REASON = (
    "local-only: loaded from an archive (docker load) and never seen pulled or "
    "pushed; it cannot be pulled back"
)
_LOAD_ANNOTATION = "io.containerd.image.name"
_CONTENT_DIR = "io.containerd.content.v1.content"


def registry_events(engine: Engine) -> list[tuple[str, str, float]]:
    """(action, familiar ref or image id, unix time) of the pull, push and load events the
    engine still holds (it keeps recent events in memory since it started)."""

    # The engine streams events until ``until``: one in the future is waited for. On a unix
    # socket the engine shares this clock, so "now" (to the nanosecond) ends the read at once;
    # elsewhere the next whole second leaves room for a clock a little behind (it was waited for).
    until: str | int = f"{time.time():.9f}" if engine.host.startswith("unix://") else int(time.time()) + 1

    def call(api: Any) -> list[dict[str, Any]]:
        return list(
            api.events(
                since=0,
                until=until,
                decode=True,
                filters={"type": ["image"], "event": ["pull", "push", "load"]},
            )
        )

    out = []
    for event in engine.call(call):
        ref = str((event.get("Actor") or {}).get("ID") or event.get("id") or "")
        when = int(event.get("timeNano") or 0) / 1e9 or float(event.get("time") or 0)
        out.append((str(event.get("Action") or event.get("status") or ""), ref, when))
    return out


def provenance(image: Image, events: list[tuple[str, str, float]], loaded: bool) -> str:
    """Why an image counts as re-pullable ("pulled from ..."/"pushed to ...") or local-only.

    Proof is a pull or push event for one of its tags at or after the time its names last
    changed (a later re-tag could point the tag elsewhere, so then nothing is proven).
    """
    tags = set(image.tags)
    for action, ref, when in reversed(events):
        if action == "load":
            continue
        name = ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
        if name in tags and when + 0.001 >= image.stored_at:
            return f"{'pulled from' if action == 'pull' else 'pushed to'} {name}"
    return LOADED_REASON if loaded else LOCAL_ONLY_REASON


def _containerd_roots(facts: EngineFacts) -> list[Path]:
    """Where the engine's containerd may keep its files, in the order they are tried: the one
    dockerd starts itself (``DockerRootDir/containerd/daemon``), then a system containerd's."""
    roots = [Path(facts.root_dir, "containerd", "daemon")] if facts.root_dir else []
    return [*roots, Path("/var/lib/containerd")]


@dataclass(frozen=True)
class EarlyReads:
    """What the containerd store's details need and no image list tells, read while the engine
    is still answering the image list (:func:`early_reads`; its 1,000 images take that engine
    seconds): the registry events, and next to the engine the metadata database's image records
    and the content each of their targets reaches."""

    events: list[tuple[str, str, float]]
    meta_root: Path | None = None  # the containerd root whose database was read
    records: Mapping[str, ImageRecord] | None = None
    txid: int = -1  # the commit they were read at
    walks: Mapping[str, Mapping[str, int] | None] = field(default_factory=dict)  # target -> ContentStore.walk

    def current(self, store: ContentStore | None) -> EarlyReads | None:
        """These reads if they are of ``store``'s containerd and no commit was made to its database
        since (a change of content or of image records commits to it): then reading them now would
        give the same; else None."""
        from tui.engine import containerd_meta

        if store is None or self.records is None or self.meta_root != store.root.parent:
            return None
        return self if containerd_meta.committed_txid(self.meta_root) == self.txid else None


def early_reads(engine: Engine, facts: EngineFacts) -> EarlyReads:
    """The reads of :class:`EarlyReads` (the database of the first root that has one, when the
    engine is on a unix socket: it may be this machine's); used only while
    :meth:`EarlyReads.current`."""
    from tui.engine import containerd_meta

    events = registry_events(engine)
    if not facts.host.startswith("unix://"):
        return EarlyReads(events)
    root = next((r for r in _containerd_roots(facts) if (r / containerd_meta.META_DB).exists()), None)
    read = containerd_meta.read_images_at(root) if root is not None else None
    if root is None or read is None:
        return EarlyReads(events, root)
    records, txid = read
    store = ContentStore(root / _CONTENT_DIR)
    walks = {target: store.walk(target) for target in {r.target for r in records.values()}}
    return EarlyReads(events, root, MappingProxyType(records), txid, MappingProxyType(walks))


class ContentStore:
    """Read-only access to a containerd content store directory (``.../blobs/sha256/<hex>``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def locate(cls, facts: EngineFacts, probe: str) -> ContentStore | None:
        """The content store holding blob ``probe`` (an image id), if this process can read it."""
        if not facts.host.startswith("unix://"):
            return None
        for base in _containerd_roots(facts):
            store = cls(base / _CONTENT_DIR)
            if store.read(probe) is not None:
                return store
        return None

    def path(self, digest: str) -> Path:
        algorithm, _, hex_part = digest.partition(":")
        return self.root / "blobs" / algorithm / hex_part

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def read(self, digest: str, limit: int = 4 << 20) -> bytes | None:
        """A small blob's bytes when present and matching its digest, else None."""
        try:
            with self.path(digest).open("rb") as fh:
                data = fh.read(limit + 1)
        except OSError:
            return None
        if len(data) > limit or "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return None
        return data

    def walk(self, target: str) -> dict[str, int] | None:
        """``walkPresentChildren`` from ``target``: every present blob it reaches, with its size.

        None when the target blob is not readable here.
        """
        data = self.read(target)
        if data is None:
            return None
        out: dict[str, int] = {target: len(data)}
        stack = [data]
        while stack:
            try:
                document = json.loads(stack.pop())
            except ValueError:
                continue
            children = list(document.get("manifests") or [])
            if document.get("config"):
                children.append(document["config"])
            children += list(document.get("layers") or [])
            for child in children:
                digest, size = str(child.get("digest", "")), int(child.get("size") or 0)
                if not digest or digest in out or not self.exists(digest):
                    continue
                out[digest] = size
                if child.get("mediaType") in _INDEX_TYPES + _MANIFEST_TYPES:
                    blob = self.read(digest)
                    if blob is not None:
                        stack.append(blob)
        return out

    def local_inspect(self, rows: Mapping[str, Mapping[str, Any]], image_id: str) -> dict[str, Any] | None:
        """What image inspect says of ``image_id``'s layers, created time, config object and
        comment (``RootFS``, ``Created``, ``Config``, ``Comment``), read from its blobs here; None
        when the engine must be asked.

        Only for an image that is one platform manifest (its id is the manifest's digest), listed
        (``rows``: the image list with ``manifests=1``) as an available image of this machine's
        own platform with no variant: inspect then shows that manifest's config (moby's "best"
        manifest for the default platform). An index, another platform, or a blob missing or not
        matching its digest: None."""
        listed = (rows.get(image_id) or {}).get("Manifests") or []
        if len(listed) != 1 or not _HOST_ARCH:
            return None
        entry = listed[0]
        platform = (entry.get("ImageData") or {}).get("Platform") or {}
        if (
            entry.get("ID") != image_id
            or entry.get("Kind") != "image"
            or entry.get("Available") is not True
            or platform.get("os") != "linux"
            or platform.get("architecture") != _HOST_ARCH
            or platform.get("variant")
        ):
            return None
        try:
            manifest = json.loads(self.read(image_id) or b"null")
            if not isinstance(manifest, dict) or "manifests" in manifest:
                return None
            config_digest = str((manifest.get("config") or {}).get("digest") or "")
            config = json.loads(self.read(config_digest) or b"null") if config_digest else None
        except ValueError:
            return None
        if not isinstance(config, dict) or not isinstance(config.get("rootfs"), dict):
            return None
        diff_ids = config["rootfs"].get("diff_ids") or []
        history = config.get("history") or []
        newest = history[-1] if history and isinstance(history[-1], dict) else {}
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
            return None
        created = config.get("created") or ""
        if not isinstance(created, str) or (created and not _parses(created)):
            return None
        return {
            "RootFS": {"Layers": list(diff_ids)},
            "Created": created,
            "Config": config.get("config"),
            "Comment": str(newest.get("comment") or ""),
        }

    def manifests(self, target: str) -> tuple[tuple[str, str, str, bool], ...]:
        """(digest, platform, kind, available) of the image's platform manifests, read from the
        blobs (for engines whose API has no ``manifests=1``, before 1.47)."""
        data = self.read(target)
        if data is None:
            return ()
        try:
            document = json.loads(data)
        except ValueError:
            return ()
        if "manifests" not in document:
            config = self.read(str((document.get("config") or {}).get("digest", "")))
            platform = json.loads(config) if config is not None else {}
            return ((target, _platform({"Platform": platform}), "image", config is not None),)
        out = []
        for entry in document["manifests"]:
            digest = str(entry.get("digest", ""))
            annotations = entry.get("annotations") or {}
            kind = (
                "attestation"
                if annotations.get("vnd.docker.reference.type") == "attestation-manifest"
                else "image"
            )
            blob = self.read(digest)
            available = False
            if blob is not None:
                try:
                    manifest = json.loads(blob)
                    children = [manifest.get("config") or {}] + list(manifest.get("layers") or [])
                    available = all(self.exists(str(c.get("digest", ""))) for c in children)
                except ValueError:
                    available = False
            out.append((digest, _platform({"Platform": entry.get("platform") or {}}), kind, available))
        return tuple(out)


#: This machine's architecture as OCI names it ("" when not one of these): the engine behind a
#: unix socket whose content store is readable here runs on it.
_HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform_module.machine(), "")


def _parses(created: str) -> bool:
    from tui.engine.snapshot import parse_created_ns

    try:
        parse_created_ns(created)
    except ValueError:
        return False
    return True


def _platform(data: Mapping[str, Any]) -> str:
    platform = data.get("Platform") or {}
    text = "/".join(
        p for p in (platform.get("os"), platform.get("architecture"), platform.get("variant")) if p
    )
    return text or "unknown"


def list_manifests(engine: Engine) -> dict[str, Mapping[str, Any]]:
    """The image list's rows by image id when the API gives their manifests (from 1.47), else
    empty (see :func:`tui.engine.snapshot.list_image_rows`, which the snapshot reader asks)."""
    from tui.engine.snapshot import list_image_rows

    rows, with_manifests = list_image_rows(engine)
    return {row["Id"]: row for row in rows} if with_manifests else {}


#: Threads inspecting images at once (the containerd store's inspect costs the engine ~20 ms).
INSPECT_WORKERS = 4


def _inspect_all(engine: Engine, image_ids: list[str]) -> list[dict[str, Any] | None]:
    """``GET /images/{id}/json`` of every id, in order, by :data:`INSPECT_WORKERS` threads (each
    with its own reader, closed at the end); ``None`` for an image that vanished (404)."""
    readers = ReaderPerThread(engine)

    def one(image_id: str) -> dict[str, Any] | None:
        try:
            with engine.translate_errors():
                return dict(readers.get().inspect_image(image_id))
        except EngineAPIError as exc:
            if exc.status == 404:
                return None
            raise

    if not image_ids:
        return []
    pool = ThreadPoolExecutor(max_workers=min(INSPECT_WORKERS, len(image_ids)), thread_name_prefix="inspect")
    try:
        return list(pool.map(one, image_ids))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        readers.close()


def with_containerd_details(
    engine: Engine,
    facts: EngineFacts,
    images: list[Image],
    rows: Mapping[str, Mapping[str, Any]],
    comments: Mapping[str, str],
    store: ContentStore | None,
    early: EarlyReads | None = None,
) -> list[Image]:
    """Fill the containerd-only fields: content blobs, content size, stored_at, manifests,
    provenance. Images that vanished meanwhile keep their fields unset. ``rows``: the image list's
    rows by id when read with ``manifests=1`` (empty below API 1.47); ``comments``: the inspect
    ``Comment`` of the images the layer cache knows it for; ``store``: the content store when it
    is readable here (:meth:`ContentStore.locate`); ``early``: what :func:`early_reads` read
    while the list was being answered (else it is read now).

    Each image's inspect (~20 ms of engine time each on this store) is asked only for what the
    list, the comments and the metadata database (:func:`_tag_times`) do not tell."""
    events = early.events if early is not None else registry_events(engine)
    current = early.current(store) if early is not None else None
    loads = {ref for action, ref, _ in events if action == "load"}
    known = _known_without_inspect(store, images, rows, comments, current)
    need = [image.id for image in images if image.id not in known]
    inspected = dict(zip(need, _inspect_all(engine, need), strict=True))
    out: list[Image] = []
    for image in images:
        seen = known.get(image.id) or _InspectFacts.of(inspected[image.id])
        if seen is None:  # vanished meanwhile
            out.append(image)
            continue
        row = rows.get(image.id, {})
        manifests = tuple(
            (
                str(m.get("ID", "")),
                _platform(m.get("ImageData") or {}),
                str(m.get("Kind", "")),
                bool(m.get("Available")),
            )
            for m in row.get("Manifests") or []
        )
        unpacked = sum(
            int(((m.get("ImageData") or {}).get("Size") or {}).get("Unpacked") or 0)
            for m in row.get("Manifests") or []
        )
        content_size = int(row["Size"]) - unpacked if row.get("Manifests") else -1
        unpacked_size = _unpacked_size(row)
        stored_ns = seen.stored_ns
        if content_size < 0:
            content_size = seen.size
        if current is not None and image.id in current.walks:
            content = current.walks[image.id]
        else:
            content = store.walk(image.id) if store is not None else None
        if not manifests and store is not None:
            manifests = store.manifests(image.id)
            if sum(kind == "image" for _, _, kind, _ in manifests) == 1 and image.size > content_size:
                # before API 1.47 (seen on 26.1): the list's Size is content + unpacked, the
                # inspect's content only, for a single-platform image
                unpacked_size = image.size - content_size
        per_manifest = {
            digest: MappingProxyType(blobs)
            for digest, _, _, _ in (manifests if len(manifests) > 1 else ())
            if store is not None and (blobs := store.walk(digest)) is not None
        }
        unpacked_per_manifest = {
            str(m.get("ID", "")): int(((m.get("ImageData") or {}).get("Size") or {}).get("Unpacked") or 0)
            for m in row.get("Manifests") or []
        }
        loaded = _LOAD_ANNOTATION in seen.annotations or image.id in loads
        image = replace(
            image,
            content=MappingProxyType(content) if content is not None else None,
            content_size=content_size,
            unpacked_size=unpacked_size,
            stored_at=stored_ns / 1_000_000_000,
            stored_ns=stored_ns,
            manifests=manifests,
            manifest_content=MappingProxyType(per_manifest),
            manifest_unpacked=MappingProxyType(unpacked_per_manifest),
            buildkit=seen.comment.startswith("buildkit"),
        )
        out.append(replace(image, provenance=provenance(image, events, loaded)))
    return out


@dataclass(frozen=True)
class _InspectFacts:
    """What the reader takes from an image's inspect (or finds elsewhere)."""

    stored_ns: int  # Metadata.LastTagTime in unix ns (0: never tagged)
    comment: str  # the newest history step's comment ("buildkit.dockerfile.v0" from BuildKit)
    annotations: Mapping[str, Any]  # the image target descriptor's
    size: int  # the inspect's Size (the content size when the list gives no manifests)

    @classmethod
    def of(cls, inspect: Mapping[str, Any] | None) -> _InspectFacts | None:
        if inspect is None:
            return None
        return cls(
            stored_ns=_stored_ns(inspect),
            comment=str(inspect.get("Comment") or ""),
            annotations=dict((inspect.get("Descriptor") or {}).get("annotations") or {}),
            size=int(inspect.get("Size") or 0),
        )


def _tag_times(
    store: ContentStore | None, images: list[Image], current: EarlyReads | None = None
) -> dict[str, int] | None:
    """Each image's ``LastTagTime`` in unix ns, from containerd's metadata database next to the
    content store (see :mod:`tui.engine.containerd_meta`); None when it cannot be read here.
    ``current``: early reads that :meth:`EarlyReads.current` found current (their records serve).

    An image is left out (its inspect is asked) unless the database's tags for it are the ones
    the list showed: a name added or removed in between, or a record this reader does not
    understand, is then answered by the engine."""
    if store is None:
        return None
    from tui.engine import containerd_meta

    records: Mapping[str, ImageRecord] | None
    records = current.records if current is not None else containerd_meta.read_images(store.root.parent)
    if records is None:
        return None
    targets = containerd_meta.by_target(records)
    out = {}
    for image in images:
        found = targets.get(image.id)
        if found is None:
            continue
        try:
            tags = {familiar_ref(name) for name in found.names if "@" not in name}
        except ValueError:
            continue
        if tags == {tag for tag in image.tags if "@" not in tag}:
            out[image.id] = found.last_tag_ns
    return out


def _known_without_inspect(
    store: ContentStore | None,
    images: list[Image],
    rows: Mapping[str, Mapping[str, Any]],
    comments: Mapping[str, str],
    current: EarlyReads | None = None,
) -> dict[str, _InspectFacts]:
    """The images whose inspect facts are all known already: the list row has the manifests and
    the target descriptor, the layer cache the comment, the metadata database the tag time."""
    times = _tag_times(store, images, current)
    if times is None:
        return {}
    out = {}
    for image in images:
        row = rows.get(image.id) or {}
        descriptor = row.get("Descriptor")
        if not row.get("Manifests") or not isinstance(descriptor, Mapping):
            continue
        if image.id not in comments or image.id not in times:
            continue
        annotations = dict(descriptor.get("annotations") or {})
        out[image.id] = _InspectFacts(times[image.id], comments[image.id], annotations, -1)
    return out


def _unpacked_size(row: Mapping[str, Any]) -> int:
    """The unpacked snapshot usage of the image's layer stack: the ``Unpacked`` size of its one
    unpacked platform manifest (the engine sums each chain's snapshot usage, as history does per
    layer), or -1 when no single manifest is unpacked (or the API lists no manifests)."""
    unpacked = [
        int(((m.get("ImageData") or {}).get("Size") or {}).get("Unpacked") or 0)
        for m in row.get("Manifests") or []
        if m.get("Kind") == "image" and m.get("Available")
    ]
    positive = [x for x in unpacked if x > 0]
    return positive[0] if len(positive) == 1 else -1


def _stored_ns(inspect: Mapping[str, Any]) -> int:
    """When the image entered the store, in unix nanoseconds (inspect ``LastTagTime``; the
    engine's prune compares ``until`` with it to the nanosecond, seen on 28.5)."""
    from tui.engine.snapshot import parse_created_ns

    text = str((inspect.get("Metadata") or {}).get("LastTagTime") or "")
    if not text or text.startswith("0001-"):
        return 0
    return parse_created_ns(text)


def current_names(engine: Engine, facts: EngineFacts, inspect: Mapping[str, Any], planned: Image) -> set[str]:
    """The names of the image ``planned`` now (familiar, as ``GET /images/json`` lists them in
    ``RepoTags``): its tags and its names pulled by digest (``repo@sha256:…``), from its inspect.

    Docker 28+ inspect lists every name in ``RepoTags``. Before 28, ``RepoTags`` holds the tags
    only and a name pulled by digest shows in ``RepoDigests``, where the engine also lists
    ``repo@<id>`` for the repository of every tag: a digest entry of an untagged repository is a
    name; for the tagged repositories, ``Metadata.LastTagTime`` (the newest of the image's names)
    tells whether a name was added since the snapshot, and only then one
    ``GET /images/json?filters=reference=<repo>`` (it lists the matching names in ``RepoTags``)
    tells which. A name removed there since the snapshot is not seen (the engine then does less
    than planned, never more)."""
    tags = {str(t) for t in inspect.get("RepoTags") or [] if t and not str(t).startswith("<none>")}
    head = facts.version.split(".", 1)[0]
    if not head.isdigit() or int(head) >= 28:
        return tags
    tagged_repos = {split_tag(t)[0] for t in tags if "@" not in t}
    digests = {str(d) for d in inspect.get("RepoDigests") or []}
    names = tags | {d for d in digests if d.split("@", 1)[0] not in tagged_repos}
    if not tagged_repos:
        return names
    if _stored_ns(inspect) == planned.stored_at_ns:  # no name added: the snapshot's still listed
        return names | {t for t in planned.tags if t in digests}
    rows = engine.call(lambda api: api.images(all=True, filters={"reference": sorted(tagged_repos)}))
    for row in rows or []:
        if row.get("Id") == planned.id:
            names |= {
                str(r)
                for r in row.get("RepoTags") or []
                if "@" in str(r) and str(r).split("@", 1)[0] in tagged_repos
            }
    return names
