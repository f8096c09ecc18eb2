"""On the containerd image store, what the reader takes from disk instead of the engine's image
inspect (~20 ms of engine time per image) must be exactly what inspect says.

When docker-sweep runs next to the engine, an image's layers, created time, config object and
comment come from its blobs (``ContentStore.local_inspect``) and its ``LastTagTime`` from
containerd's metadata database (``containerd_meta``). Each test reads the same store with those
paths and with them turned off (every image inspected), on a real engine, and compares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ctrdcase import ctrd_fixture  # noqa: F401 (fixture ctrd)
from tests.enginecase import BUSYBOX, NOW, SLEEP, STANDARD, data_layer, seed
from tests.wipe import wipe
from tui.engine import containerd_store
from tui.engine.client import Engine as SweepEngine
from tui.engine.snapshot import LayerCache, read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

pytestmark = pytest.mark.engine

AMD = gen.ImageSpec((), (BUSYBOX, data_layer("lr-amd", 20_000)), NOW, cmd=SLEEP)
ARM = gen.ImageSpec((), (data_layer("lr-arm", 15_000),), NOW, cmd=SLEEP)
BOTH = gen.IndexSpec(("lr-multi:1",), (gen.PlatformSpec(AMD, "amd64"), gen.PlatformSpec(ARM, "arm64")))
FOREIGN = gen.IndexSpec(("lr-foreign:1",), (gen.PlatformSpec(ARM, "arm64"),))
SINGLE = gen.ImageSpec(("lr-single:1",), (BUSYBOX, data_layer("lr-single", 10_000)), NOW, cmd=SLEEP)
BARE = gen.ImageSpec(("lr-bare:1",), (data_layer("lr-bare", 5_000),), NOW, bare_config=True)


def _store(ctrd: Any) -> None:
    wipe(ctrd.api)
    seed(ctrd.api, ctrd.url, STANDARD)
    list(ctrd.api.load_image(gen.build_oci_layout([BOTH, FOREIGN, SINGLE])))
    fixtures.load_tarball(ctrd.api, gen.build_tarball([BARE]))
    fixtures.tag(ctrd.api, "lr-single:1", "lr-again", "2")  # a second name, tagged later
    fixtures.tag(ctrd.api, "lr-single:1", "lr-again", "2")  # the same name again


def _api_version(ctrd: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in str(ctrd.api.version()["ApiVersion"]).split("."))


def test_disk_reads_give_what_inspect_gives(ctrd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _store(ctrd)
    used = {"local": 0, "times": 0}
    local_inspect = containerd_store.ContentStore.local_inspect
    tag_times = containerd_store._tag_times

    def counted_local(self: Any, rows: Any, image_id: str) -> Any:
        found = local_inspect(self, rows, image_id)
        used["local"] += found is not None
        return found

    def counted_times(store: Any, images: Any, current: Any = None) -> Any:
        found = tag_times(store, images, current)
        used["times"] += len(found or {})
        return found

    monkeypatch.setattr(containerd_store.ContentStore, "local_inspect", counted_local)
    monkeypatch.setattr(containerd_store, "_tag_times", counted_times)
    cache = tmp_path / "layers.jsonl"
    cold = read_snapshot(SweepEngine(ctrd.url), cache=LayerCache(cache))
    warm = read_snapshot(SweepEngine(ctrd.url), cache=LayerCache(cache))

    monkeypatch.setattr(containerd_store.ContentStore, "local_inspect", lambda self, rows, image_id: None)
    monkeypatch.setattr(containerd_store, "_tag_times", lambda store, images, current=None: None)
    inspected = read_snapshot(SweepEngine(ctrd.url))

    assert len(inspected.images) >= 8
    assert cold.images == inspected.images
    assert warm.images == inspected.images
    assert cold.containers == inspected.containers
    built = [i for i in inspected.images.values() if "lr-single:1" in i.tags]
    assert built and set(built[0].tags) >= {"lr-single:1", "lr-again:2"}
    if _api_version(ctrd) >= (1, 47):  # the list gives each image's manifests: disk reads are used
        single_platform = [i for i in inspected.images.values() if not any("lr-" in t for t in i.tags)]
        assert used["local"] >= len(single_platform)  # the cold read's inspects came from disk
        assert used["times"] >= len(inspected.images)  # tag times from the database
    else:  # 26.1: no manifests in the list, every image is inspected
        assert used["local"] == 0


def test_local_inspect_matches_the_engine_image_by_image(ctrd):
    _store(ctrd)
    engine = SweepEngine(ctrd.url)
    snap = read_snapshot(engine)
    store = containerd_store.ContentStore.locate(snap.facts, next(iter(snap.images)))
    assert store is not None  # the test runs as root next to the engine
    rows = containerd_store.list_manifests(engine)
    times = containerd_store._tag_times(store, list(snap.images.values())) or {}
    compared = 0
    for image_id in snap.images:
        inspect = ctrd.api.inspect_image(image_id)
        assert times.get(image_id, containerd_store._stored_ns(inspect)) == containerd_store._stored_ns(
            inspect
        )
        local = store.local_inspect(rows, image_id)
        if local is None:
            continue
        compared += 1
        assert local["RootFS"]["Layers"] == inspect["RootFS"]["Layers"]
        assert local["Comment"] == (inspect.get("Comment") or "")
        assert (local["Config"] is None) == (not inspect.get("Config") or not any(inspect["Config"].values()))
        from tui.engine.snapshot import parse_created_ns

        assert parse_created_ns(local["Created"]) == parse_created_ns(inspect["Created"])
    if _api_version(ctrd) >= (1, 47):
        assert compared >= 6
        assert len(times) == len(snap.images)
        foreign = [i for i in snap.images.values() if "lr-foreign:1" in i.tags]
        assert foreign and store.local_inspect(rows, foreign[0].id) is None  # another platform


def test_early_reads_serve_only_while_the_database_made_no_commit(ctrd, monkeypatch: pytest.MonkeyPatch):
    """The registry events, the database's records and the content walks are read while the engine
    lists the images; they serve only if no commit was made to the database since. A name untagged
    and tagged again on the same image after them (the same names, a newer LastTagTime) must show."""
    _store(ctrd)
    engine = SweepEngine(ctrd.url)
    snap = read_snapshot(engine)
    store = containerd_store.ContentStore.locate(snap.facts, next(iter(snap.images)))
    assert store is not None  # the test runs as root next to the engine
    for _ in range(5):  # current while nothing was committed since (containerd's own work may commit)
        early = containerd_store.early_reads(engine, snap.facts)
        if early.current(store) is early:
            break
    else:
        pytest.fail("every early read was followed by a commit to the database")
    assert early.meta_root == store.root.parent
    for image_id in snap.images:
        walked = early.walks[image_id]
        assert walked is not None and dict(walked) == store.walk(image_id)
    again = next(i for i in snap.images.values() if "lr-again:2" in i.tags)
    before = again.stored_ns

    ctrd.api.remove_image("lr-again:2")  # untagged and tagged again: the same names, a newer LastTagTime
    fixtures.tag(ctrd.api, "lr-single:1", "lr-again", "2")
    assert early.current(store) is None
    monkeypatch.setattr(containerd_store, "early_reads", lambda engine, facts: early)  # the stale reads
    stale = read_snapshot(engine)
    expected = containerd_store._stored_ns(ctrd.api.inspect_image(again.id))
    if _api_version(ctrd) >= (1, 47):  # the tag times come from the database there
        assert expected > before
    assert stale.images[again.id].stored_ns == expected
    monkeypatch.undo()
    assert read_snapshot(engine).images == stale.images
