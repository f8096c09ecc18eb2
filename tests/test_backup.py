"""Backups of local-only images (``tui.engine.backup``) on a real private engine."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tests.conftest import session_store, unavailable
from tests.enginecase import data_layer, eid, spec
from tui.core.reference import normalize_ref
from tui.engine.backup import Backup, BackupError, BackupStore, default_backup_dir
from tui.engine.backup_files import create_private
from tui.engine.client import Engine
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

MB = 1_000_000


def small(tags: tuple[str, ...], seed: str, size: int = 200_000) -> gen.ImageSpec:
    """A one-data-layer image (no busybox layer: keeps backups small)."""
    return gen.ImageSpec(tags, (data_layer(seed, size),), spec((), ()).created)


def load(api: Any, *specs: gen.ImageSpec) -> list[str]:
    fixtures.load_tarball(api, gen.build_tarball(specs))
    return [eid(s) for s in specs]


def tags_of(api: Any, image_id: str) -> list[str]:
    return sorted(t for t in api.inspect_image(image_id).get("RepoTags") or [] if t != "<none>:<none>")


def gone(api: Any, image_id: str) -> bool:
    try:
        api.inspect_image(image_id)
    except docker.errors.ImageNotFound:
        return True
    return False


@pytest.fixture
def sweep(clean_engine: Any) -> Engine:
    """docker-sweep's own engine adapter on the (wiped) private daemon."""
    return Engine(clean_engine.url)


def test_tagged_image_round_trip(clean_engine: Any, sweep: Engine, tmp_path: Path) -> None:
    api = clean_engine.api
    image = spec(("myapp:1.5.0", "myapp:stable"), (data_layer("rt", MB),), labels={"app": "myapp"})
    (image_id,) = load(api, image)
    store = BackupStore(tmp_path / "backups", 100 * MB)
    started = time.time()
    backup, dropped = store.save(sweep, image_id, ["myapp:1.5.0", "myapp:stable"])
    assert dropped == []
    assert backup.image_id == image_id
    assert backup.tags == ("myapp:1.5.0", "myapp:stable")
    assert backup.name.endswith("-myapp_1.5.0-" + image_id[7:19])
    assert started - 1 <= backup.created_at <= time.time()
    assert backup.path == tmp_path / "backups" / f"{backup.name}.tar"
    assert backup.size_bytes == backup.path.stat().st_size
    image_size = api.inspect_image(image_id)["Size"]
    assert image_size <= backup.size_bytes < image_size + 64_000  # tar headers and config only
    assert store.backups() == [backup]
    assert [p.name for p in (tmp_path / "backups").iterdir() if p.name.startswith(".")] == []

    api.remove_image(image_id, force=True)
    assert gone(api, image_id)
    refs = store.restore(sweep, backup.name)
    assert api.inspect_image(image_id)["Id"] == image_id
    assert tags_of(api, image_id) == ["myapp:1.5.0", "myapp:stable"]
    assert set(refs) == {"myapp:1.5.0", "myapp:stable", image_id}
    assert refs[-1] == image_id
    assert api.inspect_image(image_id)["Config"]["Labels"] == {"app": "myapp"}


def test_untagged_image_round_trips_by_id(clean_engine: Any, sweep: Engine, tmp_path: Path) -> None:
    api = clean_engine.api
    (image_id,) = load(api, small((), "dangling"))
    store = BackupStore(tmp_path, 100 * MB)
    backup, _ = store.save(sweep, image_id, [])
    assert backup.tags == ()
    assert "-untagged-" in backup.name
    api.remove_image(image_id, force=True)
    assert gone(api, image_id)
    assert store.restore(sweep, backup.name + ".tar") == [image_id]
    assert api.inspect_image(image_id)["Id"] == image_id
    assert tags_of(api, image_id) == []


def test_tags_removed_before_the_save_come_back(clean_engine: Any, sweep: Engine, tmp_path: Path) -> None:
    """The executor may untag an image step by step; the last step's backup still knows every tag."""
    api = clean_engine.api
    (image_id,) = load(api, small(("web:1", "web:2", "proxy:1"), "retag"))
    api.remove_image("web:1")
    api.remove_image("proxy:1")
    store = BackupStore(tmp_path, 100 * MB)
    backup, _ = store.save(sweep, image_id, ("web:1", "web:2", "proxy:1"))
    meta = json.loads(backup.path.with_suffix(".json").read_text())
    assert meta["tags"] == ["web:1", "web:2", "proxy:1"]
    assert meta["saved_tags"] == ["web:2"]
    api.remove_image(image_id, force=True)
    refs = store.restore(sweep, backup.name)
    assert refs == ["web:2", "web:1", "proxy:1", image_id]
    assert tags_of(api, image_id) == ["proxy:1", "web:1", "web:2"]


def test_tags_the_caller_did_not_know_are_saved_too(clean_engine: Any, sweep: Engine, tmp_path: Path) -> None:
    api = clean_engine.api
    (image_id,) = load(api, small(("a:1",), "extra"))
    fixtures.tag(api, image_id, "b", "2")
    backup, _ = BackupStore(tmp_path, 100 * MB).save(sweep, image_id, ["a:1"])
    assert backup.tags == ("a:1", "b:2")


def test_cap_drops_oldest_first_and_never_the_newest(
    clean_engine: Any, sweep: Engine, tmp_path: Path
) -> None:
    api = clean_engine.api
    ids = load(api, *(small((f"cap{i}:v",), f"cap{i}") for i in range(5)))
    store = BackupStore(tmp_path, 10 * MB)
    first, _ = store.save(sweep, ids[0], [f"cap{0}:v"])
    size = first.size_bytes
    store.max_bytes = 2 * size + size // 2  # room for two backups, not three
    second, dropped2 = store.save(sweep, ids[1], ["cap1:v"])
    assert dropped2 == []
    third, dropped3 = store.save(sweep, ids[2], ["cap2:v"])
    assert dropped3 == [first]
    assert not first.path.exists() and not first.path.with_suffix(".json").exists()
    fourth, dropped4 = store.save(sweep, ids[3], ["cap3:v"])
    assert dropped4 == [second]
    assert store.backups() == [fourth, third]
    assert store.total_bytes() == third.size_bytes + fourth.size_bytes <= store.max_bytes
    assert not store.exceeds_cap(fourth)
    assert store.log_lines(fourth, dropped4)[1].startswith(f"Dropped old backup {second.name}")

    tiny = BackupStore(tmp_path, size // 2)  # the new backup alone is over the cap: kept, and said so
    fifth, dropped5 = tiny.save(sweep, ids[4], ["cap4:v"])
    assert dropped5 == [third, fourth]
    assert tiny.backups() == [fifth] and fifth.path.exists()
    assert tiny.exceeds_cap(fifth)
    lines = tiny.log_lines(fifth, dropped5)
    assert lines[0].startswith(f"Backed up {ids[4][7:19]} (cap4:v) to ")
    assert lines[-1].startswith("Warning: this backup alone")


def test_list_is_newest_first_with_sidecar_metadata_and_ignores_strays(
    clean_engine: Any, sweep: Engine, tmp_path: Path
) -> None:
    api = clean_engine.api
    ids = load(api, small(("one:1",), "l1"), small(("two:1",), "l2"))
    store = BackupStore(tmp_path, 100 * MB)
    older, _ = store.save(sweep, ids[0], ["one:1"])
    newer, _ = store.save(sweep, ids[1], ["two:1"])
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "orphan.tar").write_bytes(b"x" * 10)  # an archive without sidecar
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "lonely.json").write_text(
        json.dumps({"format": 1, "image_id": "x", "tags": [], "size_bytes": 1, "created_at": 1.0})
    )
    (tmp_path / f".{newer.name}.123.part").write_bytes(b"partial")
    assert store.backups() == [newer, older]
    meta = json.loads(older.path.with_suffix(".json").read_text())
    assert meta["format"] == 1
    assert meta["name"] == older.name
    assert meta["image_id"] == ids[0]
    assert meta["tags"] == ["one:1"]
    assert meta["size_bytes"] == older.size_bytes == older.path.stat().st_size
    assert meta["created_at"] == older.created_at
    assert meta["file"] == older.path.name
    assert meta["engine"] == clean_engine.url
    assert len(meta["sha256"]) == 64
    assert store.total_bytes() == older.size_bytes + newer.size_bytes


def test_unknown_restore_name_lists_the_available_ones(tmp_path: Path) -> None:
    store = BackupStore(tmp_path / "none-yet", MB)
    with pytest.raises(BackupError, match="there are no backups in"):
        store.restore(Engine("unix:///nonexistent.sock"), "nope")
    names = ["20261128T203000Z-a_1-0123456789ab", "20261129T203000Z-b_1-abcdef012345"]
    for n, name in enumerate(names):
        (tmp_path / f"{name}.tar").write_bytes(b"\0" * 1024)
        (tmp_path / f"{name}.json").write_text(
            json.dumps(
                {
                    "format": 1,
                    "image_id": "sha256:" + "0" * 64,
                    "tags": [],
                    "size_bytes": 1024,
                    "created_at": 1_800_000_000.0 + n,
                }
            )
        )
    store = BackupStore(tmp_path, MB)
    with pytest.raises(BackupError) as caught:
        store.restore(Engine("unix:///nonexistent.sock"), "20261128T203000Z-a_1")
    message = str(caught.value)
    assert "No backup named '20261128T203000Z-a_1'" in message
    assert f"Available backups: {names[1]}, {names[0]}" in message


def test_damaged_backup_is_refused(clean_engine: Any, sweep: Engine, tmp_path: Path) -> None:
    (image_id,) = load(clean_engine.api, small(("dmg:1",), "dmg"))
    store = BackupStore(tmp_path, 100 * MB)
    backup, _ = store.save(sweep, image_id, ["dmg:1"])
    with backup.path.open("r+b") as f:
        f.truncate(backup.size_bytes // 2)
    with pytest.raises(BackupError, match="is damaged"):
        store.restore(sweep, backup.name)


def test_unwritable_directory_is_a_clear_error(clean_engine: Any, sweep: Engine, tmp_path: Path) -> None:
    (image_id,) = load(clean_engine.api, small(("rw:1",), "rw"))
    (tmp_path / "file.txt").write_text("a regular file")
    store = BackupStore(tmp_path / "file.txt" / "sub", 100 * MB)
    with pytest.raises(BackupError, match=r"Cannot write backups to .*file\.txt/sub: Not a directory"):
        store.save(sweep, image_id, ["rw:1"])
    assert store.backups() == []
    assert not gone(clean_engine.api, image_id)


def test_image_gone_is_a_clear_error(clean_engine: Any, sweep: Engine, tmp_path: Path) -> None:
    store = BackupStore(tmp_path, 100 * MB)
    missing = eid(small(("never:1",), "never"))
    with pytest.raises(BackupError, match=r"is gone from the engine"):
        store.save(sweep, missing, ["never:1"])
    assert list(tmp_path.iterdir()) == []


def test_disk_full_leaves_nothing_behind(
    clean_engine: Any, sweep: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small tmpfs: the free-space check refuses; with the check fooled, ENOSPC mid-write."""
    (image_id,) = load(clean_engine.api, small(("big:1",), "big", 2 * MB))
    mount = tmp_path / "tiny"
    mount.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        unavailable("a tmpfs mount", exc)
    try:
        store = BackupStore(mount, 100 * MB)
        with pytest.raises(BackupError, match="Not enough space"):
            store.save(sweep, image_id, ["big:1"])
        real = shutil.disk_usage
        monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=10**12))
        with pytest.raises(BackupError, match="Disk full while writing"):
            store.save(sweep, image_id, ["big:1"])
        assert store.backups() == []
        assert [p.name for p in mount.iterdir()] == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_tag_moved_after_inspect_is_refused(
    clean_engine: Any, sweep: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine exports whatever a tag names at save time; a tag moved since inspect is caught."""
    api = clean_engine.api
    old, new = load(api, small(("x:1",), "old"), small(("y:1",), "new"))
    stale = api.inspect_image(old)
    fixtures.tag(api, new, "x", "1")  # x:1 moves to another image after "inspect"
    store = BackupStore(tmp_path, 100 * MB)
    monkeypatch.setattr(store, "_inspect", lambda *args: stale)
    with pytest.raises(BackupError, match=r"one of its tags \(x:1\) named another image"):
        store.save(sweep, old, ["x:1"])
    assert list(tmp_path.iterdir()) == []
    api.remove_image("x:1")  # a tag gone since inspect: the engine answers 404
    with pytest.raises(BackupError, match=r"\(x:1\) is gone from the engine; no backup was made"):
        store.save(sweep, old, ["x:1"])
    assert list(tmp_path.iterdir()) == []


def test_moved_tag_is_detected(tmp_path: Path) -> None:
    """If a tag names another image by the time the engine exports, the archive is refused."""
    a, b = small(("x:1",), "va"), small(("x:1",), "vb")
    archive = gen.write_tarball(tmp_path / "a.tar", [a])
    store = BackupStore(tmp_path, MB)
    store._verify(archive, gen.image_id(a), ["x:1"])
    with pytest.raises(BackupError, match="named another image"):
        store._verify(archive, gen.image_id(b), ["x:1"])


def test_default_dir_and_dataclass() -> None:
    assert default_backup_dir().parts[-2:] == ("docker-sweep", "backups")
    backup = Backup("n", Path("n.tar"), "sha256:x", ("a:1",), 1, 0.0)
    with pytest.raises(AttributeError):
        backup.name = "m"  # type: ignore[misc]
    with pytest.raises(ValueError):
        BackupStore(Path("x"), -1)


# --- who may read and write backups ------------------------------------------------------------


def set_size(backup: Backup) -> None:
    sidecar = backup.path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["size_bytes"] = backup.path.stat().st_size
    sidecar.write_text(json.dumps(meta))


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_directory_0700_and_files_0600_whatever_the_umask(
    clean_engine: Any, sweep: Engine, tmp_path: Path
) -> None:
    (image_id,) = load(clean_engine.api, small(("priv:1",), "priv"))
    store = BackupStore(tmp_path / "new" / "backups", 100 * MB)
    old = os.umask(0o002)  # a permissive umask (group-writable) must not leak into backups
    try:
        backup, _ = store.save(sweep, image_id, ["priv:1"])
    finally:
        os.umask(old)
    assert mode(store.dir) == 0o700
    assert mode(backup.path) == 0o600 and mode(backup.path.with_suffix(".json")) == 0o600


@pytest.mark.parametrize(
    ("bits", "who"), [(0o770, "its group"), (0o707, "all users"), (0o1777, "its group and all users")]
)
def test_directory_writable_by_others_is_refused(
    clean_engine: Any, sweep: Engine, tmp_path: Path, bits: int, who: str
) -> None:
    (image_id,) = load(clean_engine.api, small(("shared:1",), "shared"))
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, bits)
    store = BackupStore(shared, 100 * MB)
    with pytest.raises(BackupError) as caught:
        store.save(sweep, image_id, ["shared:1"])
    assert f"is writable by {who}" in str(caught.value) and f"Fix: chmod 700 {shared}" in str(caught.value)
    assert list(shared.iterdir()) == []
    with pytest.raises(BackupError, match="is writable by"):
        store.backups()
    with pytest.raises(BackupError, match="is writable by"):
        store.restore(sweep, "anything")


def test_directory_of_another_user_is_refused(clean_engine: Any, sweep: Engine, tmp_path: Path) -> None:
    (image_id,) = load(clean_engine.api, small(("theirs:1",), "theirs"))
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)  # nobody (the tests run as root, which dockerd needs anyway)
    store = BackupStore(theirs, 100 * MB)
    with pytest.raises(BackupError) as caught:
        store.save(sweep, image_id, ["theirs:1"])
    message = str(caught.value)
    assert f"{theirs} belongs to " in message and "not to you" in message and "chown" in message
    assert list(theirs.iterdir()) == []
    with pytest.raises(BackupError, match="not to you"):
        store.backups()


def test_symlinked_archive_is_never_followed(clean_engine: Any, sweep: Engine, tmp_path: Path) -> None:
    api = clean_engine.api
    (image_id,) = load(api, small(("link:1",), "link"))
    store = BackupStore(tmp_path / "b", 100 * MB)
    backup, _ = store.save(sweep, image_id, ["link:1"])
    elsewhere = tmp_path / "elsewhere.tar"
    backup.path.rename(elsewhere)
    backup.path.symlink_to(elsewhere)
    assert store.backups() == []  # not a backup any more
    (meta,) = [p for p in store.dir.iterdir() if p.suffix == ".json"]
    with pytest.raises(BackupError, match="No backup named"):
        store.restore(sweep, backup.name)
    # restore itself opens with O_NOFOLLOW even if the symlink appears after the listing
    with pytest.raises(BackupError, match="symbolic link"):
        store._open_archive(backup)
    # a sidecar that is a symlink is ignored too
    backup.path.unlink()
    elsewhere.rename(backup.path)
    real_meta = tmp_path / "meta.json"
    meta.rename(real_meta)
    meta.symlink_to(real_meta)
    assert store.backups() == []
    # a symlink planted where a file is about to be created is not written through
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    planted = store.dir / ".planted.part"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):
        create_private(planted)
    assert victim.read_text() == "keep me"


def test_restore_refuses_an_archive_that_holds_another_image(
    clean_engine: Any, sweep: Engine, tmp_path: Path
) -> None:
    api = clean_engine.api
    good, evil = small(("app:1",), "good"), small(("app:1",), "evil")
    (good_id,) = load(api, good)
    store = BackupStore(tmp_path / "b", 100 * MB)
    backup, _ = store.save(sweep, good_id, ["app:1"])
    api.remove_image(good_id, force=True)
    # the archive is swapped for another image's, and the sidecar's size edited to match
    gen.write_tarball(backup.path, [evil])
    set_size(backup)
    with pytest.raises(BackupError) as caught:
        store.restore(sweep, backup.name)
    message = str(caught.value)
    # the forged archive is a docker-save tarball: the restore names its config digest
    assert "was replaced or altered" in message and gen.image_id(evil)[7:19] in message
    assert gone(api, eid(evil)) and gone(api, good_id)
    with pytest.raises(docker.errors.ImageNotFound):
        api.inspect_image("app:1")


def forge_tags(path: Path, name: str, tag: str, image_id: str) -> None:
    """Add ``tag`` to the archive ``path`` in file ``name``: ``manifest.json``'s ``RepoTags`` (what
    the classic store's ``docker load`` tags with) or an ``index.json`` entry naming ``image_id``
    (the containerd store's; planted where the archive has none, as 20.10's). Every blob, so the
    image id, stays as saved."""
    with tarfile.open(path) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        dirs = [m for m in tar.getmembers() if not m.isfile()]
    doc = json.loads(files.get(name, b'{"schemaVersion": 2, "manifests": []}'))
    if name == "manifest.json":
        doc[0]["RepoTags"] = [*(doc[0].get("RepoTags") or []), tag]
    else:
        entry = {"digest": image_id, **(doc["manifests"][:1] or [{}])[0]}
        doc["manifests"].append(dict(entry, annotations={"io.containerd.image.name": normalize_ref(tag)}))
    files[name] = json.dumps(doc).encode()
    with tarfile.open(path, "w") as tar:
        for member in dirs:
            tar.addfile(member)
        for file_name, data in files.items():
            info = tarfile.TarInfo(file_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("where", ["manifest.json", "index.json"])
def test_restore_refuses_an_archive_that_adds_tags(
    clean_engine: Any, sweep: Engine, tmp_path: Path, where: str
) -> None:
    """A backup whose archive was edited to name one more tag is refused by the tag check, on each
    store, wherever the tag was added: the classic store's ``docker load`` takes an image's tags
    from ``manifest.json``, the containerd store's from ``index.json`` (shown on the engine first:
    the forged archive, loaded directly, does move ``postgres:16``)."""
    api = clean_engine.api
    image = small(("mine:1",), "addtag")
    (image_id,) = load(api, image)
    store = BackupStore(tmp_path / "b", 100 * MB)
    backup, _ = store.save(sweep, image_id, ["mine:1"])
    api.remove_image(image_id, force=True)
    forge_tags(backup.path, where, "postgres:16", image_id)
    set_size(backup)
    engine_reads = "index.json" if session_store() == "containerd" else "manifest.json"
    if where == engine_reads:  # the forgery is real: the engine itself would add the tag
        fixtures.load_tarball(api, backup.path.read_bytes())
        assert api.inspect_image("postgres:16")["Id"] == image_id
        api.remove_image(image_id, force=True)
    with pytest.raises(BackupError, match=r"names tags it was not saved with \(postgres:16\)"):
        store.restore(sweep, backup.name)
    assert gone(api, image_id)
    with pytest.raises(docker.errors.ImageNotFound):
        api.inspect_image("postgres:16")
