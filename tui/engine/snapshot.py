"""Reading a snapshot of the image store into core objects.

The reader is shaped for large stores: :func:`list_store` gives the image and container lists at
once (usable before any layer data), then :func:`read_layers` fills in each image's layers from
inspect + history, reporting progress and honouring cancellation. What inspect and history say about
an image ID never changes (IDs are content addresses), so :class:`LayerCache` keeps it, in memory
and optionally on disk, keyed by the engine's ID and the image ID.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast
from urllib.parse import quote

from tui.core.json_text import fast_dumps
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
from tui.engine.client import (
    CONTAINER_SIZES_URL,
    CONTAINERS_URL,
    DISK_USAGE,
    NO_ANSWER,
    Engine,
    EngineAPIError,
    ReaderPerThread,
    UnixGets,
    images_url,
    store_lists,
)
from tui.engine.layer_child import Built, child_details, worth_a_child

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from tui.engine.containerd_store import ContentStore, EarlyReads

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def parse_created(text: str) -> float:
    """RFC 3339 with up to nanoseconds (``2024-01-31T12:00:00.123456789Z``) to unix seconds."""
    return parse_created_ns(text) / 1_000_000_000


@lru_cache(maxsize=1 << 16)
def parse_created_ns(text: str) -> int:
    """RFC 3339 with up to nanoseconds (``2024-01-31T12:00:00.123456789Z``) to unix nanoseconds.

    :meth:`datetime.fromisoformat` (Python 3.11) reads the whole stamp but keeps only
    microseconds, so the fraction's nanoseconds are taken from the text: ``until`` compares them.
    Remembered: a warm read checks each cached stamp, compares it with the list and keeps it.
    """
    if not text:
        return 0
    if text[-1:] == "z":
        text = text[:-1] + "Z"
    seconds = (datetime.fromisoformat(text) - _EPOCH) // _SECOND  # the microseconds floored away
    fraction = text.partition(".")[2]
    digits = fraction[: len(fraction) - len(fraction.lstrip("0123456789"))]
    return seconds * 1_000_000_000 + (int(digits[:9].ljust(9, "0")) if digits else 0)


def _clean_refs(values: Iterable[str] | None, none_marker: str) -> tuple[str, ...]:
    return tuple(v for v in (values or ()) if v and v != none_marker)


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CACHED = ("diff_ids", "history", "created")  # what every entry holds (layer reads)
_NEVER_CACHED = ("labels",)  # what decides protection and filters: always from this run's image list


_canonical = fast_dumps(sort_keys=True, separators=(",", ":"))
_REQUIRED = frozenset({*_CACHED, "key", "sum"})


def _entry_sum(entry: Mapping[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "sum"}
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


def _valid_entry(entry: Any) -> bool:
    """A well-formed entry whose checksum matches (a damaged or hand-edited line is not)."""
    return _well_formed(entry) and entry["sum"] == _entry_sum(entry)


def _well_formed(entry: Any) -> bool:
    """An entry of the right shape (its checksum not checked)."""
    if not isinstance(entry, dict) or not entry.keys() >= _REQUIRED:
        return False
    if any(k in entry for k in _NEVER_CACHED):
        return False
    diff_ids, history, created = entry["diff_ids"], entry["history"], entry["created"]
    if not isinstance(entry["key"], str) or not isinstance(diff_ids, list) or not isinstance(created, str):
        return False
    for d in diff_ids:
        if not isinstance(d, str) or not _DIGEST.fullmatch(d):
            return False
    if not isinstance(history, list):
        return False
    for h in history:
        if not (
            isinstance(h, list) and len(h) == 2 and isinstance(h[0], str) and type(h[1]) is int and h[1] >= 0
        ):
            return False
    try:
        parse_created_ns(created)
    except ValueError:
        return False
    return True


def _private_file(path: Path) -> bool:
    """Whether ``path`` (if it exists) is this user's and nobody else may write it or its directory."""
    for target in (path.parent, path):
        try:
            info = os.stat(target)
        except FileNotFoundError:
            continue
        except OSError:
            return False
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return True


def default_cache_path() -> Path:
    """Where the headless commands and the app keep the layer cache (the user cache dir)."""
    import platformdirs

    return platformdirs.user_cache_path("docker-sweep") / "layers.jsonl"


class LayerCache:
    """Inspect/history facts per (engine ID, image ID); optionally persisted as JSON lines.

    The cache only saves layer reads: an entry holds diff IDs, history sizes and the created time,
    never labels (protection and filters use the labels the engine lists in this run). Each line
    carries a checksum and is checked for shape; a damaged or edited line is dropped and read
    again from the engine, and :meth:`get` also drops an entry whose created time disagrees with the
    image list's. A file (or directory) owned by someone else or writable by others is not used.
    The file keeps at most :attr:`MAX_ENTRIES` entries (the oldest go first when it is rewritten).
    ``defer=True``: the file is read on first use (or :meth:`load`), not here; the reader then
    reads it while the engine lists the store.
    """

    MAX_ENTRIES = 50_000

    def __init__(self, path: Path | None = None, *, defer: bool = False) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._loaded = False
        self.path = path if path is None or _private_file(path) else None
        self._rejected = 0
        if not defer:
            self.load()

    @property
    def rejected(self) -> int:
        """Lines dropped as damaged or edited when the file was read."""
        self.load()
        return self._rejected

    def load(self) -> None:
        """Read the file, once (every other method does this first)."""
        if self._loaded:
            return
        with self._load_lock:
            if not self._loaded:
                self._read_file()
                self._loaded = True

    def _read_file(self) -> None:
        if self.path is not None and self.path.exists():
            lines = 0
            try:
                data = self.path.read_bytes()
            except OSError:
                data = b""
            digest = hashlib.sha256(data).hexdigest()
            checked = digest == self._read_seal()  # every line passed the checks below before
            texts: dict[str, str] = {}  # see _share
            for line in data.decode("utf-8", errors="replace").splitlines():
                lines += 1
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = None
                if (
                    checked and isinstance(entry, dict) and isinstance(entry.get("key"), str)
                ) or _valid_entry(entry):
                    _share(entry, texts)
                    self._data[entry["key"]] = entry
                else:
                    self._rejected += 1  # only a slower start for that image
            if len(self._data) > self.MAX_ENTRIES:
                keep = list(self._data.items())[-self.MAX_ENTRIES // 2 :]
                self._data = dict(keep)
            if lines != len(self._data):
                self._rewrite()
            elif not checked:
                self._seal(digest)

    @property
    def _seal_path(self) -> Path | None:
        """``layers.jsonl.checked``: the sha256 of the file's bytes when every line of it last
        passed the checks (shape, checksum). A file with those bytes is not checked line by line
        again (a warm start reads it often); any other content is. It vouches for nothing the
        lines' own checksums do not: whoever may write the file may write this too."""
        return None if self.path is None else self.path.with_name(self.path.name + ".checked")

    def _read_seal(self) -> str | None:
        seal = self._seal_path
        if seal is None or not _private_file(seal):
            return None
        try:
            return seal.read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            return None

    def _seal(self, digest: str) -> None:
        """Record ``digest`` as the checked content's; never fails the caller."""
        seal = self._seal_path
        if seal is None:
            return
        try:
            fd = os.open(seal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(digest + "\n")
        except OSError:
            pass

    def _rewrite(self) -> None:
        """Write the file anew (drops duplicates and damaged lines); never fails the caller."""
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        data = "".join(json.dumps(e) + "\n" for e in self._data.values()).encode("utf-8")
        try:
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            tmp.replace(self.path)
        except OSError:
            return
        self._seal(hashlib.sha256(data).hexdigest())  # every entry kept passed the checks

    def get(self, engine_id: str, image_id: str, *, created: float | None = None) -> dict[str, Any] | None:
        """The entry, or None; with ``created`` (the image list's, whole seconds) it must agree."""
        self.load()
        with self._lock:
            entry = self._data.get(f"{engine_id}/{image_id}")
        if entry is None or created is None or not entry["created"]:
            return entry
        if math.floor(parse_created(entry["created"])) != math.floor(created):
            with self._lock:
                self._data.pop(f"{engine_id}/{image_id}", None)
            return None
        return entry

    def put(self, engine_id: str, image_id: str, entry: dict[str, Any]) -> None:
        self.put_many(engine_id, [(image_id, entry)])

    def put_many(self, engine_id: str, entries: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """:meth:`put` of each ``(image id, entry)``, appended to the file in one write."""
        self.load()
        made = [e for i, detail in entries if (e := cache_entry(engine_id, i, detail)) is not None]
        self.remember(made)
        self.append(made)

    def remember(self, entries: Iterable[dict[str, Any]]) -> None:
        """Hold ``entries`` (made by :func:`cache_entry`, here or by the process that also
        appended them to the file) in memory, not in the file."""
        with self._lock:
            for entry in entries:
                self._data[entry["key"]] = entry

    def append(self, entries: list[dict[str, Any]]) -> None:
        """Append ``entries`` (made by :func:`cache_entry`) to the file in one write, not to
        memory; never fails the caller."""
        if self.path is None or not entries:
            return
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write("".join([json.dumps(entry) + "\n" for entry in entries]))
        except OSError:
            pass


def _share(entry: dict[str, Any], texts: dict[str, str]) -> None:
    """Make the equal diff ids and history commands of the entries read from one file one string
    each (``texts``: what the file's earlier entries gave). JSON gives every line its own copies,
    and most images share their base layers' ids and history: the layer cache is the app's
    largest single holder of memory on a warm start (5,000 entries of the benchmark's store:
    9.36 MB parsed, 8.20 MB shared, for ~8 ms more of the read; real histories share longer
    commands). An entry of another shape (a file sealed by someone else) is left as it is."""
    diff_ids, history = entry.get("diff_ids"), entry.get("history")
    if type(diff_ids) is not list or type(history) is not list:
        return
    share = texts.setdefault
    entry["diff_ids"] = [share(d, d) if type(d) is str else d for d in diff_ids]
    for step in history:
        if type(step) is list and step and type(step[0]) is str:
            step[0] = share(step[0], step[0])


def cache_entry(engine_id: str, image_id: str, detail: Mapping[str, Any]) -> dict[str, Any] | None:
    """The layer cache's entry for an image's detail (its labels left out, its key and checksum
    added), or None when it is not of the shape an entry must have (then it is not cached)."""
    key = f"{engine_id}/{image_id}"
    entry = {**{k: v for k, v in detail.items() if k not in _NEVER_CACHED}, "key": key}
    entry["sum"] = _entry_sum(entry)
    return entry if _well_formed(entry) else None  # (its sum was just made)


def _answer(engine: Engine, gets: UnixGets | None, index: int, sdk: Callable[[Any], Any], long: bool) -> Any:
    """Answer ``index`` of ``gets``, or ``engine.call(sdk)`` when there is none (no direct reads,
    or an answer that is not a JSON success: the SDK then gives its answer, or its error)."""
    found = NO_ANSWER if gets is None else gets.json(index)
    return engine.call(sdk, long=long) if found is NO_ANSWER else found


def _get(engine: Engine, path: str, sdk: Callable[[Any], Any], *, long: bool = False) -> Any:
    """``GET path`` without the SDK where the engine allows it (:meth:`Engine.start_gets`), else
    (or on any failure) ``engine.call(sdk)``, the SDK call that asks the same URL."""
    gets = engine.start_gets([path], long=long)
    try:
        return _answer(engine, gets, 0, sdk, long)
    finally:
        if gets is not None:
            gets.close()


def _sdk_info(api: Any) -> Any:
    return api.info()


def _sdk_containers(api: Any) -> Any:
    return api.containers(all=True)


def read_facts(engine: Engine) -> EngineFacts:
    """``/info`` and ``/version``."""
    return _facts(engine, _get(engine, "/info", _sdk_info))


def _facts(engine: Engine, info: dict[str, Any]) -> EngineFacts:
    version = engine.server_version()
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
        engine_id=_engine_id(info, store),
    )


def _engine_id(info: Mapping[str, Any], store: str) -> str:
    """What keys this engine's entries in the layer cache: ``/info`` ID, which Docker keeps for
    the life of its data root. Podman's compat ``/info`` makes up a new ID on every call (seen on
    4.3), so its cache would never hit: there it is the host name and the storage's graph root
    (image IDs are content addresses; the key only keeps engines' entries apart)."""
    if store != "podman":
        return str(info.get("ID", ""))
    return f"podman:{info.get('Name', '')}:{info.get('DockerRootDir', '')}"


#: ``GET /images/json`` rows by image id.
ListRows = Mapping[str, Mapping[str, Any]]


def _sdk_image_rows(api: Any) -> list[dict[str, Any]]:
    """The image list through the SDK, by the URL :func:`~tui.engine.client.images_url` names for
    this API version (``manifests=1`` from 1.47)."""
    if not images_url(str(api.api_version))[1]:
        return list(api.images(all=True))
    return list(api._result(api._get(api._url("/images/json"), params={"all": 1, "manifests": 1}), True))


def list_image_rows(engine: Engine) -> tuple[list[dict[str, Any]], bool]:
    """``GET /images/json?all=1`` rows, and whether they were asked with ``manifests=1``.

    From API 1.47 the list is asked with ``manifests=1``: the containerd store then adds each
    image's platform manifests, which its reader needs (one list instead of two: the containerd
    store spends ~14 ms per image on a list, seen on 28.5); the classic store ignores it."""
    url, manifests = images_url(engine.api_version())
    return list(_get(engine, url, _sdk_image_rows)), manifests


def images_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Image]:
    """Images without layer data from ``GET /images/json`` rows."""
    images = []
    for row in rows:
        images.append(
            _new_image(
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


def _new_image(**given: Any) -> Image:
    """``Image(**given)``, the same value, made as :func:`_replaced` makes its copies: from the
    default fields of a blank image (its empty mappings are immutable, so they are shared)."""
    if not _PLAIN_IMAGE:
        return Image(**given)
    return _image_of({**_BLANK_FIELDS, **given})


def list_images(engine: Engine) -> list[Image]:
    """``GET /images/json?all=1`` as images without layer data."""
    return images_from_rows(list_image_rows(engine)[0])


def list_containers(engine: Engine) -> list[Container]:
    """``GET /containers/json?all=1``."""
    return _containers(_get(engine, CONTAINERS_URL, _sdk_containers))


def _containers(rows: list[dict[str, Any]]) -> list[Container]:
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


def with_container_sizes(engine: Engine, containers: list[Container]) -> list[Container]:
    """The containers with SizeRw and SizeRootFs (``GET /containers/json?all=1&size=1``; the
    containerd store counts each container's own snapshots in LayersSize). A container the
    second list does not show keeps -1 (unknown)."""
    return containers_sized(containers, container_size_rows(engine) if containers else [])


def container_size_rows(engine: Engine) -> list[Any]:
    """``GET /containers/json?all=1&size=1`` (the rows :func:`containers_sized` reads)."""
    rows = _get(engine, CONTAINER_SIZES_URL, lambda api: api.containers(all=True, size=True), long=True)
    return list(rows)


def containers_sized(containers: list[Container], rows: list[Any]) -> list[Container]:
    """:func:`with_container_sizes` with the size list's ``rows`` read already."""
    if not containers:
        return containers
    sizes = {
        str(row["Id"]): (int(row.get("SizeRw", -1)), int(row.get("SizeRootFs", -1)))
        for row in rows
        if isinstance(row, dict) and "Id" in row
    }
    out = []
    for container in containers:
        rw, root_fs = sizes.get(container.id, (-1, -1))
        out.append(replace(container, size_rw=rw, size_root_fs=root_fs))
    return out


#: An inspect-shaped answer for an image id read without the engine (RootFS, Created, Config,
#: Comment), or None: then the engine's inspect is asked (see ``ContentStore.local_inspect``).
LocalInspect = Callable[[str], "dict[str, Any] | None"]
#: An image id's whole detail (what :func:`_detail` makes of its inspect and history) read without
#: the engine, or None: then the engine is asked (see ``ClassicStore.detail``).
LocalDetail = Callable[[str], "dict[str, Any] | None"]


def _image_detail(api: Any, image_id: str, local: LocalInspect | None = None) -> dict[str, Any]:
    inspect = local(image_id) if local is not None else None
    if inspect is None:
        inspect = api.inspect_image(image_id)
    return _detail(api, image_id, inspect, api.history(image_id))


def _detail(
    api: Any, image_id: str, inspect: dict[str, Any], history: list[dict[str, Any]]
) -> dict[str, Any]:
    from tui.engine import image_config  # tarfile and the export reader: only for layer reads

    return {
        "diff_ids": list((inspect.get("RootFS") or {}).get("Layers") or []),
        "history": [[h.get("CreatedBy") or "", int(h.get("Size") or 0)] for h in reversed(history or [])],
        "created": inspect.get("Created", ""),
        "labels": dict((inspect.get("Config") or {}).get("Labels") or {}),
        "has_config": image_config.has_config(api, image_id, inspect),
        "comment": str(inspect.get("Comment") or ""),  # the newest history step's (BuildKit's mark)
        "config_read": 3,  # has_config from the export where inspect cannot tell (3: containerd ids)
    }


def _image_details(
    api: Any, image_ids: list[str], local: LocalInspect | None = None
) -> list[dict[str, Any] | None]:
    """Each image's detail (``None``: it vanished, 404): on a :class:`UnixReader` its inspect and
    history requests go pipelined on one connection, else one request after the other. ``local``
    answers the inspect of the images it can without the engine."""
    if not hasattr(api, "get_json_many"):
        out: list[dict[str, Any] | None] = []
        for image_id in image_ids:
            try:
                out.append(_image_detail(api, image_id, local))
            except EngineAPIError as exc:
                if exc.status != 404:
                    raise
                out.append(None)  # removed since the list was read
        return out
    paths = []
    known = {}
    for image_id in image_ids:
        quoted = quote(image_id, safe="/:")
        found = local(image_id) if local is not None else None
        if found is not None:
            known[image_id] = found
        else:
            paths.append(f"/images/{quoted}/json")
        paths.append(f"/images/{quoted}/history")
    answers = iter(api.get_json_many(paths))
    details: list[dict[str, Any] | None] = []
    for image_id in image_ids:
        inspect = known[image_id] if image_id in known else next(answers)
        history = next(answers)
        try:
            for answer in (inspect, history):
                if isinstance(answer, EngineAPIError):
                    raise answer
            details.append(_detail(api, image_id, inspect, history))  # may read the export too
        except EngineAPIError as exc:
            if exc.status != 404:
                raise
            details.append(None)  # removed since the list was read
    return details


#: Threads reading inspect + history at once (each with its own kept-alive client).
READ_WORKERS = 4
#: Images per request batch of one thread (their inspect and history requests are pipelined).
READ_BATCH = 8


def fetch_details(
    engine: Engine,
    image_ids: list[str],
    workers: int,
    cancelled: CancelFn | None,
    local: LocalInspect | None = None,
    local_detail: LocalDetail | None = None,
) -> Generator[tuple[str, dict[str, Any] | None], None, None]:
    """``(image id, detail)`` in ``image_ids`` order; ``None`` for an image that vanished (404).

    ``local_detail`` answers the images it can without the engine, first, on this thread (small
    files read from disk: more threads would only take turns); the engine is asked for the others
    by :func:`_ask_details`, which starts before the first answer is given. Stops early (the
    images not read yet are not yielded) once ``cancelled()``.
    """
    if local_detail is None:
        yield from _ask_details(engine, image_ids, workers, cancelled, local)
        return
    known: dict[str, dict[str, Any]] = {}
    for done, image_id in enumerate(image_ids):
        if done % 64 == 0 and cancelled is not None and cancelled():
            return
        found = local_detail(image_id)
        if found is not None:
            known[image_id] = found
    rest = [image_id for image_id in image_ids if image_id not in known]
    asked = _ask_details(engine, rest, workers, cancelled, local)
    try:
        pending = next(asked, None) if rest else None  # the engine's reads start now
        for image_id in image_ids:
            if image_id in known:
                yield image_id, known[image_id]
                continue
            got = pending if pending is not None else next(asked, None)
            pending = None
            if got is None:
                return  # cancelled
            yield got
    finally:
        asked.close()


def _ask_details(
    engine: Engine,
    image_ids: list[str],
    workers: int,
    cancelled: CancelFn | None,
    local: LocalInspect | None = None,
) -> Generator[tuple[str, dict[str, Any] | None], None, None]:
    """``(image id, detail)`` from the engine's inspect and history, in ``image_ids`` order.

    ``workers`` threads each use their own client (a ``requests.Session`` is not thread-safe) and
    read a batch of images at a time; the clients are closed at the end. After cancellation the
    remaining batches are not read.
    """
    from concurrent.futures import ThreadPoolExecutor  # (with logging) only where the engine is asked

    readers = ReaderPerThread(engine)
    stop = threading.Event()

    def batch(ids: list[str]) -> list[dict[str, Any] | None]:
        if stop.is_set() or (cancelled is not None and cancelled()):
            stop.set()
            raise _Cancelled
        try:
            with engine.translate_errors():
                return _image_details(readers.get(), ids, local)
        except BaseException:
            stop.set()
            raise

    if not image_ids:
        return
    workers = max(1, min(workers, len(image_ids)))
    size = max(1, min(READ_BATCH, -(-len(image_ids) // workers)))  # small stores: every thread reads
    batches = [image_ids[i : i + size] for i in range(0, len(image_ids), size)]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read-layers")
    try:
        futures = [pool.submit(batch, ids) for ids in batches]
        for ids, future in zip(batches, futures, strict=True):
            try:
                details = future.result()
            except _Cancelled:
                pool.shutdown(wait=True, cancel_futures=True)
                for other in futures:  # stopped by another thread's error: raise that error
                    if other.done() and not other.cancelled():
                        error = other.exception()
                        if error is not None and not isinstance(error, _Cancelled):
                            raise error from None
                return
            yield from zip(ids, details, strict=True)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        readers.close()


class _Cancelled(Exception):
    """A layer read was cancelled before this image."""


def _with_layers(
    image: Image,
    detail: Mapping[str, Any],
    classic: bool = True,
    steps_made: dict[tuple[str, int], HistoryStep] | None = None,
) -> Image:
    """The image with its layers; on the classic store its ``Size`` (the sum of its layers) lets
    the history's gaps be told apart from 0-byte layers. ``steps_made``: the history steps made
    so far, by (created by, size), shared (they are frozen; images share their base's steps)."""
    layers = detail_layers(detail, image.size if classic else None, steps_made)
    return _with_built(image, detail, layers, detail_created_ns(detail))


def detail_layers(
    detail: Mapping[str, Any],
    total: int | None,
    steps_made: dict[tuple[str, int], HistoryStep] | None = None,
) -> tuple[Layer, ...]:
    """The layers an image's detail gives; ``total``: the image's ``Size`` on the classic store
    (see :func:`_with_layers`)."""
    if steps_made is None:
        steps = [HistoryStep(created_by=c, size=s) for c, s in detail["history"]]
    else:
        steps = []
        for c, s in detail["history"]:
            step = steps_made.get((c, s))
            if step is None:
                step = steps_made[(c, s)] = HistoryStep(created_by=c, size=s)
            steps.append(step)
    return build_layers(detail["diff_ids"], steps, total)


def detail_created_ns(detail: Mapping[str, Any]) -> int | None:
    """The precise created time an image's detail gives (unix nanoseconds), if it gives one."""
    return parse_created_ns(detail["created"]) if detail.get("created") else None


def _with_built(
    image: Image, detail: Mapping[str, Any], layers: tuple[Layer, ...], created_ns: int | None
) -> Image:
    """The image with ``layers`` and ``created_ns`` (if any) made from ``detail``."""
    created, image_created_ns = image.created, image.created_ns
    if created_ns is not None:
        created, image_created_ns = created_ns / 1_000_000_000, created_ns
    # labels: the list's (what the engine says now), never a cached copy
    return _replaced(
        image,
        layers=layers,
        created=created,
        created_ns=image_created_ns,
        has_config=bool(detail.get("has_config", True)),
    )


_IMAGE_FIELDS = frozenset(f.name for f in fields(Image))
_PLAIN_IMAGE = not hasattr(Image, "__post_init__") and not hasattr(Image, "__slots__")
_BLANK_FIELDS = dict(vars(Image(id=""))) if _PLAIN_IMAGE else {}


def _replaced(image: Image, **changes: Any) -> Image:
    """``dataclasses.replace(image, **changes)``, the same value, made by copying the instance's
    fields: the frozen ``__init__`` sets its twenty-odd fields one ``object.__setattr__`` at a time,
    which was a good part of filling in a thousand images' layers."""
    if not _PLAIN_IMAGE or type(image) is not Image or not changes.keys() <= _IMAGE_FIELDS:
        return replace(image, **changes)
    return _image_of({**vars(image), **changes})


def _image_of(fields_of: dict[str, Any]) -> Image:
    """An image whose instance dict is ``fields_of`` (every field), set whole: filling the new
    instance's own dict one update at a time took twice as long."""
    new = object.__new__(Image)
    object.__setattr__(new, "__dict__", fields_of)
    return new


def read_layers(
    engine: Engine,
    images: list[Image],
    *,
    cache: LayerCache | None = None,
    engine_id: str = "",
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
    image_store: str = "classic",
    workers: int = READ_WORKERS,
    comments: dict[str, str] | None = None,
    local: LocalInspect | None = None,
    local_detail: LocalDetail | None = None,
    child_reads: bool = False,
) -> list[Image]:
    """Fill in layers (and precise created times) for ``images``; images that vanished are dropped.

    Cached images cost no engine call; the others are read by ``workers`` threads at once.
    ``progress(done, total)`` is called once per image, in order. After cancellation the images
    not read yet are returned unchanged (without layers). ``comments`` gets the inspect
    ``Comment`` of each image whose detail holds it (cache entries written before it was kept do
    not). ``local`` answers inspects without the engine where it can (on the containerd store, its
    blobs read from disk), ``local_detail`` inspect and history (on the classic store, its image
    configs and layer records read from disk). ``child_reads``: a large read goes to a child
    process where that pays (:mod:`tui.engine.layer_child`; the app's UI thread keeps the GIL).
    """
    details = _cached_details(cache, engine_id, images)
    missing = [image.id for image in images if image.id not in details]

    def read_here(image_ids: list[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
        return fetch_details(engine, image_ids, workers, cancelled, local, local_detail)

    fetched: Generator[tuple[str, dict[str, Any] | None], None, None]
    built: dict[str, Built] | None = None
    if child_reads and worth_a_child(engine.host, image_store, len(missing)):
        sizes = {image.id: image.size for image in images if image.id not in details}
        built = {}
        path = None if cache is None else cache.path
        fetched = child_details(engine.host, engine_id, missing, sizes, path, built, cancelled, read_here)
    else:
        fetched = fetch_details(engine, missing, workers, cancelled, local, local_detail)
    out: list[Image] = []
    try:
        classic = image_store == "classic"
        _merge(images, details, fetched, built, out, cache, engine_id, progress, cancelled, classic)
        if comments is not None:
            for image in out:
                detail = details.get(image.id)
                if detail is not None and isinstance(detail.get("comment"), str):
                    comments[image.id] = detail["comment"]
    finally:
        fetched.close()
    return out


def _cached_details(
    cache: LayerCache | None, engine_id: str, images: Iterable[Image]
) -> dict[str, dict[str, Any]]:
    """The images' cache entries that :func:`read_layers` can take instead of reading the image."""
    found: dict[str, dict[str, Any]] = {}
    if cache is not None:
        for image in images:
            entry = cache.get(engine_id, image.id, created=image.created)
            if entry is not None and entry.get("config_read") == 3:  # older: read again
                found[image.id] = entry
    return found


def layers_from_cache(cache: LayerCache | None, listed: Snapshot) -> bool:
    """True when the classic store's layer stage after the listing ``listed`` is CPU work only:
    every image's layers are in the cache (no inspect, no history, no file of the store read)."""
    if cache is None or listed.facts.image_store != "classic":
        return False
    found = _cached_details(cache, listed.facts.engine_id, listed.images.values())
    return len(found) == len(listed.images)


def _merge(
    images: list[Image],
    details: dict[str, dict[str, Any]],
    fetched: Iterator[tuple[str, dict[str, Any] | None]],
    built: dict[str, Built] | None,
    out: list[Image],
    cache: LayerCache | None,
    engine_id: str,
    progress: ProgressFn | None,
    cancelled: CancelFn | None,
    classic: bool,
) -> None:
    total = len(images)
    unsaved: list[tuple[str, dict[str, Any]]] = []  # new cache entries, appended 64 at a time
    steps_made: dict[tuple[str, int], HistoryStep] = {}
    try:
        for done, image in enumerate(images, 1):
            detail = details.get(image.id)
            made: Built | None = None  # the child's layers for it (it read, built and saved it)
            if detail is None:
                if cancelled is not None and cancelled():
                    out.extend(images[done - 1 :])
                    break
                got = next(fetched, None)
                if got is None or got[0] != image.id:  # cancelled while reading
                    out.extend(images[done - 1 :])
                    break
                if got[1] is None:
                    continue  # removed since the list was read
                detail = details[image.id] = got[1]
                made = built.pop(image.id, None) if built is not None else None
                if made is not None:
                    if made.cached and cache is not None:
                        cache.remember([detail])  # the child appended it to the file
                elif cache is not None:
                    unsaved.append((image.id, detail))
                    if len(unsaved) >= 64:
                        cache.put_many(engine_id, unsaved)
                        unsaved = []
            if made is None:
                out.append(_with_layers(image, detail, classic, steps_made))
            else:
                out.append(_with_built(image, detail, made.layers, made.created_ns))
            if progress is not None:
                progress(done, total)
    finally:
        if cache is not None and unsaved:
            cache.put_many(engine_id, unsaved)


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


def system_df(api: Any, attempts: int = 20) -> dict[str, Any]:
    """``GET /system/df``. The containerd store removes snapshots asynchronously, and its df
    walks them: right after a removal it can answer 404 "snapshot sha256:… does not exist"
    (seen on 28.5 after removing an unpacked platform). That answer is asked again."""
    import docker.errors

    for _ in range(attempts - 1):
        try:
            return dict(api.df())
        except docker.errors.NotFound as exc:
            if "snapshot" not in str(exc):
                raise
            time.sleep(0.2)
    return dict(api.df())


def read_disk_usage(engine: Engine) -> DiskUsage:
    """``GET /system/df`` (slow on big hosts: it walks container and volume directories)."""
    return _disk_usage(_get(engine, DISK_USAGE[0], system_df, long=True))


def _disk_usage(data: dict[str, Any]) -> DiskUsage:
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
    sizes = {
        c["Id"]: (int(c.get("SizeRw") or 0), int(c.get("SizeRootFs") or 0))
        for c in data.get("Containers") or []
    }
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
    df_early: bool = False,
    child_reads: bool = False,
) -> Iterator[Snapshot]:
    """The store in stages: the lists (no layers yet), then with layers, then with df data.

    Each stage is yielded as soon as it is read (the app shows the list before the layers);
    ``layers=False`` or ``disk_usage=False`` end it early. Stops after a cancelled layer read.
    ``df_early`` (with ``disk_usage``): ``/system/df`` is asked with the lists, and answers while
    the layers are read (a one-shot read; the app asks it last, after showing the layers).
    ``child_reads``: see :func:`read_layers`.
    """
    taken = time.time()
    early_df: _Pending[DiskUsage] | None = None
    pool = _Threads("read-lists")
    try:
        facts, images, containers, early_df, rows, early = _read_lists(
            engine, pool, cache, disk_usage and df_early, early=layers
        )
        yield Snapshot(images, containers, facts, None, taken_at=taken)
        if not layers:
            return
        yield from _layer_stages(
            engine,
            taken,
            facts,
            images,
            containers,
            rows,
            early_df,
            early,
            disk_usage,
            cache,
            progress,
            cancelled,
            child_reads,
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Pending(Protocol[T_co]):
    """What a read started on another thread gives: its answer (or its error) when it is done."""

    def result(self) -> T_co: ...

    def cancel(self) -> bool: ...


class _Threads:
    """Each read submitted on a thread of its own, started at once: what a ``ThreadPoolExecutor``
    with a worker per read does (a snapshot read submits at most three), without importing
    ``concurrent.futures``, which imports ``logging``: ~7 ms of a warm headless ``df``, whose
    ``/system/df`` is read on such a thread. :meth:`shutdown` waits for every thread."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._started: list[_OnThread[Any]] = []

    def submit(self, fn: Callable[..., T], *args: Any) -> _OnThread[T]:
        started = _OnThread(partial(fn, *args), f"{self._name}-{len(self._started)}")
        self._started.append(started)
        return started

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:
        """Like ``ThreadPoolExecutor.shutdown``; nothing waits to start, so nothing is cancelled."""
        if wait:
            for started in self._started:
                started.wait()


class _OnThread(Generic[T]):
    """``fn()`` running on its own thread, started here."""

    def __init__(self, fn: Callable[[], T], name: str) -> None:
        self._fn = fn
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - raised again by result()
            self._error = exc
        finally:
            del self  # the error's traceback keeps this frame: no cycle back through it

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> T:
        """Its answer, once it is done; raises its error."""
        self._thread.join()
        if self._error is None:
            return cast(T, self._value)
        try:
            raise self._error
        finally:
            del self  # as concurrent.futures does: the raised error keeps this frame

    def cancel(self) -> bool:
        return False  # started at once: like a running future's, its read goes on


def _in_own_thread(engine: Engine, read: Callable[[Engine], T]) -> T:
    """``read(engine)`` on a pool thread: its clients are this thread's, closed when it is done."""
    try:
        return read(engine)
    finally:
        engine.close()


#: What a containerd store's details need besides the lists, read while the engine lists the
#: images (see :func:`_containerd_early`).
_Early = tuple["EarlyReads", list[Any]]  # noqa: UP037 - EarlyReads is imported only when type checking


def _containerd_early(engine: Engine, facts: EngineFacts) -> _Early:
    """The registry events, the metadata database's records, the content its images reach and the
    containers' sizes: reads that need no image list, made while the engine answers it (on a unix
    socket). On Docker 28.5 with 1,000 images the details took 0.31 s after the list had come
    (4.1 s), 0.05 s with these read meanwhile."""
    from tui.engine.containerd_store import early_reads

    return early_reads(engine, facts), container_size_rows(engine)


def _read_lists(
    engine: Engine,
    pool: _Threads | ThreadPoolExecutor,
    cache: LayerCache | None,
    df: bool,
    early: bool = False,
) -> tuple[
    EngineFacts,
    list[Image],
    list[Container],
    _Pending[DiskUsage] | None,
    ListRows | None,
    _Pending[_Early] | None,
]:
    """Facts, images and containers, read at once (three requests the engine answers in parallel),
    while this thread reads the layer cache file; ``df``: ``/system/df`` starts too. On a unix
    socket the requests go out at once without the SDK (:meth:`Engine.start_gets`), each on its own
    connection; elsewhere each on a pool thread's SDK client, but over ssh:// (a new ssh connection
    per client) one after the other on this thread. Last, the image list's rows by id when they
    were asked with their manifests (see :func:`list_image_rows`), and ``early`` (on a unix
    socket, the containerd store): :func:`_containerd_early` started once the facts have come."""
    engine.server_version()  # /version first: every client needs the negotiated API version
    df_f: _Pending[DiskUsage] | None = None
    early_f: _Pending[_Early] | None = None
    gets = engine.start_gets(store_lists(engine.api_version()))
    if gets is not None:  # a unix socket: the three GETs are on their way, each on its own connection
        try:
            if df:
                df_gets = engine.start_gets(DISK_USAGE, long=True)
                df_f = pool.submit(_in_own_thread, engine, lambda e: _disk_usage_of(e, df_gets))
            if cache is not None:
                cache.load()  # while the engine answers
            facts = _facts(engine, _answer(engine, gets, 0, _sdk_info, False))
            if early and facts.image_store == "containerd":
                early_f = pool.submit(_in_own_thread, engine, partial(_containerd_early, facts=facts))
            rows = _answer(engine, gets, 1, _sdk_image_rows, False)
            listed = list(rows), images_url(engine.api_version())[1]
            containers = _containers(_answer(engine, gets, 2, _sdk_containers, False))
        finally:
            gets.close()
    elif engine.host.startswith("ssh://"):
        facts, listed, containers = read_facts(engine), list_image_rows(engine), list_containers(engine)
    else:
        images_f = pool.submit(_in_own_thread, engine, list_image_rows)
        containers_f = pool.submit(_in_own_thread, engine, list_containers)
        df_f = pool.submit(_in_own_thread, engine, read_disk_usage) if df else None
        try:
            facts = read_facts(engine)
            if cache is not None:
                cache.load()
            listed, containers = images_f.result(), containers_f.result()
        except BaseException:
            for future in (images_f, containers_f, df_f):
                if future is not None:
                    future.cancel()
            raise
    rows, with_manifests = listed
    images = images_from_rows(rows)
    if facts.image_store == "podman":
        images = podman.normalise_images(images)
    by_id = {row["Id"]: row for row in rows} if with_manifests else None
    return facts, images, containers, df_f, by_id, early_f


def _disk_usage_of(engine: Engine, gets: UnixGets | None) -> DiskUsage:
    try:
        return _disk_usage(_answer(engine, gets, 0, system_df, True))
    finally:
        if gets is not None:
            gets.close()


class ClassicDetail:
    """The classic store's own files as a :data:`LocalDetail` (``ClassicStore.detail``), looked
    for on the first image the layer cache does not hold: a warm read needs none, and so neither
    imports the reader nor looks for the store. Where it cannot be read, every image is asked of
    the engine (``None``), as without it. ``sizes``: the image list's ``Size`` by image id."""

    def __init__(self, facts: EngineFacts, sizes: Mapping[str, int]) -> None:
        self._facts = facts
        self._sizes = sizes
        self._detail: LocalDetail | None = None
        self._located = False

    def __call__(self, image_id: str) -> dict[str, Any] | None:
        if not self._located:
            from tui.engine.classic_disk import ClassicStore

            classic = ClassicStore.locate(self._facts)
            if classic is not None:
                self._detail = partial(classic.detail, self._sizes)
            self._located = True
        return None if self._detail is None else self._detail(image_id)


def _layer_stages(
    engine: Engine,
    taken: float,
    facts: EngineFacts,
    images: list[Image],
    containers: list[Container],
    rows: ListRows | None,
    early_df: _Pending[DiskUsage] | None,
    early: _Pending[_Early] | None,
    disk_usage: bool,
    cache: LayerCache | None,
    progress: ProgressFn | None,
    cancelled: CancelFn | None,
    child_reads: bool,
) -> Iterator[Snapshot]:
    comments: dict[str, str] | None = None
    local: LocalInspect | None = None
    local_detail: LocalDetail | None = None
    store: ContentStore | None = None
    if facts.image_store == "classic" and images:
        local_detail = ClassicDetail(facts, {image.id: image.size for image in images})
    if facts.image_store == "containerd":
        from tui.engine.containerd_store import ContentStore

        comments = {}
        store = ContentStore.locate(facts, images[0].id) if images else None
        if store is not None and rows is not None:
            local = partial(store.local_inspect, rows)
    images = read_layers(
        engine,
        images,
        cache=cache,
        engine_id=facts.engine_id,
        progress=progress,
        cancelled=cancelled,
        image_store=facts.image_store,
        comments=comments,
        local=local,
        local_detail=local_detail,
        child_reads=child_reads,
    )
    if cancelled is not None and cancelled():
        return
    containers = resolve_orphans(engine, images, containers, cache=cache, engine_id=facts.engine_id)
    if facts.image_store == "containerd":
        from tui.engine.containerd_store import with_containerd_details

        early_reads, size_rows = early.result() if early is not None else (None, None)
        images = with_containerd_details(
            engine, facts, images, rows or {}, comments or {}, store, early_reads
        )
        if size_rows is None:
            containers = with_container_sizes(engine, containers)
        else:
            containers = containers_sized(containers, size_rows)
    snapshot = Snapshot(images, containers, facts, None, taken_at=taken)

    def disk() -> DiskUsage:
        return early_df.result() if early_df is not None else read_disk_usage(engine)

    if snapshot.sizes_open and facts.image_store in ("classic", "containerd"):
        # The history (and on containerd the unpacked totals) leave a shared layer's size open:
        # /system/df's SharedSize settles it.
        yield Snapshot(images, containers, facts, disk(), taken_at=taken)
        return
    yield snapshot
    if disk_usage:
        yield Snapshot(images, containers, facts, disk(), taken_at=taken)


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
    *_, last = read_stages(
        engine,
        layers=layers,
        disk_usage=disk_usage,
        cache=cache,
        progress=progress,
        cancelled=cancelled,
        df_early=True,
    )
    return last
