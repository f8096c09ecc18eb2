"""Reading an image's layers and history from the classic image store's files, next to the engine.

On a cold read docker-sweep asks the engine ``GET /images/{id}/json`` and
``GET /images/{id}/history`` for every image. On the classic (graphdriver) store both answers are
made from two kinds of files under ``<DockerRootDir>/image/<Driver>/`` (moby ``image/fs.go``,
``layer/filestore.go``):

- ``imagedb/content/sha256/<hex>``: the image config JSON; its sha256 is the image id.
- ``layerdb/sha256/<chain hex>/diff`` and ``.../size``: a stored layer's diff id and diff size
  (what history reports as a non-empty step's ``Size``, moby ``daemon/images/image_history.go``).

When docker-sweep runs next to the engine and may read them, :meth:`ClassicStore.detail` builds
from them what the engine's two answers give the snapshot reader (``snapshot._detail``): the diff
ids, each history step's ``created_by`` and size, the created time, the labels, whether the config
has a ``config`` object, and inspect's ``Comment``. Every file is checked (the config against the
image id, each layer's diff id against the config's, the layer sizes' sum against the image list's
``Size``), and the config is read as Go's decoder reads it or not at all: anything this module
cannot reproduce exactly (a key spelled in another case, a key twice, a type Go would not accept,
an engine error it would answer) leaves that image to the engine, as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tui.core.layers import chain_ids
from tui.core.model import EngineFacts

#: The largest image config read from disk (bytes); a larger one goes to the engine.
CONFIG_LIMIT = 4 << 20

_ID = re.compile(r"sha256:([0-9a-f]{64})")
_DRIVER = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_SIZE = re.compile(rb"[0-9]{1,18}")  # the ``size`` file: strconv.FormatInt, never negative
_CREATED = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_SURROGATE = re.compile("[\ud800-\udfff]")  # Go decodes a lone surrogate escape as U+FFFD
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Object(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs in order (duplicate keys are kept)."""

    __slots__ = ()


def _constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: not JSON to Go


_DECODER = json.JSONDecoder(object_pairs_hook=_Object, parse_constant=_constant)


class _NotExact(Exception):
    """The file says something this module does not read exactly as the engine does."""


def _json(data: bytes) -> Any:
    try:
        return _DECODER.decode(data.decode("utf-8"))  # Go would read invalid UTF-8 as U+FFFD
    except (ValueError, RecursionError) as exc:
        raise _NotExact from exc


def _is_object(value: Any) -> bool:
    return isinstance(value, _Object)


def _fields(value: Any, names: Mapping[str, str]) -> dict[str, Any]:
    """The values of ``names`` (lower case → field name) in the JSON object ``value`` as Go's
    decoder sets its struct's fields (a key matches a field's name in any case): each name present
    once, spelled exactly, else :class:`_NotExact`. Absent names are None."""
    if not isinstance(value, _Object):
        raise _NotExact
    out: dict[str, Any] = dict.fromkeys(names.values())
    seen = set()
    for key, item in value:
        if not key.isascii():
            raise _NotExact  # Go's case folding maps some non-ASCII letters onto ASCII ones
        name = names.get(key.lower())
        if name is None:
            continue
        if key != name or name in seen:
            raise _NotExact
        seen.add(name)
        out[name] = item
    return out


def _names(*names: str) -> Mapping[str, str]:
    return {name.lower(): name for name in names}


_TOP = _names("created", "comment", "config", "rootfs", "history", "os")
_ROOTFS = _names("diff_ids")
_STEP = _names("created_by", "empty_layer", "comment")
_CONFIG = _names("Labels")


def _text(value: Any) -> str:
    """A JSON string (null: ""), as Go decodes it into a string field."""
    if value is None:
        return ""
    if not isinstance(value, str) or (not value.isascii() and _SURROGATE.search(value)):
        raise _NotExact
    return value


def _created(value: Any) -> str:
    """The config's ``created``, written as inspect's ``Created`` (Go's RFC 3339 with nanoseconds,
    in UTC). A missing one is left to the engine (20.10 and 28.5 answer it differently)."""
    match = _CREATED.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _NotExact
    from tui.engine.snapshot import parse_created_ns

    try:
        ns = parse_created_ns(value)
        if match[2] == "Z" and not (match[1] or "").endswith("0"):
            return str(match[0])  # already as Go writes it
        moment = _EPOCH + timedelta(seconds=ns // 1_000_000_000)
    except (ValueError, OverflowError) as exc:
        raise _NotExact from exc
    fraction = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        f"{'.' + fraction if fraction else ''}Z"
    )


def _read(path: str, limit: int) -> bytes:
    """The file's bytes (at most ``limit``), by plain system calls (a thousand configs and twice
    as many layer records are read on a cold read)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise _NotExact from exc
    try:
        data = os.read(fd, limit + 1)
        while 0 < len(data) <= limit:
            more = os.read(fd, limit + 1 - len(data))
            if not more:
                break
            data += more
    except OSError as exc:
        raise _NotExact from exc
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _NotExact
    return data


class ClassicStore:
    """Read-only access to one classic image store directory (``<root>/image/<driver>``).

    Thread-safe: layer facts read once are kept by chain id (a chain's ``diff`` and ``size``
    never change while it exists)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._configs = os.path.join(root, "imagedb", "content", "sha256")
        self._chains = os.path.join(root, "layerdb", "sha256")
        self._layers: dict[str, int | None] = {}

    @classmethod
    def locate(cls, facts: EngineFacts) -> ClassicStore | None:
        """The classic store of the engine ``facts`` describes, if this process runs next to it
        (a unix socket) and may read its image configs and layer records; else None."""
        if (
            not facts.host.startswith("unix://")
            or facts.image_store != "classic"
            or facts.os != "linux"
            or not facts.root_dir
            or not _DRIVER.fullmatch(facts.storage_driver)
        ):
            return None
        root = Path(facts.root_dir, "image", facts.storage_driver)
        for sub in ("imagedb/content/sha256", "layerdb/sha256"):
            if not os.access(root / sub, os.R_OK | os.X_OK):
                return None
        return cls(root)

    def detail(self, sizes: Mapping[str, int], image_id: str) -> dict[str, Any] | None:
        """What the engine's inspect and history of ``image_id`` give the snapshot reader
        (``snapshot._detail``'s shape), read here; None when the engine must be asked.
        ``sizes``: the image list's ``Size`` by image id (the sum of the image's layer sizes)."""
        try:
            return self._detail(sizes, image_id)
        except _NotExact:
            return None

    def _detail(self, sizes: Mapping[str, int], image_id: str) -> dict[str, Any]:
        match = _ID.fullmatch(image_id)
        listed = sizes.get(image_id)
        if match is None or listed is None:
            raise _NotExact
        data = _read(os.path.join(self._configs, match[1]), CONFIG_LIMIT)
        if hashlib.sha256(data).hexdigest() != match[1]:
            raise _NotExact
        top = _fields(_json(data), _TOP)
        if _text(top["os"]) not in ("", "linux"):
            raise _NotExact  # 20.10 answers another OS's image with an error
        rootfs = _fields(top["rootfs"], _ROOTFS)
        diff_ids = [] if rootfs["diff_ids"] is None else rootfs["diff_ids"]
        if (
            _is_object(diff_ids)
            or not isinstance(diff_ids, list)
            or not all(isinstance(d, str) and _ID.fullmatch(d) for d in diff_ids)
        ):
            raise _NotExact
        steps = [] if top["history"] is None else top["history"]
        if _is_object(steps) or not isinstance(steps, list):
            raise _NotExact
        history: list[tuple[str, bool, str]] = []
        for step in steps:
            found = _fields(step, _STEP)
            empty = found["empty_layer"]
            if empty is not None and not isinstance(empty, bool):
                raise _NotExact
            history.append((_text(found["created_by"]), bool(empty), _text(found["comment"])))
        layer_sizes = [
            self._layer_size(chain, diff) for chain, diff in zip(chain_ids(diff_ids), diff_ids, strict=True)
        ]
        if sum(layer_sizes) != listed:
            raise _NotExact  # not the store the engine lists (or it changed meanwhile)
        if sum(not empty for _, empty, _ in history) > len(diff_ids):
            raise _NotExact  # the engine answers "too many non-empty layers in History section"
        out_history: list[list[Any]] = []
        position = 0
        for created_by, empty, _ in history:
            size = 0
            if not empty:
                size = layer_sizes[position]
                position += 1
            out_history.append([created_by, size])
        config = top["config"]
        labels: dict[str, str] = {}
        if config is not None:
            found = _fields(config, _CONFIG)
            pairs = _Object() if found["Labels"] is None else found["Labels"]
            if not _is_object(pairs):
                raise _NotExact
            for key, value in pairs:
                if value is None:
                    raise _NotExact  # Go keeps such a label with an empty value: left to the engine
                labels[_text(key)] = _text(value)
        comment = _text(top["comment"]) or (history[-1][2] if history else "")
        return {
            "diff_ids": list(diff_ids),
            "history": out_history,
            "created": _created(top["created"]),
            "labels": labels,
            "has_config": config is not None,
            "comment": comment,
            "config_read": 3,
        }

    def _layer_size(self, chain: str, diff_id: str) -> int:
        """The diff size of stored layer ``chain`` whose diff id must be ``diff_id`` (the last
        one ``chain`` was made of, so the chain id alone keys what was read)."""
        if chain in self._layers:
            size = self._layers[chain]
        else:
            size = self._layers[chain] = self._read_layer(chain, diff_id)
        if size is None:
            raise _NotExact
        return size

    def _read_layer(self, chain: str, diff_id: str) -> int | None:
        folder = os.path.join(self._chains, chain.removeprefix("sha256:"))
        try:
            diff = _read(os.path.join(folder, "diff"), 256)
            size = _read(os.path.join(folder, "size"), 64)
        except _NotExact:
            return None
        if diff.strip().decode("ascii", "replace") != diff_id or not _SIZE.fullmatch(size):
            return None
        return int(size)
