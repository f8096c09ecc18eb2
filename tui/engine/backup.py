"""Backups of local-only images: ``docker save`` before a delete, ``docker load`` to undo it.

A local-only image has no ``RepoDigests``: it was built or loaded here and cannot be pulled back.
Before the executor deletes one, :meth:`BackupStore.save` streams ``GET /images/get`` into the
backup directory, and ``docker-sweep restore NAME`` gives it back with :meth:`BackupStore.restore`.

On disk, one backup is two files with the same stem (the backup's *name*,
``20261128T203000Z-myapp_1.5.0-0123456789ab``): ``NAME.tar`` (a ``docker save`` archive) and
``NAME.json`` (a sidecar with the image ID, tags, size, time and sha256). The archive is written
to a hidden ``.NAME.*.part`` file, checked, fsynced and renamed, and the sidecar is written after
it, so a crash never leaves a half-written backup that :meth:`BackupStore.list` would show. Files
without a valid sidecar are ignored. The directory is capped at ``max_bytes``: after each save the
oldest backups are deleted until the total fits, but never the backup just made.

Image contents are as private as dockerd keeps them: the directory docker-sweep creates is 0700 and
every file 0600; a directory owned by another user or writable by group or others is refused (its
writers could swap an archive before ``restore`` loads it). Archives and sidecars are opened with
``O_NOFOLLOW`` and must be regular files, and ``restore`` loads an archive only if its image config
hashes to the image ID recorded at save time.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tarfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from tui.core.model import short_id
from tui.core.reference import split_tag
from tui.core.usage import human_size
from tui.engine.backup_files import (
    UnsafeBackupDir,
    archive_problem,
    check_private_dir,
    create_private,
    is_regular,
    open_regular,
    read_private,
)
from tui.engine.client import Engine, EngineAPIError, EngineError
from tui.engine.load_report import loaded_images
from tui.engine.sdk_private import image_archive

__all__ = ["Backup", "BackupError", "BackupStore", "default_backup_dir"]

FORMAT = 1
CHUNK = 1 << 20
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class BackupError(EngineError):
    """A backup could not be made, found or restored; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class Backup:
    """One saved image: ``NAME.tar`` plus its ``NAME.json`` sidecar in the backup directory."""

    name: str
    path: Path
    image_id: str
    tags: tuple[str, ...]
    size_bytes: int
    created_at: float


def default_backup_dir() -> Path:
    """``platformdirs.user_data_path("docker-sweep") / "backups"`` (e.g. ``~/.local/share/...``)."""
    return platformdirs.user_data_path("docker-sweep") / "backups"


def _real_tags(tags: Any) -> list[str]:
    """Tags only: no ``<none>:<none>`` placeholders, no digest references, no duplicates."""
    out: list[str] = []
    for tag in tags or ():
        text = str(tag)
        if text and text != "<none>:<none>" and "@" not in text and text not in out:
            out.append(text)
    return out


def _stem(created_at: float, tags: list[str], image_id: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created_at))
    label = _NAME_CHARS.sub("_", tags[0]).strip("._-")[:64] if tags else "untagged"
    return f"{stamp}-{label or 'image'}-{short_id(image_id)}"


class BackupStore:
    """The backup directory ``dir``, holding at most ``max_bytes`` of backups (newest kept)."""

    def __init__(self, dir: Path, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, not {max_bytes}")
        self.dir = Path(dir)
        self.max_bytes = max_bytes

    # -- reading -------------------------------------------------------------------------------
    def backups(self) -> list[Backup]:
        """Every complete backup, newest first. Stray, hidden and half-written files are ignored.

        Raises :class:`BackupError` if the directory belongs to another user or others may write it.
        """
        if not self._check_dir():
            return []
        try:
            sidecars = [p for p in self.dir.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
        except OSError:
            return []
        found = [b for b in (self._read_sidecar(p) for p in sidecars) if b is not None]
        return sorted(found, key=lambda b: (b.created_at, b.name), reverse=True)

    def _check_dir(self) -> bool:
        """Whether the directory exists; :class:`BackupError` if it is not safe to use."""
        try:
            return check_private_dir(self.dir)
        except UnsafeBackupDir as exc:
            raise BackupError(str(exc)) from None

    def _read_sidecar(self, sidecar: Path) -> Backup | None:
        try:
            meta = json.loads(read_private(sidecar, 1 << 20).decode("utf-8"))
            archive = sidecar.with_suffix(".tar")
            if not isinstance(meta, dict) or meta.get("format") != FORMAT or not is_regular(archive):
                return None
            tags = meta["tags"]
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                return None
            return Backup(
                sidecar.stem,
                archive,
                str(meta["image_id"]),
                tuple(tags),
                int(meta["size_bytes"]),
                float(meta["created_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def total_bytes(self) -> int:
        """The size of every listed backup's archive, summed."""
        return sum(b.size_bytes for b in self.backups())

    def get(self, name: str) -> Backup:
        """The backup called ``name`` (``NAME.tar`` works too); unknown → :class:`BackupError`."""
        backups = self.backups()
        wanted = name.strip().removesuffix(".tar")
        for backup in backups:
            if backup.name == wanted:
                return backup
        if not backups:
            raise BackupError(f"No backup named {name!r}: there are no backups in {self.dir}.")
        names = [b.name for b in backups]
        shown = ", ".join(names[:20]) + (f", … ({len(names) - 20} more)" if len(names) > 20 else "")
        raise BackupError(f"No backup named {name!r} in {self.dir}. Available backups: {shown}")

    def exceeds_cap(self, backup: Backup) -> bool:
        """True if ``backup`` alone is larger than the cap (it is kept anyway)."""
        return backup.size_bytes > self.max_bytes

    # -- saving --------------------------------------------------------------------------------
    def save(self, engine: Engine, image_id: str, tags: Sequence[str]) -> tuple[Backup, list[Backup]]:
        """``docker save`` the image into the directory, then apply the cap.

        The archive carries every tag the image has now (``/images/get?names=TAG&names=TAG``, so
        ``docker load`` brings them back), or only its ID if it has none. ``tags`` are the tags the
        caller knows; ones already removed from the image are recorded in the sidecar and put back
        by :meth:`restore`. Returns the new backup and the old backups deleted to fit ``max_bytes``
        (oldest first; never the new one, even if it alone exceeds the cap: see
        :meth:`exceeds_cap`). Raises :class:`BackupError` if nothing usable was written; the
        image must not be deleted then.
        """
        gone = f"Image {short_id(image_id)} is gone from the engine; there is nothing to back up."
        info = self._inspect(engine, image_id, gone)
        image_id = str(info.get("Id") or image_id)
        current = _real_tags(info.get("RepoTags"))
        all_tags = _real_tags([*tags, *current])
        created_at = time.time()
        self._make_dir()
        name = self._free_name(_stem(created_at, all_tags, image_id))
        self._check_space(int(info.get("Size") or 0), image_id)
        part = self.dir / f".{name}.{os.getpid()}.part"
        archive = self.dir / f"{name}.tar"
        try:
            size, sha256 = self._download(engine, current or [image_id], part, image_id)
            self._verify(part, image_id, current)
            os.replace(part, archive)
            self._fsync_dir()
            meta = {
                "format": FORMAT, "name": name, "image_id": image_id, "tags": all_tags,
                "saved_tags": current, "size_bytes": size, "sha256": sha256, "created_at": created_at,
                "engine": engine.host, "file": archive.name,
            }  # fmt: skip
            self._write_json(self.dir / f"{name}.json", meta)
        except BaseException:
            complete = (self.dir / f"{name}.json").exists()
            for leftover in (part,) if complete else (part, archive):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
            raise
        backup = Backup(name, archive, image_id, tuple(all_tags), size, created_at)
        return backup, self.enforce_cap(keep=name)

    def _inspect(self, engine: Engine, ref: str, gone: str) -> dict[str, Any]:
        try:
            info: dict[str, Any] = engine.call(lambda api: api.inspect_image(ref))
        except EngineAPIError as exc:
            if exc.status == 404:
                raise BackupError(gone) from exc
            raise
        return info

    @contextmanager
    def _writing(self, what: str = "") -> Iterator[None]:
        """Turn a file-system error into a clear :class:`BackupError`."""
        try:
            yield
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise BackupError(
                    f"Disk full while writing {what or 'a backup'} to {self.dir}; nothing was kept and "
                    "the image was not touched. Free some space, lower the backup cap, or choose "
                    "another backup directory."
                ) from exc
            raise BackupError(
                f"Cannot write backups to {self.dir}: {exc.strerror or exc}. Check that the path is a "
                "writable directory (no part of it may be a regular file), or choose another one."
            ) from exc

    def _make_dir(self) -> None:
        with self._writing():
            if not self._check_dir():
                self.dir.mkdir(mode=0o700, parents=True)
                os.chmod(self.dir, 0o700)
                self._check_dir()
            elif self.dir == default_backup_dir():
                os.chmod(self.dir, 0o700)  # ours; older versions made it 0755
            probe = self.dir / f".write-test.{os.getpid()}"
            os.close(create_private(probe))
            probe.unlink()

    def _free_name(self, stem: str) -> str:
        name, n = stem, 1
        while os.path.lexists(self.dir / f"{name}.tar") or os.path.lexists(self.dir / f"{name}.json"):
            n += 1
            name = f"{stem}-{n}"
        return name

    def _check_space(self, image_size: int, image_id: str) -> None:
        try:
            free = shutil.disk_usage(self.dir).free
        except OSError:
            return
        if image_size > 0 and free < image_size:
            raise BackupError(
                f"Not enough space in {self.dir} to back up image {short_id(image_id)}: it needs about "
                f"{human_size(image_size)}, {human_size(free)} is free. Free some space, lower the "
                "backup cap, or choose another backup directory."
            )

    def _download(self, engine: Engine, names: Sequence[str], part: Path, image_id: str) -> tuple[int, str]:
        """Stream ``GET /images/get?names=...`` into ``part``; returns (bytes, sha256 hex)."""
        digest = hashlib.sha256()
        written = 0
        what = f"the backup of {short_id(image_id)}"

        def fetch(api: Any) -> None:
            nonlocal written
            with image_archive(api, names, CHUNK) as chunks:
                for chunk in chunks:
                    digest.update(chunk)
                    with self._writing(what):
                        out.write(chunk)
                    written += len(chunk)
            with self._writing(what):
                out.flush()
                os.fsync(out.fileno())

        with self._writing(what):
            out = os.fdopen(create_private(part), "wb")
        try:
            engine.call(fetch, long=True)
        except EngineAPIError as exc:
            why = "is gone from the engine" if exc.status == 404 else "could not be saved by the engine"
            raise BackupError(
                f"Image {short_id(image_id)} ({', '.join(names)}) {why}; no backup was made ({exc.message})."
            ) from exc
        finally:
            with self._writing(what):  # close() flushes what a failed write left in the buffer
                out.close()
        return written, digest.hexdigest()

    def _verify(self, part: Path, image_id: str, tags: list[str]) -> None:
        """The archive must hold exactly this image (a tag may have moved since inspect)."""
        want = image_id.split(":", 1)[-1]
        manifest: Any = None
        index: Any = None
        try:
            with tarfile.open(part, "r:") as tar:
                member = tar.extractfile("manifest.json")
                manifest = json.loads(member.read()) if member is not None else None
                with contextlib.suppress(KeyError):
                    member = tar.extractfile("index.json")
                    index = json.loads(member.read()) if member is not None else None
        except (OSError, KeyError, ValueError, tarfile.TarError) as exc:
            manifest = str(exc)
        # The containerd image store's id is the manifest or index digest that index.json lists.
        targets = [
            str(m.get("digest", "")).split(":", 1)[-1]
            for m in (index.get("manifests") or [] if isinstance(index, dict) else [])
        ]
        if targets and all(t == want for t in targets):
            return
        if not isinstance(manifest, list) or not manifest:
            raise BackupError(
                f"The engine sent an unreadable archive for image {short_id(image_id)} "
                f"(manifest.json: {manifest}); no backup was made."
            )
        for entry in manifest:
            config = Path(str(entry.get("Config", ""))).name.removesuffix(".json")
            if config != want:
                raise BackupError(
                    f"While saving image {short_id(image_id)}, one of its tags ({', '.join(tags)}) "
                    f"named another image ({config[:12]}): the store changed, so no backup was made."
                )

    def _write_json(self, path: Path, meta: dict[str, Any]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            with self._writing(path.name), os.fdopen(create_private(tmp), "w", encoding="utf-8") as out:
                out.write(json.dumps(meta, indent=2) + "\n")
                out.flush()
                os.fsync(out.fileno())
            with self._writing(path.name):
                os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # -- the cap -------------------------------------------------------------------------------
    def enforce_cap(self, keep: str | None = None) -> list[Backup]:
        """Delete the oldest backups until the total fits ``max_bytes``; never ``keep``.

        Returns the backups deleted, oldest first. A backup that cannot be deleted is skipped.
        """
        backups = self.backups()[::-1]  # oldest first
        total = sum(b.size_bytes for b in backups)
        dropped: list[Backup] = []
        for backup in backups:
            if total <= self.max_bytes:
                break
            if backup.name == keep:
                continue
            try:
                backup.path.unlink(missing_ok=True)  # the archive first: a lone sidecar is ignored
                backup.path.with_suffix(".json").unlink(missing_ok=True)
            except OSError:
                continue
            total -= backup.size_bytes
            dropped.append(backup)
        return dropped

    def log_lines(self, backup: Backup, dropped: list[Backup]) -> list[str]:
        """What :meth:`save` did, as lines for the log."""
        what = ", ".join(backup.tags) or "untagged"
        lines = [
            f"Backed up {short_id(backup.image_id)} ({what}) to {backup.path} "
            f"({human_size(backup.size_bytes)}); undo with: docker-sweep restore {backup.name}"
        ]
        lines += [
            f"Dropped old backup {b.name} ({human_size(b.size_bytes)}) to stay under the "
            f"backup cap of {human_size(self.max_bytes)}"
            for b in dropped
        ]
        if self.exceeds_cap(backup):
            lines.append(
                f"Warning: this backup alone ({human_size(backup.size_bytes)}) is larger than "
                f"the backup cap ({human_size(self.max_bytes)}); it was kept anyway"
            )
        return lines

    def _retag(self, engine: Engine, image_id: str, tag: str) -> None:
        repo, label = split_tag(tag)
        engine.call(lambda api: api.tag(image_id, repo, label, force=True))

    # -- restoring -----------------------------------------------------------------------------
    def _open_archive(self, backup: Backup) -> Any:
        """The archive, opened without following a symlink; it must be a regular file."""
        try:
            return open_regular(backup.path)
        except OSError as exc:
            why = "it is a symbolic link (not followed)" if exc.errno == errno.ELOOP else exc.strerror or exc
            raise BackupError(f"Cannot read backup {backup.path}: {why}") from exc

    def restore(self, engine: Engine, name: str) -> list[str]:
        """``docker load`` backup ``name``; returns the refs loaded, then the image ID.

        Like ``docker load``, a tag that now names another image is moved to the restored one.
        Tags recorded in the sidecar but not in the archive (removed before the save) are put back.
        """
        backup = self.get(name)
        data = self._open_archive(backup)
        loaded: list[str] = []

        def load(api: Any) -> None:
            for line in api.load_image(data, quiet=True):
                if not isinstance(line, dict):
                    continue
                if line.get("error") or line.get("errorDetail"):
                    detail = line.get("error") or (line.get("errorDetail") or {}).get("message")
                    raise BackupError(f"The engine could not load backup {backup.name}: {detail}")
                for item in loaded_images(str(line.get("stream", ""))):
                    if item not in loaded:
                        loaded.append(item)

        with data:
            actual = os.fstat(data.fileno()).st_size
            if actual != backup.size_bytes:
                raise BackupError(
                    f"Backup {backup.name} is damaged: {backup.path} has {actual} bytes, "
                    f"{backup.size_bytes} were saved."
                )
            problem = archive_problem(data, backup.image_id, backup.tags)
            if problem:
                raise BackupError(f"Backup {backup.name} ({backup.path}): {problem}; nothing was loaded.")
            data.seek(0)
            try:
                engine.call(load, long=True)
            except EngineAPIError as exc:
                raise BackupError(f"The engine could not load backup {backup.name}: {exc.message}") from exc
        for tag in backup.tags:
            if tag not in loaded:
                self._retag(engine, backup.image_id, tag)
                loaded.append(tag)
        self._inspect(
            engine,
            backup.image_id,
            f"Backup {backup.name} was loaded, but image "
            f"{short_id(backup.image_id)} is not in the engine afterwards.",
        )
        if backup.image_id not in loaded:
            loaded.append(backup.image_id)
        return loaded
