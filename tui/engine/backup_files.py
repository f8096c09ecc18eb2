"""Files of the backup directory: private to this user, never through a symlink, checked on load.

``docker save`` archives hold image contents that dockerd keeps root-only, and ``restore`` loads
whatever archive it finds into the engine. So the directory must be this user's alone (not
writable by group or others: its writers could swap an archive before a restore), files are
created 0600 with ``O_EXCL | O_NOFOLLOW``, read with ``O_NOFOLLOW``, and an archive is loaded only
if its image config hashes to the image ID recorded when it was saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import stat
import tarfile
from collections.abc import Collection
from pathlib import Path
from typing import IO, Any

from tui.core.reference import InvalidReference, familiar_ref, normalize_ref

_CHUNK = 1 << 20


class UnsafeBackupDir(Exception):
    """The backup directory is not this user's alone; ``str()`` says why and how to fix it."""


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_private_dir(path: Path) -> bool:
    """Whether ``path`` exists; :class:`UnsafeBackupDir` if another user owns it or others may write it."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise UnsafeBackupDir(
            f"Cannot write backups to {path}: {exc.strerror or exc}. Check that the path is a writable "
            "directory (no part of it may be a regular file), or choose another one."
        ) from exc
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeBackupDir(
            f"The backup directory {path} is not a directory; set [backup] dir to a directory of your own."
        )
    me = os.geteuid()
    if info.st_uid != me:
        raise UnsafeBackupDir(
            f"The backup directory {path} belongs to {user_name(info.st_uid)}, not to you "
            f"({user_name(me)}): its owner could read the saved images or swap one before a restore. "
            f"Use a directory of your own ([backup] dir in the config), or take this one over: "
            f"chown {user_name(me)} {path} && chmod 700 {path}"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = " and ".join(
            w for bit, w in ((stat.S_IWGRP, "its group"), (stat.S_IWOTH, "all users")) if info.st_mode & bit
        )
        raise UnsafeBackupDir(
            f"The backup directory {path} is writable by {who} (mode {stat.S_IMODE(info.st_mode):04o}): "
            f"they could replace a backup before a restore loads it. Fix: chmod 700 {path}"
        )
    return True


def create_private(path: Path) -> int:
    """A new file only this user may read (0600); never through a symlink, never an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def open_regular(path: Path) -> IO[bytes]:
    """``path`` opened for reading; ``OSError`` (``ELOOP`` for a symlink) unless a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")


def read_private(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``path`` (a symlink is not followed)."""
    with open_regular(path) as fh:
        return fh.read(limit)


def is_regular(path: Path) -> bool:
    """A regular file itself, not a symlink to one."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _index_target(tar: tarfile.TarFile, want: str) -> list[str]:
    """On the containerd image store the image ID is the manifest or index digest: ``[want]`` when
    the archive's ``index.json`` lists only ``want`` and its blob hashes to it, else ``[]``."""
    try:
        member = tar.extractfile("index.json")
    except KeyError:
        return []
    index: Any = json.loads(member.read(1 << 20)) if member is not None else None
    targets = [
        str(m.get("digest", "")).split(":", 1)[-1]
        for m in (index.get("manifests") or [] if isinstance(index, dict) else [])
        if isinstance(m, dict)
    ]
    if not targets or any(t != want for t in targets):
        return []
    try:
        blob = tar.extractfile(f"blobs/sha256/{want}")
    except KeyError:
        return []
    if blob is None:
        return []
    digest = hashlib.sha256()
    while chunk := blob.read(_CHUNK):
        digest.update(chunk)
    return [want] if digest.hexdigest() == want else []


_NAME_ANNOTATION = "io.containerd.image.name"
_REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"


def _index_names(tar: tarfile.TarFile) -> list[str]:
    """The names ``index.json`` gives its images: the containerd image store's ``docker load``
    tags an image with each entry's ``io.containerd.image.name`` (else its ``ref.name``) and
    ignores ``manifest.json``'s ``RepoTags``; the classic store reads only ``manifest.json``."""
    try:
        member = tar.extractfile("index.json")
    except KeyError:
        return []
    index: Any = json.loads(member.read(1 << 20)) if member is not None else None
    names: list[str] = []
    for entry in index.get("manifests") or [] if isinstance(index, dict) else []:
        annotations = entry.get("annotations") if isinstance(entry, dict) else None
        if isinstance(annotations, dict):
            name = annotations.get(_NAME_ANNOTATION) or annotations.get(_REF_NAME_ANNOTATION)
            if name:
                names.append(str(name))
    return names


def _unsaved(names: Collection[str], tags: Collection[str]) -> set[str]:
    """``names`` that are none of ``tags``, compared fully qualified (``mine:1`` is
    ``docker.io/library/mine:1``); a name that is no valid reference is never a saved tag."""
    saved = set(tags)
    for tag in tags:
        with contextlib.suppress(InvalidReference):
            saved.add(normalize_ref(tag))
    extra: set[str] = set()
    for name in names:
        try:
            if normalize_ref(name) in saved:
                continue
            extra.add(familiar_ref(name))
        except InvalidReference:
            if name not in saved:
                extra.add(name)
    return extra


def archive_problem(data: IO[bytes], image_id: str, tags: Collection[str]) -> str:
    """Why the ``docker save`` archive ``data`` is not exactly image ``image_id`` with (some of) ``tags``.

    "" if it is: ``manifest.json`` lists one image whose config blob hashes to ``image_id`` (what the
    engine's image ID is, so the layers are pinned too: the engine checks them against the config's
    diff IDs on load), or, on the containerd image store, an ``index.json`` that lists only the
    manifest or index blob hashing to ``image_id``; and no tag outside ``tags``, neither in
    ``manifest.json`` (the classic store's ``docker load`` reads it) nor in ``index.json`` (the
    containerd store's).
    """
    want = image_id.split(":", 1)[-1]
    found: list[str] = []
    extra: set[str] = set()
    try:
        with tarfile.open(fileobj=data, mode="r:") as tar:
            member = tar.extractfile("manifest.json")
            manifest: Any = json.loads(member.read(1 << 20)) if member is not None else None
            for entry in manifest if isinstance(manifest, list) else ():
                config = tar.extractfile(str(entry.get("Config", ""))) if isinstance(entry, dict) else None
                if config is None:
                    found.append("?")
                    continue
                digest = hashlib.sha256()
                while chunk := config.read(_CHUNK):
                    digest.update(chunk)
                found.append(digest.hexdigest())
                extra |= _unsaved([str(t) for t in entry.get("RepoTags") or ()], tags)
            if found != [want]:
                found = _index_target(tar, want) or found
            extra |= _unsaved(_index_names(tar), tags)
    except (OSError, KeyError, ValueError, tarfile.TarError) as exc:
        return f"not a readable image archive ({exc})"
    if found != [want]:
        shown = ", ".join(f[:12] for f in found) or "none"
        return (
            f"holds image {shown}, not {want[:12]} that the backup recorded: the archive was replaced "
            "or altered"
        )
    if extra:
        return f"names tags it was not saved with ({', '.join(sorted(extra))}): the archive was altered"
    return ""
