"""The store snapshot: images, containers, layers and engine facts, as frozen values.

Everything here is pure: no Docker SDK, no Textual. The engine adapter (``tui.engine``) fills these
objects from the engine's API; the planner and the UI only read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import repeat
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.core.layers import LayerSizes, StackFacts

#: The diff ID of an empty tar stream (a layer with no files).
EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

#: Container states the engine treats as "running" for removal conflicts (``IsRunning()``).
RUNNING_STATES = frozenset({"running", "paused", "restarting"})


def short_id(image_or_container_id: str) -> str:
    """The 12-hex-digit short form the docker CLI prints (``sha256:`` dropped)."""
    hex_part = image_or_container_id.split(":", 1)[-1]
    return hex_part[:12]


@dataclass(frozen=True)
class Layer:
    """One stored layer, identified by its chain ID (the same diff on another parent is another layer)."""

    chain_id: str
    diff_id: str
    size: int | None  # DiffSize in bytes; None where no engine number proves it (see core.layers)


@dataclass(frozen=True)
class Container:
    """A container, running or not; it pins its image's whole layer chain."""

    id: str
    name: str
    image_id: str
    image: str = ""  # the reference the container was created from, as the engine reports it
    state: str = "exited"
    size_rw: int = -1
    size_root_fs: int = -1
    # For a container whose image record is gone (force-removed), the layer chains its RW layer
    # still holds, as far as the reader could tell; empty when its image exists or nothing is known.
    held_chains: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        """True when the engine counts the container as running (running, paused, restarting)."""
        return self.state in RUNNING_STATES

    @property
    def short_id(self) -> str:
        return short_id(self.id)


@dataclass(frozen=True)
class Image:
    """One image record of the store.

    ``tags`` and ``digests`` are familiar strings as the engine lists them (``busybox:latest``,
    ``localhost:5000/app@sha256:...``). ``layers`` is ``None`` while the layer data (inspect and
    history) has not been read yet.
    """

    id: str
    tags: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()
    created: float = 0.0  # unix seconds (with fraction once inspected), the config's Created
    size: int = 0
    parent_id: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    layers: tuple[Layer, ...] | None = None
    # containerd image store only (see tui/core/containerd.py): the content blobs the image
    # reaches (digest -> bytes: index, manifests, configs, layers present), None when unknown;
    # the API's content total; when the image entered the store (inspect LastTagTime); its
    # platform manifests as (digest, platform, kind, available); and why it may be local-only.
    # ``unpacked_size``: the disk usage of the unpacked snapshots of its layer stack (the API's
    # ``Unpacked`` of its platform manifest), the prefix sum at its top chain; -1 when unknown.
    content: Mapping[str, int] | None = None
    content_size: int = -1
    unpacked_size: int = -1
    stored_at: float = 0.0
    manifests: tuple[tuple[str, str, str, bool], ...] = ()
    provenance: str = ""
    buildkit: bool = False  # built by BuildKit (inspect Comment "buildkit.dockerfile.v0")
    # Digest references the engine lists that no registry holds (Podman's ``localhost/…@sha256``
    # after a load): they do not make an image pullable, so they are kept out of ``digests``.
    local_digests: tuple[str, ...] = ()
    created_ns: int = -1  # the config's Created in integer nanoseconds (-1: from ``created``)
    stored_ns: int = -1  # ``stored_at`` in integer nanoseconds (-1: from ``stored_at``)
    has_config: bool = True  # False when the config has no ``config`` object (``.Config`` null)
    # containerd store: per platform manifest digest, the present blobs it reaches (the manifest,
    # its config and layers: what removing that one platform deletes) and its unpacked snapshot
    # usage (the API's ``Manifests[].ImageData.Size.Unpacked``, API 1.47+); empty when unknown.
    manifest_content: Mapping[str, Mapping[str, int]] = field(default_factory=lambda: MappingProxyType({}))
    manifest_unpacked: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def created_at_ns(self) -> int:
        """Created as integer unix nanoseconds (exact once inspected; prune compares these)."""
        return self.created_ns if self.created_ns >= 0 else round(self.created * 1_000_000_000)

    @property
    def stored_at_ns(self) -> int:
        """When the image entered the store (containerd), as integer unix nanoseconds: the
        containerd store's prune compares these with ``until`` (``<``, to the nanosecond)."""
        return self.stored_ns if self.stored_ns >= 0 else round(self.stored_at * 1_000_000_000)

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def refs(self) -> tuple[str, ...]:
        """Every reference (tags then digests)."""
        return self.tags + self.digests

    @property
    def chain_ids(self) -> tuple[str, ...]:
        """Chain IDs base first (empty while layers are unknown)."""
        return tuple([layer.chain_id for layer in self.layers or ()])

    @property
    def local_only(self) -> bool:
        """Nothing shows it can be pulled back from a registry.

        Classic store: no RepoDigests (built or loaded here). Containerd store: every image has a
        RepoDigest, so the reader sets ``provenance``: "local-only: <why>" unless a pull or push
        of one of its tags is proven ("pulled from <ref>", "pushed to <ref>").
        """
        if self.provenance:
            return self.provenance.startswith("local-only")
        return not self.digests

    @property
    def platforms(self) -> tuple[str, ...]:
        """Platforms of the image manifests (containerd store), e.g. ``linux/amd64``."""
        return tuple(p for _, p, kind, _ in self.manifests if kind == "image")


@dataclass(frozen=True)
class EngineFacts:
    """What the engine says about itself."""

    host: str = ""
    version: str = ""
    api_version: str = ""
    os: str = "linux"
    storage_driver: str = ""
    root_dir: str = ""
    image_store: str = "classic"  # "classic" (graphdriver) or "containerd"
    name: str = ""
    engine_id: str = ""  # /info ID: keys the layer cache


@dataclass(frozen=True)
class VolumeUsage:
    name: str
    size: int  # -1 when unknown
    ref_count: int  # containers using it, -1 when unknown


@dataclass(frozen=True)
class BuildCacheUsage:
    id: str
    size: int
    in_use: bool
    shared: bool


@dataclass(frozen=True)
class DiskUsage:
    """What ``GET /system/df`` adds beyond the image list (``None`` fields: not asked or unknown)."""

    layers_size: int = -1
    volumes: tuple[VolumeUsage, ...] = ()
    build_cache: tuple[BuildCacheUsage, ...] = ()
    image_shared_size: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    image_size: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    container_sizes: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # container id -> (SizeRw, SizeRootFs)


class Snapshot:
    """A consistent read of one engine's image store, with derived indexes.

    Indexes (children, containers per image, layer sharing) are computed once, lazily.
    """

    def __init__(
        self,
        images: Iterable[Image],
        containers: Iterable[Container] = (),
        facts: EngineFacts | None = None,
        disk: DiskUsage | None = None,
        taken_at: float = 0.0,
    ) -> None:
        self.images: Mapping[str, Image] = MappingProxyType({i.id: i for i in images})
        self.containers: tuple[Container, ...] = tuple(containers)
        self.facts = facts or EngineFacts()
        self.disk = disk
        self.taken_at = taken_at

    # -- derived indexes -------------------------------------------------------------------
    @cached_property
    def children(self) -> Mapping[str, tuple[str, ...]]:
        """Image id -> ids of images whose ParentId is it (classic builder / commit parents)."""
        out: dict[str, list[str]] = {}
        for image in self.images.values():
            if image.parent_id:
                out.setdefault(image.parent_id, []).append(image.id)
        return MappingProxyType({k: tuple(sorted(v)) for k, v in out.items()})

    @cached_property
    def containers_by_image(self) -> Mapping[str, tuple[Container, ...]]:
        out: dict[str, list[Container]] = {}
        for container in self.containers:
            out.setdefault(container.image_id, []).append(container)
        return MappingProxyType({k: tuple(v) for k, v in out.items()})

    @cached_property
    def layers(self) -> Mapping[str, Layer]:
        """Every known layer by chain ID, with its size as far as the store's numbers prove it."""
        out: dict[str, Layer] = {}
        for image in self.images.values():
            for layer in image.layers or ():
                out.setdefault(layer.chain_id, layer)
        if not self.layer_sizes.complete or self.containerd:  # containerd: see with_unpacked_growth
            known = self.layer_sizes.size
            out = {c: replace(x, size=known.get(c)) for c, x in out.items()}
        return MappingProxyType(out)

    @cached_property
    def layer_sizes(self) -> LayerSizes:
        """Layer sizes and prefix sums solved store-wide (history, image sizes, df SharedSize; on
        the containerd store each image's unpacked snapshot total stands for its size)."""
        from tui.core.layers import solve_read_sizes, solve_sizes

        classic = self.facts.image_store == "classic"
        if classic:  # read in the pass that also gives the chains (see stack_facts)
            facts = self.stack_facts
            # the history gave every size: df's prefix sums would settle nothing (prefix sums
            # are read only where some size is open, see sizes_open and measure)
            anchors = {} if len(facts.size) == len(facts.parent) else self._df_anchors()
            return solve_read_sizes(facts, anchors)
        stacks = [
            (i.layers, i.size if classic else (i.unpacked_size if i.unpacked_size >= 0 else None))
            for i in self.images.values()
            if i.layers is not None
        ]
        if self.containerd:
            from tui.core.layers import with_unpacked_growth

            stacks = with_unpacked_growth(stacks)
        return solve_sizes(stacks, self._df_anchors() if classic or self.containerd else None)

    def _df_anchors(self) -> dict[str, int]:
        """Prefix sums ``/system/df`` proves: an image's SharedSize is the bytes up to the deepest
        layer it shares with another listed (non-intermediate) image (on the containerd store the
        snapshots' usage, seen on Docker 28.5). Used only when df listed
        exactly the images of this snapshot with the same sizes (else it was read at another time)."""
        disk = self.disk
        if disk is None or not disk.image_shared_size:
            return {}
        listed = {i.id: i for i in self.top_images()}
        if set(disk.image_shared_size) != set(listed) or any(
            disk.image_size.get(k, -1) != i.size for k, i in listed.items()
        ):
            return {}
        users = self.listed_users
        out: dict[str, int] = {}
        for image_id, shared in disk.image_shared_size.items():
            deepest = [c for c in listed[image_id].chain_ids if users.get(c, 0) > 1]
            if deepest and shared >= 0:
                out[deepest[-1]] = shared
        return out

    @cached_property
    def df_counts_intermediates(self) -> bool:
        """Whether this engine's ``/system/df`` SharedSize counts legacy-builder intermediate
        images as sharers. Docker 20.10 (API 1.41) counts only the images ``docker images`` lists;
        from API 1.42 (Docker 23, where the image list learned ``shared-size``) moby counts the
        layers of every image in the store (seen on 28.5). No version known: the 20.10 rule."""
        if self.facts.image_store != "classic":
            return False
        try:
            api = tuple(int(x) for x in self.facts.api_version.split("."))
        except ValueError:
            return False
        return api >= (1, 42)

    @cached_property
    def listed_users(self) -> Mapping[str, int]:
        """Chain ID -> how many images ``/system/df`` SharedSize counts as its sharers: the listed
        (non-intermediate) images, or every image (see :attr:`df_counts_intermediates`)."""
        out: dict[str, int] = {}
        sharers = self.images.values() if self.df_counts_intermediates else self.top_images()
        for image in sharers:
            for chain in image.chain_ids:
                out[chain] = out.get(chain, 0) + 1
        return MappingProxyType(out)

    @cached_property
    def images_by_chain(self) -> Mapping[str, tuple[str, ...]]:
        """Chain ID -> ids of the images whose layer stack includes it."""
        out: dict[str, list[str]] = {}
        for image in self.images.values():
            for chain in image.chain_ids:
                out.setdefault(chain, []).append(image.id)
        return MappingProxyType({k: tuple(sorted(v)) for k, v in out.items()})

    def same_listing(self, other: Snapshot) -> bool:
        """True when ``other`` lists the same images (ids and names) and the same containers: what
        the first load stage reads, before the layers."""

        def listing(snapshot: Snapshot) -> tuple[object, ...]:
            names = {i.id: (i.tags, i.digests, i.local_digests) for i in snapshot.images.values()}
            # sizes and held chains are read at the layer stage (the list has none yet)
            containers = [(c.id, c.name, c.image_id, c.image, c.state) for c in snapshot.containers]
            return (snapshot.facts, names, containers)

        return listing(self) == listing(other)

    def same_store(self, other: Snapshot) -> bool:
        """True when ``other`` read the same images, with every datum a plan uses, and the same
        containers: a plan made on one is the plan of the other (``disk`` and ``taken_at`` aside)."""
        return (
            self.facts == other.facts
            and self.containers == other.containers
            and dict(self.images) == dict(other.images)
        )

    @property
    def layers_complete(self) -> bool:
        """True when every image's layers have been read."""
        return not self.images_without_layers

    @cached_property
    def images_without_layers(self) -> frozenset[str]:
        """Ids of the images whose layers have not been read."""
        if self.facts.image_store == "classic":
            return self.stack_facts.without_layers
        return frozenset([i.id for i in self.images.values() if i.layers is None])

    @cached_property
    def stack_facts(self) -> StackFacts:
        """Each image's chain IDs, and what the layer sizes are solved from (classic store), read
        in one pass over every layer: the classic store model and :attr:`layer_sizes` both need it."""
        from tui.core.layers import read_classic_stacks

        return read_classic_stacks(self.images.values())

    @cached_property
    def orphan_containers(self) -> tuple[Container, ...]:
        """Containers whose image record is gone (force-removed) and whose layers are unknown."""
        return tuple(c for c in self.containers if c.image_id not in self.images and not c.held_chains)

    # -- per-image facts -------------------------------------------------------------------
    def containers_of(self, image_id: str) -> tuple[Container, ...]:
        return self.containers_by_image.get(image_id, ())

    def is_dangling(self, image_id: str) -> bool:
        """The engine's definition (classic): no tag and no child image. Digest-only images count."""
        image = self.images[image_id]
        return not image.tags and not self.children.get(image_id)

    def is_intermediate(self, image_id: str) -> bool:
        """No tag or digest, but a parent of another image: hidden unless ``images --all``."""
        image = self.images[image_id]
        return not image.refs and bool(self.children.get(image_id))

    def shared_size(self, image_id: str) -> int:
        """Bytes of this image's layers that at least one other listed image also uses (-1: unknown).

        Like the engine's ``/system/df`` SharedSize: on Docker 20.10 the sharers are the images
        ``docker images`` lists (legacy-builder intermediates do not count), from API 1.42 every image.
        """
        return self.shared_sizes[image_id]

    @cached_property
    def shared_sizes(self) -> Mapping[str, int]:
        """:meth:`shared_size` of every image (the table and ``images`` show them all)."""
        users, every = self.listed_users, self.df_counts_intermediates
        out: dict[str, int] = {}
        for image_id, image in self.images.items():
            if image.layers is None:
                out[image_id] = -1
                continue
            listed = 1 if every or not self.is_intermediate(image_id) else 0
            shared = [c for c in image.chain_ids if users.get(c, 0) - listed >= 1]
            value, unknown = self.measure(shared)
            out[image_id] = -1 if unknown else value
        return MappingProxyType(out)

    def prepare_views(self) -> None:
        """Make the indexes a table of every image asks for (children, containers per image, layer
        sizes, shared sizes): called by the thread that read the snapshot, so that the UI thread
        does not make them when it shows the snapshot."""
        _ = self.children, self.containers_by_image, self.shared_sizes

    def unique_size(self, image_id: str) -> int:
        """Bytes only this image uses (-1: unknown)."""
        shared = self.shared_size(image_id)
        return -1 if shared < 0 else self.images[image_id].size - shared

    def top_images(self) -> list[Image]:
        """Images ``docker images`` lists without ``--all`` (intermediates hidden)."""
        return [i for i in self.images.values() if not self.is_intermediate(i.id)]

    def live_chains(self, removed_images: Iterable[str] = ()) -> set[str]:
        """Every chain kept alive by the images not in ``removed_images`` and by all containers."""
        removed = set(removed_images)
        live: set[str] = set()
        for image in self.images.values():
            if image.id not in removed:
                live.update(image.chain_ids)
        for container in self.containers:
            used = self.images.get(container.image_id)
            if used is not None:
                live.update(used.chain_ids)
            else:
                live.update(container.held_chains)
        return live

    @property
    def containerd(self) -> bool:
        """True for the containerd image store (another model, see tui/core/containerd.py)."""
        return self.facts.image_store == "containerd"

    def bytes_of(self, chains: Iterable[str]) -> int:
        """Bytes of these layers that are known (all of them unless :meth:`measure` says otherwise)."""
        return self.measure(chains)[0]

    def measure(self, chains: Iterable[str], distinct: bool = False) -> tuple[int, int]:
        """``(bytes, unknown)``: the exactly known bytes of these layers, and how many of them are
        of sizes no engine number determines (then the layers hold at least ``bytes``).
        ``distinct``: the caller knows no chain is listed twice (each is counted once anyway)."""
        from tui.core.layers import measure

        sizes = self.layer_sizes
        if sizes.complete:
            known = sizes.size  # (a chain no image lists, e.g. one a container holds: 0 bytes known)
            return sum(map(known.get, chains if distinct else dict.fromkeys(chains), repeat(0))), 0
        return measure(chains, sizes)

    def layer_size(self, chain: str) -> int | None:
        """One layer's DiffSize, or ``None`` where it is not known."""
        return self.layer_sizes.size.get(chain)

    @property
    def sizes_open(self) -> bool:
        """True when some layer shared by several images, or kept by a container whose image is
        gone, has no known prefix sum: then plans may have to say "at least" (reading
        ``/system/df`` usually settles it)."""
        sizes = self.layer_sizes
        if sizes.complete:
            return False
        kids: dict[str, int] = {}
        for below in sizes.parent.values():
            kids[below] = kids.get(below, 0) + 1
        if any(n > 1 and c not in sizes.prefix for c, n in kids.items()):
            return True
        return any(ch not in sizes.prefix for c in self.containers for ch in c.held_chains)
