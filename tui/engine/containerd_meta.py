"""containerd's image records, read read-only from its metadata database on disk.

On the containerd image store, image inspect answers ``Metadata.LastTagTime`` by listing every
containerd image record (name) with ``target.digest==<id>``: a scan of all records per inspect
(~22 ms an image at 1,000 images on 28.5). The records themselves are small and live in
containerd's metadata database, ``<containerd root>/io.containerd.metadata.v1.bolt/meta.db``
(``DockerRootDir/containerd/daemon`` for the containerd dockerd starts itself, ``/var/lib/containerd``
for a system containerd). When docker-sweep runs next to the engine and may read that file, one
read gives every record, and :func:`by_target` gives what inspect would say for every image.

The file is a bbolt database (go.etcd.io/bbolt, format version 2; containerd schema ``v1``, see
containerd ``core/metadata/buckets.go`` and ``images.go``)::

    v1/<namespace>/images/<name>/createdat, updatedat   Go time.Time.MarshalBinary
                                /target/digest, mediatype, size (signed varint)
                                /labels/<key>: <value>

Read-only and lock-free: containerd holds the file's flock for as long as it runs (flock is
advisory); this module opens the file for reading, never locks it and never writes to it.

Why an unlocked read is consistent: bbolt never overwrites a page that the last committed
transaction can reach. A commit writes its changed pages to free pages, then the meta page (one of
two, alternating, each with a checksum). The pages a commit ``T+1`` replaces are only freed for
reuse by a later transaction ``T+2``, which starts after ``T+1`` committed. So the pages reachable
from the meta page of txid ``T`` stay as they were at least until a meta page newer than ``T`` is on
disk. The reader takes the valid meta page with the higher txid, walks the images, then reads the
meta pages again: if the newest valid txid is still ``T``, nothing it read can have been reused;
else it reads again (a few times) and then gives up. A half-written meta page fails its checksum
and the other one is used, as bbolt itself does. Any error (missing file, no permission, bad
magic, checksum or page, an unexpected record) gives None: the caller then asks the engine.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple, TypeVar

META_DB = Path("io.containerd.metadata.v1.bolt", "meta.db")
NAMESPACE = "moby"  # dockerd's containerd namespace

_MAGIC, _VERSION = 0xED0CDAED, 2
_PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
# magic, version, page size, flags, root bucket (root, sequence), freelist, high-water pgid, txid;
# then the FNV-64a checksum of those bytes
_META = struct.Struct("<IIIIQQQQQ")
_BRANCH = struct.Struct("<IIQ")  # pos, key size, child pgid
_LEAF = struct.Struct("<IIII")  # flags, pos, key size, value size
_BRANCH_PAGE, _LEAF_PAGE = 0x01, 0x02
_BUCKET_FLAG = 0x01
_BUCKET_HEADER = 16  # root pgid, sequence; an inline bucket (root 0) has its leaf page after it
_UNIX_FROM_GO_ZERO = 62_135_596_800  # seconds from Go's zero time (year 1) to 1970
_MAX_DEPTH = 64


class _Meta(NamedTuple):
    """What the reader needs of a bbolt meta page."""

    page_size: int
    root: int  # the root bucket's page
    high_water: int  # the first page id past the end of the data
    txid: int


class _Corrupt(Exception):
    """The file is not what this reader expects (or changed under it)."""


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One containerd image record: a name and the descriptor it points at."""

    name: str
    target: str  # the target descriptor's digest: the image id
    media_type: str
    size: int
    created_ns: int  # unix nanoseconds
    updated_ns: int  # unix nanoseconds (moby's LastTagTime is the newest of an image's records)
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TargetNames:
    """What image inspect says of one image id from its records."""

    names: frozenset[str]  # every record name, dangling (``moby-dangling@…``) and digest names too
    last_tag_ns: int  # ``Metadata.LastTagTime`` in unix nanoseconds


def read_images(
    containerd_root: Path, namespace: str = NAMESPACE, *, attempts: int = 3
) -> dict[str, ImageRecord] | None:
    """Every image record of ``namespace`` by name, read from ``containerd_root``'s metadata
    database; None when it cannot be read here or did not hold still for ``attempts`` reads."""
    read = read_images_at(containerd_root, namespace, attempts=attempts)
    return None if read is None else read[0]


def read_images_at(
    containerd_root: Path, namespace: str = NAMESPACE, *, attempts: int = 3
) -> tuple[dict[str, ImageRecord], int] | None:
    """:func:`read_images`, with the txid of the commit the records were read at (while
    :func:`committed_txid` still gives that txid, a new read would give the same records)."""

    def read(fd: int) -> tuple[dict[str, ImageRecord], int] | None:
        for _ in range(attempts):
            meta = _newest_meta(fd)
            records = _read_records(_Pages(fd, meta), meta, namespace.encode())
            if _newest_meta(fd).txid == meta.txid:  # the same commit: nothing read was reused
                return records, meta.txid
        return None

    return _on_database(containerd_root, read)


def committed_txid(containerd_root: Path) -> int | None:
    """The txid of the database's newest commit (every write transaction makes one); None when it
    cannot be read here."""
    return _on_database(containerd_root, lambda fd: _newest_meta(fd).txid)


_Read = TypeVar("_Read")


def _on_database(containerd_root: Path, read: Callable[[int], _Read | None]) -> _Read | None:
    """``read`` of the database's open file (read-only, never locked); None when it cannot be
    opened or read (a missing file, no permission, a damaged or unexpected page)."""
    try:
        fd = os.open(containerd_root / META_DB, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return read(fd)
    except (OSError, _Corrupt, struct.error, ValueError):
        return None
    finally:
        os.close(fd)


def by_target(records: Mapping[str, ImageRecord]) -> dict[str, TargetNames]:
    """Per image id, its names and its ``LastTagTime`` as moby's image inspect computes it: the
    newest ``UpdatedAt`` of the records with that target, starting from ``time.Unix(0, 0)``."""
    names: dict[str, set[str]] = {}
    newest: dict[str, int] = {}
    for record in records.values():
        names.setdefault(record.target, set()).add(record.name)
        newest[record.target] = max(newest.get(record.target, 0), record.updated_ns)
    return {t: TargetNames(frozenset(n), newest[t]) for t, n in names.items()}


# --- bbolt ------------------------------------------------------------------------------------


def _meta_at(fd: int, offset: int) -> _Meta | None:
    """The meta page at ``offset`` when it is valid."""
    data = os.pread(fd, _PAGE_HEADER.size + _META.size + 8, offset)
    if len(data) < _PAGE_HEADER.size + _META.size + 8:
        return None
    body = data[_PAGE_HEADER.size : _PAGE_HEADER.size + _META.size]
    magic, version, page_size, _, root, _, _, pgid, txid = _META.unpack(body)
    (checksum,) = struct.unpack_from("<Q", data, _PAGE_HEADER.size + _META.size)
    if magic != _MAGIC or version != _VERSION or checksum != _fnv64a(body) or page_size < 1024:
        return None
    return _Meta(page_size, root, pgid, txid)


def _newest_meta(fd: int) -> _Meta:
    """The valid meta page with the higher txid. The page size is in the first meta page; if that
    one is being rewritten, the second is found as bbolt finds it (at 1 KiB << i)."""
    first = _meta_at(fd, 0)
    if first is not None:
        second = _meta_at(fd, first.page_size)
    else:
        found = (_meta_at(fd, 1024 << i) for i in range(15))
        second = next((m for i, m in enumerate(found) if m and m.page_size == 1024 << i), None)
    valid = [m for m in (first, second) if m is not None]
    if not valid:
        raise _Corrupt("no valid meta page")
    return max(valid, key=lambda m: m.txid)


def _fnv64a(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


class _Pages:
    """The pages of one committed transaction, read with ``pread`` as they are needed; each at
    most once, as in a sound tree (so a damaged file cannot loop)."""

    def __init__(self, fd: int, meta: _Meta) -> None:
        self.fd, self.size, self.high_water = fd, meta.page_size, meta.high_water
        self.seen: set[int] = set()

    def read(self, pgid: int) -> bytes:
        if not 2 <= pgid < self.high_water or pgid in self.seen:
            raise _Corrupt(f"page {pgid} out of range or reached twice")
        self.seen.add(pgid)
        data = os.pread(self.fd, self.size, pgid * self.size)
        if len(data) < _PAGE_HEADER.size:
            raise _Corrupt(f"page {pgid} past the end of the file")
        page_id, _, _, overflow = _PAGE_HEADER.unpack_from(data)
        if page_id != pgid:
            raise _Corrupt(f"page {pgid} says it is page {page_id}")
        if overflow:
            data = os.pread(self.fd, (overflow + 1) * self.size, pgid * self.size)
            if len(data) < (overflow + 1) * self.size:
                raise _Corrupt(f"page {pgid} overflows past the end of the file")
        return data

    def items(self, bucket: bytes, depth: int = 0) -> Iterator[tuple[bytes, bytes, bool]]:
        """(key, value, is a bucket) of the bucket whose value (header, inline page) is ``bucket``."""
        (root,) = struct.unpack_from("<Q", bucket)
        if root == 0:
            yield from self._leaf(memoryview(bucket)[_BUCKET_HEADER:])
        else:
            yield from self._page(root, depth)

    def _page(self, pgid: int, depth: int) -> Iterator[tuple[bytes, bytes, bool]]:
        if depth > _MAX_DEPTH:
            raise _Corrupt("tree too deep")
        page = memoryview(self.read(pgid))
        _, flags, count, _ = _PAGE_HEADER.unpack_from(page)
        if flags == _LEAF_PAGE:
            yield from self._leaf(page)
        elif flags == _BRANCH_PAGE:
            for i in range(count):
                child = _BRANCH.unpack_from(page, _PAGE_HEADER.size + i * _BRANCH.size)[2]
                yield from self._page(child, depth + 1)
        else:
            raise _Corrupt(f"page {pgid} has flags {flags:#x}")

    @staticmethod
    def _leaf(page: memoryview) -> Iterator[tuple[bytes, bytes, bool]]:
        _, flags, count, _ = _PAGE_HEADER.unpack_from(page)
        if flags != _LEAF_PAGE:
            raise _Corrupt(f"leaf page has flags {flags:#x}")
        for i in range(count):
            at = _PAGE_HEADER.size + i * _LEAF.size
            element_flags, pos, key_size, value_size = _LEAF.unpack_from(page, at)
            start = at + pos
            if start + key_size + value_size > len(page):
                raise _Corrupt("leaf element past the end of its page")
            key = bytes(page[start : start + key_size])
            value = bytes(page[start + key_size : start + key_size + value_size])
            yield key, value, bool(element_flags & _BUCKET_FLAG)


# --- containerd's schema ------------------------------------------------------------------------


def _read_records(pages: _Pages, meta: _Meta, namespace: bytes) -> dict[str, ImageRecord]:
    bucket = struct.pack("<QQ", meta.root, 0)  # the root bucket's value: its page, no sequence
    for key in (b"v1", namespace, b"images"):
        found = [v for k, v, is_bucket in pages.items(bucket) if k == key and is_bucket]
        if not found:
            return {}  # no records (yet) in this namespace
        bucket = found[0]
    records = {}
    for name, value, is_bucket in pages.items(bucket):
        if not is_bucket:
            raise _Corrupt(f"image {name!r} is not a bucket")
        record = _record(pages, name.decode(), value)
        records[record.name] = record
    return records


def _record(pages: _Pages, name: str, bucket: bytes) -> ImageRecord:
    """One image record, read as containerd's ``readImage`` reads it."""
    fields: dict[bytes, bytes] = {}
    buckets: dict[bytes, dict[bytes, bytes]] = {}
    for key, value, is_bucket in pages.items(bucket):
        if not is_bucket:
            fields[key] = value
        elif key in (b"target", b"labels"):
            buckets[key] = {k: v for k, v, sub in pages.items(value) if not sub}
    if b"target" not in buckets:
        raise _Corrupt(f"image {name!r} has no target")  # containerd fails the listing too
    target = buckets[b"target"]
    labels = {k.decode(): v.decode() for k, v in buckets.get(b"labels", {}).items()}
    return ImageRecord(
        name=name,
        target=target.get(b"digest", b"").decode(),
        media_type=target.get(b"mediatype", b"").decode(),
        size=_varint(target[b"size"]) if b"size" in target else 0,
        created_ns=_go_time_ns(fields.get(b"createdat")),
        updated_ns=_go_time_ns(fields.get(b"updatedat")),
        labels=MappingProxyType(labels),
    )


def _go_time_ns(data: bytes | None) -> int:
    """Unix nanoseconds of a Go ``time.Time.MarshalBinary`` (version 1: 15 bytes, 2: 16 bytes:
    version, seconds since year 1, nanoseconds, zone offset); a missing value is Go's zero time."""
    if data is None:
        return -_UNIX_FROM_GO_ZERO * 1_000_000_000
    if not (data[:1] == b"\x01" and len(data) == 15 or data[:1] == b"\x02" and len(data) == 16):
        raise _Corrupt(f"not a marshalled time: {data.hex()}")
    seconds = int.from_bytes(data[1:9], "big", signed=True)
    nanos = int.from_bytes(data[9:13], "big", signed=True)
    return (seconds - _UNIX_FROM_GO_ZERO) * 1_000_000_000 + nanos


def _varint(data: bytes) -> int:
    """Go ``binary.Varint`` (zig-zag)."""
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1)
    raise _Corrupt(f"not a varint: {data.hex()}")
