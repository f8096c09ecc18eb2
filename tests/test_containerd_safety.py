"""Local-only on the containerd store: every image has a RepoDigest there, so an image counts as
re-pullable only when the engine's pull or push events prove it; everything else is local-only,
with the reason (issue 7: the guard never fired on this store)."""

from __future__ import annotations

import json

import pytest

from tests.ctrdcase import ctrd_fixture  # noqa: F401 (fixture ctrd)
from tests.enginecase import STANDARD, seed
from tui.cli import main
from tui.core.plan import plan_remove
from tui.engine.client import Engine as SweepEngine
from tui.engine.snapshot import read_snapshot

pytestmark = pytest.mark.engine


def _by_tag(snapshot, tag):
    return next(i for i in snapshot.images.values() if tag in i.tags)


def test_loaded_images_are_local_only_until_a_push_or_pull_proves_otherwise(ctrd, registry):
    seed(ctrd.api, ctrd.url, STANDARD)
    snap = read_snapshot(SweepEngine(ctrd.url))
    assert all(image.digests for image in snap.images.values() if image.tags)
    assert all(image.local_only for image in snap.images.values())
    assert "loaded from an archive" in _by_tag(snap, "db:16").provenance
    plan = plan_remove(snap, ["db:16"])
    assert plan.local_only_deletes(snap) == [_by_tag(snap, "db:16").id]

    pushed = f"{registry.host}/safety/db"
    ctrd.api.tag("db:16", pushed, "16")
    list(ctrd.api.push(f"{pushed}:16", stream=True, decode=True))
    pulled = f"{registry.host}/safety/web"
    ctrd.api.tag("web:1.25", pulled, "1")
    list(ctrd.api.push(f"{pulled}:1", stream=True, decode=True))
    for ref in (f"{pulled}:1", "web:1.25", "web:stable", "proxy:1"):
        ctrd.api.remove_image(ref)
    list(ctrd.api.pull(pulled, tag="1", stream=True, decode=True))
    snap = read_snapshot(SweepEngine(ctrd.url))
    db = _by_tag(snap, "db:16")
    assert not db.local_only and db.provenance == f"pushed to {pushed}:16"
    web = _by_tag(snap, f"{pulled}:1")
    assert not web.local_only and web.provenance == f"pulled from {pulled}:1"
    assert _by_tag(snap, "myapp:1.5.0").local_only

    # A later tag may have re-pointed names: nothing is proven any more (a false alarm, no loss).
    ctrd.api.tag(f"{pulled}:1", "retagged", "1")
    snap = read_snapshot(SweepEngine(ctrd.url))
    assert _by_tag(snap, "retagged:1").local_only


def test_backup_before_removal_then_restore(ctrd, tmp_path, capsys):
    """The backup of a local-only image is verified against its id, which on this store is the
    manifest digest that the archive's index.json lists (it failed as 'the store changed')."""
    seed(ctrd.api, ctrd.url, STANDARD)
    db_id = _by_tag(read_snapshot(SweepEngine(ctrd.url)), "db:16").id
    config = tmp_path / "config.toml"
    config.write_text(f'[local_only]\nbackup = true\n[backup]\ndir = "{tmp_path}/bk"\n')
    code = main(["--host", ctrd.url, "--config", str(config), "rm", "db:16", "--yes"])
    out = capsys.readouterr().out
    assert code == 0 and "Backed up" in out and f"Deleted: {db_id}" in out
    assert main(["--host", ctrd.url, "--config", str(config), "backups", "--json"]) == 0
    (backup,) = json.loads(capsys.readouterr().out)
    assert backup["image_id"] == db_id and backup["tags"] == ["db:16"]
    assert main(["--host", ctrd.url, "--config", str(config), "restore", backup["name"]]) == 0
    assert "Loaded: db:16" in capsys.readouterr().out
    assert ctrd.api.inspect_image("db:16")["Id"] == db_id  # the same image back
