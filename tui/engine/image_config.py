"""Whether an image's config has a ``config`` object, where inspect cannot tell.

The classic store's prune checks ``label=`` / ``label!=`` filters only when the image config has a
``config`` object (moby ``daemon/images/image_prune.go``: ``if img.Config != nil``): an image
without one is pruned under any label filter. Docker 20.10 shows that object as ``"Config": null``
on inspect. Docker 28 (API 1.51, and every API version it serves) shows an object with empty fields
for it, the same as for a config written as ``"config": {}``, which the engine does keep. For such
an empty-looking ``Config`` the image config itself is read from the image's export
(``GET /images/{id}/get``, read to its end: it costs about one read of the image's layers); the
answer is cached with the rest of the image's inspect data (image IDs are content addresses).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Generator, Iterator, Mapping
from typing import Any

from tui.engine.sdk_private import image_archive

_CHUNK = 1 << 16
_SMALL = 4 << 20  # bytes: a manifest or config blob is far smaller


def looks_empty(config: object) -> bool:
    """True when inspect's ``Config`` carries no value at all (every field null, "" or empty)."""
    return isinstance(config, Mapping) and not any(config.values())


def has_config(api: Any, image_id: str, inspect: Mapping[str, Any]) -> bool:
    """Whether the image config of ``image_id`` has a ``config`` object (see the module doc)."""
    config = inspect.get("Config")
    if config is None:
        return False
    if not looks_empty(config):
        return True
    document = read_image_config(api, image_id)
    if document is None:  # the export did not carry the config under the image id: as inspect says
        return True
    return document.get("config") is not None


def read_image_config(api: Any, image_id: str) -> dict[str, Any] | None:
    """The image config JSON of ``image_id``, read from the image's export; None if the export
    does not carry it. Classic store: the config's sha256 is the image id. Containerd store: the
    id is the manifest's digest, and the manifest names the config blob."""
    hexid = image_id.removeprefix("sha256:")
    wanted = {f"blobs/sha256/{hexid}", f"{hexid}.json"}  # OCI layout (Docker 25+), legacy layout
    chunks = _export_chunks(api, image_id)
    small: dict[str, bytes] = {}  # JSON-sized blobs of the OCI layout (the tar's order is free)
    document: object = None
    try:
        with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|") as tar:
            for member in tar:
                name = member.name.lstrip("./")
                if (
                    member.isfile()
                    and (name in wanted or name.startswith("blobs/"))
                    and (member.size <= _SMALL)
                ):
                    handle = tar.extractfile(member)
                    head = handle.read(1) if handle is not None else b""
                    if handle is not None and head == b"{":  # JSON, not a layer
                        small[name] = head + handle.read()
        # Read to the end even once the config is known: while its export runs, the engine holds
        # a reference on the image's layers, and a removal in that time would not free them (seen
        # on 20.10: a prune right after an export stopped early kept a 30,000-byte layer).
        for _ in chunks:
            pass
    finally:
        chunks.close()
    for name in sorted(wanted):
        if name in small:
            document = _json(small[name])
            break
    manifest = isinstance(document, dict) and "rootfs" not in document
    if manifest and isinstance(document, dict) and isinstance(document.get("config"), Mapping):
        config_digest = str(document["config"].get("digest") or "")
        document = _json(small.get("blobs/" + config_digest.replace(":", "/", 1), b""))
    return document if isinstance(document, dict) and "rootfs" in document else None


def _json(data: bytes) -> object:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _export_chunks(api: Any, image_id: str) -> Generator[bytes, None, None]:
    """The export tar of ``image_id`` in chunks, from a :class:`~tui.engine.client.UnixReader`
    or an SDK client; closing the generator closes the response."""
    if hasattr(api, "image_chunks"):
        yield from api.image_chunks(image_id, _CHUNK)
        return
    with image_archive(api, [image_id], _CHUNK) as chunks:
        yield from chunks


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what ``tarfile`` stream mode reads)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
