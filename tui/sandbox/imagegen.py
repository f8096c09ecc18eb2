"""Deterministic image tarballs for ``docker load`` (stdlib only).

Describe images with :class:`ImageSpec` / :class:`LayerSpec` / :class:`FileSpec` and get a
``docker save``-format tarball (``manifest.json``, ``<config sha>.json``, ``<layer>/layer.tar``,
``<layer>/VERSION``, ``<layer>/json``, ``repositories``). Every tar is built with mtime 0,
uid/gid 0, empty owner names, sorted entries and no record padding, so the same spec always gives
the same diff IDs and image ID, and :func:`image_id` / :func:`layer_diff_id` predict what the
engine reports before anything is loaded.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import platform
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tui.core.layers import chain_ids
from tui.core.reference import repository_of, split_tag

EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
ARCHITECTURE = {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "amd64")
_EPOCH = "1970-01-01T00:00:00Z"


def _norm(path: str) -> str:
    parts = [p for p in path.strip().split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"bad path in image: {path!r}")
    return "/".join(parts)


@dataclass(frozen=True)
class FileSpec:
    """One file in a layer.

    Content is ``data`` if given, else ``size`` pseudo-random bytes derived from ``seed`` and the
    path (same seed/path/size → same bytes; another seed → another layer digest). A non-empty
    ``symlink`` makes the entry a symbolic link to that target instead (size/data ignored).
    Parent directories are added to the layer automatically (mode 0755).
    """

    path: str
    size: int = 0
    data: bytes | None = field(default=None, repr=False)
    seed: str = ""
    mode: int = 0o644
    symlink: str = ""

    def content(self) -> bytes:
        """The file's bytes (b"" for a symlink)."""
        if self.symlink:
            return b""
        if self.data is not None:
            return self.data
        if self.size < 0:
            raise ValueError(f"negative size for {self.path}")
        return hashlib.shake_256(f"{self.seed}\0{_norm(self.path)}".encode()).digest(self.size)


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its files (may be empty: the 1,024-byte empty tar) and its history text."""

    files: tuple[FileSpec, ...] = ()
    comment: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))


@dataclass(frozen=True)
class ImageSpec:
    """One image: tags (``repo:tag``; none → loads as a dangling image), layers, config.

    ``empty_history`` adds metadata-only history entries (``empty_layer: true``), each given as
    ``(position, created_by)`` where position = how many layer entries come before it
    (0 = before the first layer, ``len(layers)`` = after the last one). ``created`` is read as UTC
    if naive.

    Images from other tools: ``history`` replaces the derived history with these entries, oldest
    first, as ``(created_by, empty_layer)`` (``()`` = no history at all, as ko, Bazel or Nix write;
    fewer non-empty entries than layers, or a real layer flagged ``empty_layer``, are allowed).
    ``bare_config`` leaves out the ``config`` object (``.Config`` is null on inspect);
    ``empty_config`` writes it as ``{}`` (an object, so label filters apply to it).
    ``created_text`` writes the config's ``created`` as given (RFC 3339 with nanoseconds, say).
    """

    tags: tuple[str, ...]
    layers: tuple[LayerSpec, ...]
    created: datetime
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    empty_history: tuple[tuple[int, str], ...] = ()
    history: tuple[tuple[str, bool], ...] | None = None
    bare_config: bool = False
    empty_config: bool = False
    created_text: str = ""  # the config's ``created`` verbatim (e.g. with nanoseconds), if given

    def __post_init__(self) -> None:
        if self.history is not None:
            object.__setattr__(self, "history", tuple(tuple(h) for h in self.history))
        for name in ("tags", "layers", "cmd", "entrypoint", "empty_history"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "labels", dict(self.labels))
        for position, _ in self.empty_history:
            if not 0 <= position <= len(self.layers):
                raise ValueError(f"empty_history position {position} outside 0..{len(self.layers)}")


def busybox_files(host_binary: str | Path = "/bin/busybox") -> tuple[FileSpec, ...]:
    """``bin/busybox`` copied from the host (mode 0755) and ``bin/sh`` → ``busybox`` symlink.

    Enough for ``docker run IMAGE /bin/busybox sleep 60`` and shell-form ``RUN`` steps.
    Needs a statically linked busybox (Debian: ``apt-get install -y busybox-static``).
    """
    data = Path(host_binary).read_bytes()
    return (FileSpec("bin/busybox", data=data, mode=0o755), FileSpec("bin/sh", symlink="busybox"))


def _tar(entries: Mapping[str, tuple[bytes, int, str]]) -> bytes:
    """A deterministic tar of ``path -> (data, mode, symlink target)``; parents added as dirs."""
    dirs = {"/".join(p.split("/")[:i]) for p in entries for i in range(1, p.count("/") + 1)}
    clash = dirs & set(entries)
    if clash:
        raise ValueError(f"paths used both as file and directory: {sorted(clash)}")
    buf = io.BytesIO()
    tar = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
    for name in sorted(dirs | set(entries)):
        info = tarfile.TarInfo(name + "/" if name in dirs else name)
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        if name in dirs:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
            continue
        data, info.mode, target = entries[name]
        if target:
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        else:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    end = tar.offset
    tar.close()
    # two zero blocks end the archive; drop tarfile's padding to a 10 KiB record like Go does
    return buf.getvalue()[:end] + b"\0" * 1024


@functools.lru_cache(maxsize=64)
def layer_tar(layer: LayerSpec) -> bytes:
    """The uncompressed layer tar, exactly as stored in the tarball (its sha256 is the diff ID)."""
    entries: dict[str, tuple[bytes, int, str]] = {}
    for f in layer.files:
        path = _norm(f.path)
        if path in entries:
            raise ValueError(f"{path} appears twice in one layer")
        entries[path] = (f.content(), f.mode, f.symlink)
    return _tar(entries)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_diff_id(layer: LayerSpec) -> str:
    """``sha256:<hex>`` of the uncompressed layer tar (what ``RootFS.Layers`` lists)."""
    return _sha(layer_tar(layer))


def layer_content_size(layer: LayerSpec) -> int:
    """The bytes the engine reports for this layer (overlay2 ``DiffSize``).

    Rule observed on dockerd 20.10 (classic store, overlay2; see tests/test_sandbox.py): the sum
    of the sizes of regular files plus the length of every symlink's target (the engine sums
    ``lstat`` sizes of non-directories); directories and empty files count 0, so the empty
    layer is 0. The history entry of the layer shows this as ``Size``, ``empty_layer`` entries
    show 0, the image's ``Size`` is the sum over its layers, and ``/system/df`` ``LayersSize``
    is the sum over distinct layers (chain IDs).
    """
    return sum(len(f.symlink.encode()) if f.symlink else len(f.content()) for f in layer.files)


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 with up to microsecond precision (naive = UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def image_history(spec: ImageSpec) -> list[dict[str, object]]:
    """The config's history list, oldest first (layer entries and ``empty_layer`` entries)."""
    created = spec.created_text or rfc3339(spec.created)
    history: list[dict[str, object]] = []
    if spec.history is not None:
        for created_by, empty in spec.history:
            entry: dict[str, object] = {"created": created, "created_by": created_by}
            if empty:
                entry["empty_layer"] = True
            history.append(entry)
        return history
    for position in range(len(spec.layers) + 1):
        for at, created_by in spec.empty_history:
            if at == position:
                history.append({"created": created, "created_by": created_by, "empty_layer": True})
        if position < len(spec.layers):
            layer = spec.layers[position]
            text = layer.comment or f"/bin/sh -c #(nop) ADD layer{position} in / "
            history.append({"created": created, "created_by": text})
    return history


def image_config(spec: ImageSpec) -> bytes:
    """The image config JSON, canonical (sorted keys, no spaces); its sha256 is the image ID."""
    config: dict[str, object] = {"Env": list(DEFAULT_ENV)}
    if spec.cmd:
        config["Cmd"] = list(spec.cmd)
    if spec.entrypoint:
        config["Entrypoint"] = list(spec.entrypoint)
    if spec.labels:
        config["Labels"] = dict(spec.labels)
    document: dict[str, object] = {
        "architecture": ARCHITECTURE,
        "config": config,
        "created": spec.created_text or rfc3339(spec.created),
        "history": image_history(spec),
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_diff_id(x) for x in spec.layers]},
    }
    if spec.bare_config:
        del document["config"]
    elif spec.empty_config:
        document["config"] = {}
    if spec.history == ():
        del document["history"]
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def image_id(spec: ImageSpec) -> str:
    """``sha256:<hex>`` of :func:`image_config`: the ID the engine gives the loaded image."""
    return _sha(image_config(spec))


def normalize_tag(tag: str) -> str:
    """``repo`` → ``repo:latest``; ``repo:tag`` and ``host:port/repo:tag`` are kept."""
    if "@" in tag:
        raise ValueError(f"a tarball cannot carry a digest reference: {tag!r}")
    repo, name = split_tag(tag)
    return f"{repo}:{name}"


def build_tarball(images: Sequence[ImageSpec], *, repositories: bool = True) -> bytes:
    """A ``docker load`` tarball holding ``images`` (identical layers/configs stored once).

    Layer directories are named after the layer's chain ID, so a layer shared by two images at
    the same place in their stacks is stored once.
    """
    entries: dict[str, tuple[bytes, int, str]] = {}
    manifest: list[dict[str, object]] = []
    repos: dict[str, dict[str, str]] = {}
    for spec in images:
        config = image_config(spec)
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        entries[config_name] = (config, 0o644, "")
        layer_paths: list[str] = []
        chains = chain_ids([layer_diff_id(x) for x in spec.layers])
        for i, (layer, chain) in enumerate(zip(spec.layers, chains, strict=True)):
            directory = chain.removeprefix("sha256:")
            legacy: dict[str, object] = {"id": directory, "created": _EPOCH, "os": "linux"}
            if i:
                legacy["parent"] = chains[i - 1].removeprefix("sha256:")
            entries[f"{directory}/VERSION"] = (b"1.0", 0o644, "")
            entries[f"{directory}/json"] = (json.dumps(legacy, sort_keys=True).encode(), 0o644, "")
            entries[f"{directory}/layer.tar"] = (layer_tar(layer), 0o644, "")
            layer_paths.append(f"{directory}/layer.tar")
        tags = [normalize_tag(t) for t in spec.tags]
        manifest.append({"Config": config_name, "RepoTags": tags or None, "Layers": layer_paths})
        for tag in tags:
            repo, name = split_tag(tag)
            if layer_paths:
                repos.setdefault(repo, {})[name] = layer_paths[-1].split("/")[0]
    entries["manifest.json"] = (json.dumps(manifest).encode(), 0o644, "")
    if repositories and repos:
        entries["repositories"] = (json.dumps(repos, sort_keys=True).encode(), 0o644, "")
    return _tar(entries)


def write_tarball(path: str | Path, images: Sequence[ImageSpec]) -> Path:
    """Write :func:`build_tarball` of ``images`` to ``path``; returns the path."""
    target = Path(path)
    target.write_bytes(build_tarball(images))
    return target


# --- OCI image layouts (multi-platform images) -------------------------------------------------

_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class PlatformSpec:
    """One platform of a multi-platform image: its image (``tags`` unused) and architecture.

    ``present=False`` leaves the platform's config and layers out of the layout (only the
    manifest is there), like an index pulled for one platform.
    """

    image: ImageSpec
    architecture: str
    present: bool = True


@dataclass(frozen=True)
class IndexSpec:
    """A multi-platform image: an OCI index over ``platforms``, named by ``tags``."""

    tags: tuple[str, ...]
    platforms: tuple[PlatformSpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "platforms", tuple(self.platforms))


def _descriptor(media_type: str, data: bytes, **extra: object) -> dict[str, object]:
    return {"mediaType": media_type, "digest": _sha(data), "size": len(data), **extra}


def _canonical(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def platform_config(spec: ImageSpec, architecture: str) -> bytes:
    """:func:`image_config` for another architecture (the same bytes for the host's)."""
    document = json.loads(image_config(spec))
    document["architecture"] = architecture
    return _canonical(document)


def oci_manifest(spec: ImageSpec, architecture: str = ARCHITECTURE) -> tuple[bytes, dict[str, bytes]]:
    """An image's OCI manifest and the blobs it names (config and uncompressed layers)."""
    config = platform_config(spec, architecture)
    blobs = {_sha(config): config}
    layers = []
    for layer in spec.layers:
        data = layer_tar(layer)
        blobs[_sha(data)] = data
        layers.append(_descriptor(_OCI_LAYER, data))
    manifest = _canonical(
        {
            "schemaVersion": 2,
            "mediaType": _OCI_MANIFEST,
            "config": _descriptor(_OCI_CONFIG, config),
            "layers": layers,
        }
    )
    return manifest, blobs


def oci_index(spec: IndexSpec) -> tuple[bytes, dict[str, bytes]]:
    """An OCI index over the platforms, and every blob present in the layout for it."""
    blobs: dict[str, bytes] = {}
    entries = []
    for member in spec.platforms:
        manifest, children = oci_manifest(member.image, member.architecture)
        blobs[_sha(manifest)] = manifest
        if member.present:
            blobs.update(children)
        entries.append(
            _descriptor(
                _OCI_MANIFEST, manifest, platform={"architecture": member.architecture, "os": "linux"}
            )
        )
    index = _canonical({"schemaVersion": 2, "mediaType": _OCI_INDEX, "manifests": entries})
    blobs[_sha(index)] = index
    return index, blobs


def oci_image_id(item: IndexSpec | ImageSpec) -> str:
    """The id the containerd image store gives a loaded layout entry: its index/manifest digest."""
    data = oci_index(item)[0] if isinstance(item, IndexSpec) else oci_manifest(item)[0]
    return _sha(data)


def build_oci_layout(items: Sequence[IndexSpec | ImageSpec]) -> bytes:
    """A ``docker load`` tarball in OCI image layout form (``oci-layout``, ``index.json``,
    ``blobs/sha256/``): single-platform images as manifests, :class:`IndexSpec` as indexes."""
    entries: dict[str, tuple[bytes, int, str]] = {
        "oci-layout": (b'{"imageLayoutVersion":"1.0.0"}', 0o644, "")
    }
    top = []
    for item in items:
        if isinstance(item, IndexSpec):
            data, blobs = oci_index(item)
            media_type = _OCI_INDEX
        else:
            data, blobs = oci_manifest(item)
            blobs[_sha(data)] = data
            media_type = _OCI_MANIFEST
        for digest, blob in blobs.items():
            entries["blobs/sha256/" + digest.removeprefix("sha256:")] = (blob, 0o644, "")
        for tag in item.tags:
            full = normalize_tag(tag)
            first = full.split("/", 1)[0]
            if "/" not in repository_of(full):
                name = "docker.io/library/" + full
            elif "." in first or ":" in first or first == "localhost":
                name = full
            else:
                name = "docker.io/" + full
            annotations = {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": split_tag(full)[1],
            }
            top.append(_descriptor(media_type, data, annotations=annotations))
    entries["index.json"] = (_canonical({"schemaVersion": 2, "manifests": top}), 0o644, "")
    return _tar(entries)


_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"


def docker_manifest(spec: ImageSpec) -> bytes:
    """The Docker schema 2 manifest the containerd image store writes for an image loaded from a
    :func:`build_tarball` archive (containerd's archive importer: Go ``json.Marshal`` field order,
    uncompressed layers). Checked on Docker 28.5 and 26.1 (tests/test_sandbox.py)."""
    config = image_config(spec)
    document = {
        "schemaVersion": 2,
        "mediaType": _DOCKER_MANIFEST,
        "config": _descriptor(_DOCKER_CONFIG, config),
        "layers": [_descriptor(_DOCKER_LAYER, layer_tar(layer)) for layer in spec.layers],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def loaded_image_id(spec: ImageSpec, store: str) -> str:
    """The id an engine with image ``store`` ("classic" or "containerd") gives ``spec`` loaded
    from a :func:`build_tarball` archive: the config digest on the classic store, the digest of
    :func:`docker_manifest` on the containerd store (Podman, like the classic store, gives the
    config digest)."""
    return _sha(docker_manifest(spec)) if store == "containerd" else image_id(spec)
