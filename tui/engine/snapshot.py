"""Reading a snapshot of the image store into core objects.

The reader is shaped for large stores: :func:`list_store` gives the image and container lists at
once (usable before any layer data), then :func:`read_layers` fills in each image's layers from
inspect + history, reporting progress and honouring cancellation. What inspect and history say about
an image ID never changes (IDs are content addresses), so :class:`LayerCache` keeps it, in memory
and optionally on disk, keyed by the engine's ID and the image ID.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tui.core.layers import HistoryStep, build_layers, chain_ids
from tui.core.model import (
    BuildCacheUsage,
    Container,
    DiskUsage,
    EngineFacts,
    Image,
    Layer,
    Snapshot,
    VolumeUsage,
)
from tui.engine import podman
from tui.engine.client import Engine, EngineAPIError

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


def parse_created(text: str) -> float:
    """RFC 3339 with up to nanoseconds (``2024-01-31T12:00:00.123456789Z``) to unix seconds."""
    return parse_created_ns(text) / 1_000_000_000


def parse_created_ns(text: str) -> int:
    """RFC 3339 with up to nanoseconds (``2024-01-31T12:00:00.123456789Z``) to unix nanoseconds."""
    if not text:
        return 0
    main, _, rest = text.partition(".")
    frac = ""
    zone = "Z"
    if rest:
        digits = "".join(ch for ch in rest if ch.isdigit())
        frac = digits
        zone = rest[len(digits):] or "Z"
    else:
        for sep in ("Z", "+", "-"):
            idx = main.rfind(sep)
            if idx > 10:
                main, zone = main[:idx], main[idx:]
                break
    zone = "+00:00" if zone in ("Z", "z") else zone
    moment = datetime.fromisoformat(main + zone)
    seconds = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
    nanos = int(frac[:9].ljust(9, "0")) if frac else 0
    return seconds * 1_000_000_000 + nanos


def _clean_refs(values: Iterable[str] | None, none_marker: str) -> tuple[str, ...]:
    return tuple(v for v in (values or ()) if v and v != none_marker)


class LayerCache:
    """Inspect/history facts per (engine ID, image ID); optionally persisted as JSON lines.

    The file keeps at most :attr:`MAX_ENTRIES` entries (the oldest go first when it is rewritten).
    """

    MAX_ENTRIES = 50_000

    def __init__(self, path: Path | None = None) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.path = path
        if path is not None and path.exists():
            lines = 0
            try:
                text = path.read_text()
            except OSError:
                text = ""
            for line in text.splitlines():
                lines += 1
                try:
                    entry = json.loads(line)
                    self._data[entry["key"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a damaged line is only a slower start for that image
            if len(self._data) > self.MAX_ENTRIES:
                keep = list(self._data.items())[-self.MAX_ENTRIES // 2:]
                self._data = dict(keep)
            if lines != len(self._data):
                self._rewrite()

    def _rewrite(self) -> None:
        """Write the file anew (drops duplicates and damaged lines); never fails the caller."""
        if self.path is None:
            return
        try:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(e) + "\n" for e in self._data.values()))
            tmp.replace(self.path)
        except OSError:
            pass

    def get(self, engine_id: str, image_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._data.get(f"{engine_id}/{image_id}")

    def put(self, engine_id: str, image_id: str, entry: dict[str, Any]) -> None:
        key = f"{engine_id}/{image_id}"
        entry = {**entry, "key": key}
        with self._lock:
            self._data[key] = entry
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as fh:
                    fh.write(json.dumps(entry) + "\n")
            except OSError:
                pass


def read_facts(engine: Engine) -> EngineFacts:
    """``/info`` and ``/version``."""
    info = engine.call(lambda api: api.info())
    version = engine.call(lambda api: api.version())
    status = " ".join(str(x) for pair in info.get("DriverStatus") or [] for x in pair)
    store = "containerd" if "io.containerd.snapshotter.v1" in status else "classic"
    store = "podman" if podman.is_podman(version) else store
    return EngineFacts(
        host=engine.host,
        version=str(version.get("Version", "")),
        api_version=str(version.get("ApiVersion", "")),
        os=str(info.get("OSType", "linux")),
        storage_driver=str(info.get("Driver", "")),
        root_dir=str(info.get("DockerRootDir", "")),
        image_store=store,
        name=str(info.get("Name", "")),
        engine_id=str(info.get("ID", "")),
    )


def list_images(engine: Engine) -> list[Image]:
    """``GET /images/json?all=1`` as images without layer data."""
    rows = engine.call(lambda api: api.images(all=True))
    images = []
    for row in rows:
        images.append(
            Image(
                id=row["Id"],
                tags=_clean_refs(row.get("RepoTags"), "<none>:<none>"),
                digests=_clean_refs(row.get("RepoDigests"), "<none>@<none>"),
                created=float(row.get("Created") or 0),
                size=int(row.get("Size") or 0),
                parent_id=row.get("ParentId") or "",
                labels=MappingProxyType(dict(row.get("Labels") or {})),
            )
        )
    return images


def list_containers(engine: Engine) -> list[Container]:
    """``GET /containers/json?all=1``."""
    rows = engine.call(lambda api: api.containers(all=True))
    out = []
    for row in rows:
        names = row.get("Names") or []
        out.append(
            Container(
                id=row["Id"],
                name=names[0].lstrip("/") if names else row["Id"][:12],
                image_id=row.get("ImageID", ""),
                image=row.get("Image", ""),
                state=row.get("State", ""),
            )
        )
    return out


def _image_detail(engine: Engine, image_id: str) -> dict[str, Any]:
    inspect = engine.call(lambda api: api.inspect_image(image_id))
    history = engine.call(lambda api: api.history(image_id))
    return {
        "diff_ids": list((inspect.get("RootFS") or {}).get("Layers") or []),
        "history": [[h.get("CreatedBy") or "", int(h.get("Size") or 0)] for h in reversed(history or [])],
        "created": inspect.get("Created", ""),
        "labels": dict((inspect.get("Config") or {}).get("Labels") or {}),
        "has_config": inspect.get("Config") is not None,
    }


def _with_layers(image: Image, detail: Mapping[str, Any], classic: bool = True) -> Image:
    """The image with its layers; on the classic store its ``Size`` (the sum of its layers) lets
    the history's gaps be told apart from 0-byte layers."""
    steps = [HistoryStep(created_by=c, size=s) for c, s in detail["history"]]
    layers: tuple[Layer, ...] = build_layers(detail["diff_ids"], steps,
                                             image.size if classic else None)
    created, created_ns = image.created, image.created_ns
    if detail.get("created"):
        created_ns = parse_created_ns(detail["created"])
        created = created_ns / 1_000_000_000
    return replace(image, layers=layers, created=created, created_ns=created_ns,
                   labels=MappingProxyType(dict(detail.get("labels") or image.labels)),
                   has_config=bool(detail.get("has_config", True)))


def read_layers(
    engine: Engine,
    images: list[Image],
    *,
    cache: LayerCache | None = None,
    engine_id: str = "",
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
    image_store: str = "classic",
) -> list[Image]:
    """Fill in layers (and precise created times) for ``images``; images that vanished are dropped."""
    out: list[Image] = []
    total = len(images)
    for done, image in enumerate(images, 1):
        if cancelled is not None and cancelled():
            out.extend(images[done - 1:])
            break
        detail = cache.get(engine_id, image.id) if cache is not None else None
        if detail is None or "has_config" not in detail:  # older entries lack it: read again
            try:
                detail = _image_detail(engine, image.id)
            except EngineAPIError as exc:
                if exc.status == 404:
                    continue  # removed since the list was read
                raise
            if cache is not None:
                cache.put(engine_id, image.id, detail)
        out.append(_with_layers(image, detail, image_store == "classic"))
        if progress is not None:
            progress(done, total)
    return out


def _graph_dirs(data: Mapping[str, Any] | None) -> list[str]:
    """Layer directories of an overlay-style GraphDriver, top first (``-init`` dirs dropped)."""
    info = (data or {}).get("Data") or {}
    dirs = [info["UpperDir"]] if info.get("UpperDir") else []
    dirs += [d for d in str(info.get("LowerDir") or "").split(":") if d]
    return [d for d in dirs if not d.rstrip("/").removesuffix("/diff").endswith("-init")]


def _inspect(engine: Engine, kind: str, ident: str) -> dict[str, Any]:
    def call(api: Any) -> dict[str, Any]:
        result: dict[str, Any] = api.inspect_image(ident) if kind == "image" else api.inspect_container(ident)
        return result

    return engine.call(call)


def resolve_orphans(
    engine: Engine,
    images: list[Image],
    containers: list[Container],
    *,
    cache: LayerCache | None = None,
    engine_id: str = "",
) -> list[Container]:
    """Give containers whose image record is gone the layer chains they still hold.

    Such a container (its image was force-removed) keeps its image's layers; a removal plan must
    not count them as freed. The chains come from the layer cache when docker-sweep read that image
    before, else by matching the container's layer directories (overlay2 ``GraphDriver`` data) with
    those of the images that share them. Only done when such containers exist.
    """
    known = {i.id for i in images}
    if all(c.image_id in known for c in containers):
        return containers
    dir_to_chain: dict[str, str] = {}
    for image in images:
        if image.layers is None:
            continue
        try:
            data = _inspect(engine, "image", image.id).get("GraphDriver")
        except EngineAPIError:
            continue
        for directory, chain in zip(_graph_dirs(data), reversed(image.chain_ids), strict=False):
            dir_to_chain[directory] = chain
    out = []
    for container in containers:
        if container.image_id in known:
            out.append(container)
            continue
        held: list[str] = []
        entry = cache.get(engine_id, container.image_id) if cache is not None else None
        if entry is not None:
            held = chain_ids(entry["diff_ids"])
        else:
            try:
                data = _inspect(engine, "container", container.id).get("GraphDriver")
            except EngineAPIError:
                data = None
            held = [dir_to_chain[d] for d in _graph_dirs(data) if d in dir_to_chain]
        out.append(replace(container, held_chains=tuple(held)))
    return out


def read_disk_usage(engine: Engine) -> DiskUsage:
    """``GET /system/df`` (slow on big hosts: it walks container and volume directories)."""
    data = engine.call(lambda api: api.df(), long=True)
    volumes = tuple(
        VolumeUsage(
            name=v.get("Name", ""),
            size=int((v.get("UsageData") or {}).get("Size", -1)),
            ref_count=int((v.get("UsageData") or {}).get("RefCount", -1)),
        )
        for v in data.get("Volumes") or []
    )
    cache = tuple(
        BuildCacheUsage(
            id=b.get("ID", ""),
            size=int(b.get("Size") or 0),
            in_use=bool(b.get("InUse")),
            shared=bool(b.get("Shared")),
        )
        for b in data.get("BuildCache") or []
    )
    shared = {i["Id"]: int(i.get("SharedSize", -1)) for i in data.get("Images") or []}
    image_sizes = {i["Id"]: int(i.get("Size", -1)) for i in data.get("Images") or []}
    sizes = {c["Id"]: (int(c.get("SizeRw") or 0), int(c.get("SizeRootFs") or 0))
             for c in data.get("Containers") or []}
    return DiskUsage(
        layers_size=int(data.get("LayersSize") or 0),
        volumes=volumes,
        build_cache=cache,
        image_shared_size=MappingProxyType(shared),
        image_size=MappingProxyType(image_sizes),
        container_sizes=MappingProxyType(sizes),
    )


def read_stages(
    engine: Engine,
    *,
    layers: bool = True,
    disk_usage: bool = False,
    cache: LayerCache | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
) -> Iterator[Snapshot]:
    """The store in stages: the lists (no layers yet), then with layers, then with df data.

    Each stage is yielded as soon as it is read (the app shows the list before the layers);
    ``layers=False`` or ``disk_usage=False`` end it early. Stops after a cancelled layer read.
    """
    taken = time.time()
    facts = read_facts(engine)
    images = list_images(engine)
    if facts.image_store == "podman":
        images = podman.normalise_images(images)
    containers = list_containers(engine)
    yield Snapshot(images, containers, facts, None, taken_at=taken)
    if not layers:
        return
    images = read_layers(engine, images, cache=cache, engine_id=facts.engine_id,
                         progress=progress, cancelled=cancelled, image_store=facts.image_store)
    if cancelled is not None and cancelled():
        return
    containers = resolve_orphans(engine, images, containers, cache=cache, engine_id=facts.engine_id)
    if facts.image_store == "containerd":
        from tui.engine.containerd_store import with_containerd_details

        images = with_containerd_details(engine, facts, images)
    snapshot = Snapshot(images, containers, facts, None, taken_at=taken)
    if snapshot.sizes_open and facts.image_store == "classic":
        # The history leaves a shared layer's size open: /system/df's SharedSize settles it.
        yield Snapshot(images, containers, facts, read_disk_usage(engine), taken_at=taken)
        return
    yield snapshot
    if disk_usage:
        yield Snapshot(images, containers, facts, read_disk_usage(engine), taken_at=taken)


def read_snapshot(
    engine: Engine,
    *,
    layers: bool = True,
    disk_usage: bool = False,
    cache: LayerCache | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
) -> Snapshot:
    """A full snapshot: facts, images (with layers unless ``layers=False``), containers, df."""
    *_, last = read_stages(engine, layers=layers, disk_usage=disk_usage, cache=cache,
                           progress=progress, cancelled=cancelled)
    return last
