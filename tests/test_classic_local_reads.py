"""On the classic image store, what the reader takes from disk instead of each image's inspect and
history must be exactly what the engine's answers give.

When docker-sweep runs next to the engine, an image's diff ids, history (each step's
``created_by`` and layer size), created time, labels, config object and comment come from its
config in ``imagedb`` and its layers' records in ``layerdb`` (:class:`ClassicStore`). The tests
build a varied store on a real engine (loaded images with exact layers and empty history steps,
images without history or with fewer or wrongly flagged steps, configs without or with an empty
``config`` object, nanosecond and offset created times, re-tags, dangling images, classic builds
from scratch and on a parent, a commit with a message), then compare image by image with the
engine's inspect + history, read whole snapshots both ways, and damage a copy of the store's files:
each damaged image goes to the engine, the others do not.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.enginecase import BUSYBOX, NOW, SLEEP, STANDARD, data_layer, seed
from tui.core.layers import chain_ids
from tui.engine import snapshot
from tui.engine.classic_disk import ClassicStore
from tui.engine.client import Engine as SweepEngine
from tui.engine.snapshot import (
    LayerCache,
    _detail,
    list_images,
    parse_created_ns,
    read_facts,
    read_layers,
    read_snapshot,
)
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

pytestmark = [pytest.mark.engine, pytest.mark.classic_store]

TWO = (BUSYBOX, data_layer("cl-two", 4_000))
VARIED = (
    gen.ImageSpec(("cl-ko:1",), TWO, NOW, cmd=SLEEP, history=()),  # no history at all
    gen.ImageSpec(("cl-short:1",), TWO, NOW, cmd=SLEEP, history=(("ADD busybox", False),)),  # fewer steps
    gen.ImageSpec(  # a real layer flagged empty_layer
        ("cl-flagged:1",),
        (BUSYBOX, data_layer("cl-flag", 3_000)),
        NOW,
        cmd=SLEEP,
        history=(("ADD busybox", False), ("ENV X=1", True), ("COPY flag", True)),
    ),
    gen.ImageSpec(("cl-bare:1",), (data_layer("cl-bare", 2_000),), NOW, bare_config=True),
    gen.ImageSpec(("cl-empty:1",), (data_layer("cl-empty", 2_500),), NOW, empty_config=True),
    gen.ImageSpec(
        ("cl-nanos:1",),
        (data_layer("cl-nanos", 1_500),),
        NOW,
        created_text="2024-02-29T23:59:59.123456789Z",
        labels={"a": "1", "A": "2", "empty": "", "ünï": "cödé"},
    ),
    gen.ImageSpec(
        ("cl-offset:1",),
        (data_layer("cl-offset", 1_200),),
        NOW,
        created_text="2024-03-01T01:30:00.5+02:00",
        empty_history=((0, "LABEL x=y"), (1, "CMD run")),
    ),
    gen.ImageSpec((), (BUSYBOX, data_layer("cl-dangling", 900)), NOW - timedelta(days=3), cmd=SLEEP),
)


def _varied_store(api: Any, url: str) -> None:
    seed(api, url, STANDARD)
    fixtures.load_tarball(api, gen.build_tarball(list(VARIED)))
    fixtures.tag(api, "myapp:2.0.0", "cl-again", "1")  # a re-tag
    fixtures.tag(api, "cl-ko:1", "cl-ko", "2")
    # classic builds: intermediate images with a parent chain, a FROM scratch with no layer at all
    fixtures.build_child(api, "myapp:2.0.0", "cl-child:1", ["ENV B=2", "RUN /bin/busybox true", "LABEL c=d"])
    fixtures.build_child(api, "scratch", "cl-scratch:1", ["LABEL only=labels", 'CMD ["/x"]'])
    fixtures.build_child(api, "scratch", "cl-copy:1", ["COPY f /f"], files={"f": b"f" * 777})
    container = fixtures.create_container(api, "db:16", "cl-commit", start=False, cmd=SLEEP)
    api.commit(container, repository="cl-commit", tag="1", message="a commit message", author="me")


def _engine_detail(api: Any, image_id: str) -> dict[str, Any]:
    return _detail(api, image_id, api.inspect_image(image_id), api.history(image_id))


def _comparable(detail: dict[str, Any]) -> dict[str, Any]:
    return {**detail, "created": parse_created_ns(detail["created"])}


def _store(url: str) -> tuple[ClassicStore, dict[str, int]]:
    facts = read_facts(SweepEngine(url))
    store = ClassicStore.locate(facts)
    assert store is not None  # the tests run as root next to their private engine
    sizes = {row["Id"]: int(row["Size"]) for row in SweepEngine(url).api().images(all=True)}
    return store, sizes


def test_disk_detail_equals_inspect_and_history_image_by_image(clean_engine):
    _varied_store(clean_engine.api, clean_engine.url)
    store, sizes = _store(clean_engine.url)
    assert len(sizes) >= 20  # the build's intermediate images too
    kinds = {"no history": 0, "empty step": 0, "no layer": 0, "null config": 0, "comment": 0}
    for image_id in sizes:
        expected = _engine_detail(clean_engine.api, image_id)
        local = store.detail(sizes, image_id)
        assert local is not None, image_id
        assert _comparable(local) == _comparable(expected), image_id
        if expected["created"].endswith("Z"):
            assert local["created"] == expected["created"]  # Go's own text, to the digit
        kinds["no history"] += not expected["history"]
        kinds["empty step"] += any(size == 0 for _, size in expected["history"])
        kinds["no layer"] += not expected["diff_ids"]
        kinds["null config"] += not expected["has_config"]
        kinds["comment"] += expected["comment"] == "a commit message"
    assert all(kinds.values()), kinds  # the store holds every kind the reader must get right


def _count_engine_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The image ids whose inspect and history the snapshot reader asks the engine, from now on."""
    asked: list[str] = []
    image_details = snapshot._image_details

    def counted(api: Any, image_ids: list[str], local: Any = None) -> Any:
        asked.extend(image_ids)
        return image_details(api, image_ids, local)

    monkeypatch.setattr(snapshot, "_image_details", counted)
    return asked


def test_cold_read_asks_the_engine_for_no_image_and_gives_the_same_snapshot(
    clean_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _varied_store(clean_engine.api, clean_engine.url)
    asked = _count_engine_reads(monkeypatch)
    cache = tmp_path / "layers.jsonl"
    cold = read_snapshot(SweepEngine(clean_engine.url), cache=LayerCache(cache))
    assert asked == []  # every image read from disk
    warm = read_snapshot(SweepEngine(clean_engine.url), cache=LayerCache(cache))
    assert asked == []
    through_sdk = SweepEngine(clean_engine.url)  # the plain (one request after the other) path
    through_sdk.new_reader = through_sdk.new_client  # type: ignore[method-assign]
    plain = read_snapshot(through_sdk)
    assert asked == []

    monkeypatch.setattr(ClassicStore, "locate", classmethod(lambda cls, facts: None))
    engine_only = read_snapshot(SweepEngine(clean_engine.url))
    assert len(asked) == len(engine_only.images) >= 20
    for read in (cold, warm, plain):
        assert read.images == engine_only.images
        assert read.containers == engine_only.containers
        assert read.disk == engine_only.disk


def _damage(root: Path, store: ClassicStore, sizes: dict[str, int], api: Any) -> dict[str, str]:
    """Damage files of a copy of the store, one image per kind; returns {image id: what}."""
    by_tag = {tag: row["Id"] for row in api.images(all=True) for tag in row.get("RepoTags") or []}
    config = root / "imagedb" / "content" / "sha256"
    layers = root / "layerdb" / "sha256"

    def chains(tag: str) -> list[str]:
        return chain_ids(api.inspect_image(tag)["RootFS"]["Layers"])

    damaged = {}
    image = by_tag["cl-bare:1"]  # a config whose bytes no longer match its id
    path = config / image.removeprefix("sha256:")
    path.write_bytes(path.read_bytes().replace(b"{", b"{ ", 1))
    damaged[image] = "config edited"
    image = by_tag["cl-empty:1"]
    (config / image.removeprefix("sha256:")).unlink()
    damaged[image] = "config missing"
    image = by_tag["cl-nanos:1"]  # its one layer's size no longer what the list says
    (layers / chains("cl-nanos:1")[-1].removeprefix("sha256:") / "size").write_text("1")
    damaged[image] = "size changed"
    image = by_tag["cl-offset:1"]
    (layers / chains("cl-offset:1")[-1].removeprefix("sha256:") / "diff").write_text("sha256:" + "0" * 64)
    damaged[image] = "diff id changed"
    image = by_tag["cl-copy:1"]
    (layers / chains("cl-copy:1")[-1].removeprefix("sha256:") / "size").unlink()
    damaged[image] = "size missing"
    image = by_tag["db:16"]  # its upper layer's record gone (a layer being removed)
    shutil.rmtree(layers / chains("db:16")[-1].removeprefix("sha256:"))
    damaged[image] = "layer missing"
    image = by_tag["cl-short:1"]  # a config that Go reads differently: a key in another case
    path = config / image.removeprefix("sha256:")
    data = path.read_bytes().replace(b'"history"', b'"History"', 1)
    path.write_bytes(data)
    import hashlib

    moved = "sha256:" + hashlib.sha256(data).hexdigest()
    path.rename(config / moved.removeprefix("sha256:"))
    sizes[moved] = sizes[image]
    damaged[moved] = "key in another case"
    return damaged


def test_damaged_or_missing_files_leave_the_image_to_the_engine(
    clean_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _varied_store(clean_engine.api, clean_engine.url)
    store, sizes = _store(clean_engine.url)
    copy = tmp_path / "image"
    shutil.copytree(store.root / "imagedb", copy / "imagedb", symlinks=True)
    shutil.copytree(store.root / "layerdb", copy / "layerdb", symlinks=True, ignore=_tar_split)
    damaged = _damage(copy, ClassicStore(copy), sizes, clean_engine.api)
    fresh = ClassicStore(copy)
    for image_id in sizes:
        found = fresh.detail(sizes, image_id)
        if image_id in damaged:
            assert found is None, damaged[image_id]
        elif found is not None:
            assert _comparable(found) == _comparable(_engine_detail(clean_engine.api, image_id))
    undamaged = [i for i in sizes if i not in damaged and fresh.detail(sizes, i) is not None]
    assert len(undamaged) >= 10  # images on other layers are still read from disk
    assert store.detail(sizes, "sha256:" + "1" * 64) is None  # not listed
    assert store.detail({**sizes, "sha256:" + "1" * 64: 0}, "sha256:" + "1" * 64) is None  # no config

    asked = _count_engine_reads(monkeypatch)
    monkeypatch.setattr(ClassicStore, "locate", classmethod(lambda cls, facts: ClassicStore(copy)))
    read = read_snapshot(SweepEngine(clean_engine.url))
    listed_damage = {i for i in damaged if i in read.images}
    assert listed_damage and set(asked) >= listed_damage
    assert not set(asked) & set(undamaged)
    monkeypatch.setattr(ClassicStore, "locate", classmethod(lambda cls, facts: None))
    assert read.images == read_snapshot(SweepEngine(clean_engine.url)).images


def _tar_split(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "tar-split.json.gz"]  # not read; keeps the copy small


def test_mixed_and_cancelled_reads_keep_the_list_order(clean_engine):
    _varied_store(clean_engine.api, clean_engine.url)
    eng = SweepEngine(clean_engine.url)
    store = ClassicStore.locate(read_facts(eng))
    assert store is not None
    images = list_images(eng)
    sizes = {image.id: image.size for image in images}
    every_other = {image.id for image in images[::2]}

    def half(image_id: str) -> dict[str, Any] | None:  # the others go to the engine, in between
        return store.detail(sizes, image_id) if image_id in every_other else None

    engine_only = read_layers(eng, images, workers=2)
    assert read_layers(eng, images, workers=2, local_detail=half) == engine_only
    assert read_layers(eng, images, workers=2, local_detail=partial(store.detail, sizes)) == engine_only

    checks = []

    def cancelled() -> bool:  # the disk pass checks once, then each image before it is taken
        checks.append(1)
        return len(checks) > 3

    out = read_layers(eng, images, cancelled=cancelled, local_detail=partial(store.detail, sizes))
    assert [image.id for image in out] == [image.id for image in images]
    assert [image.layers is not None for image in out] == [True, True] + [False] * (len(images) - 2)
