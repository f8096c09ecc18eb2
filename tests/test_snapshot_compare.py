"""Snapshot.same_listing / same_store: when a re-read brings nothing a plan uses (the app then keeps
the snapshot it shows, and plans made on it)."""

from __future__ import annotations

from dataclasses import replace

from tui.core.model import Container, EngineFacts, Image, Layer, Snapshot

FACTS = EngineFacts(version="28.5.2", image_store="containerd")
LAYER = Layer("sha256:" + "c" * 64, "sha256:" + "d" * 64, 4096)
IMAGE = Image("sha256:" + "a" * 64, tags=("app:1",), created=1.0, size=4096, layers=(LAYER,))
LISTED = replace(IMAGE, layers=None)
CONTAINER = Container("f" * 64, "web", IMAGE.id, "app:1", "running", size_rw=4096, size_root_fs=36864)
LISTED_CONTAINER = replace(CONTAINER, size_rw=-1, size_root_fs=-1)


def test_the_list_stage_of_an_unchanged_store_has_the_same_listing():
    shown = Snapshot([IMAGE], [CONTAINER], FACTS)
    # the list stage has no layers and no container sizes yet (they come with the layer stage)
    assert shown.same_listing(Snapshot([LISTED], [LISTED_CONTAINER], FACTS, taken_at=9.0))
    assert not shown.same_listing(
        Snapshot([replace(LISTED, tags=("app:1", "app:2"))], [LISTED_CONTAINER], FACTS)
    )
    assert not shown.same_listing(Snapshot([LISTED], [replace(LISTED_CONTAINER, state="exited")], FACTS))
    assert not shown.same_listing(Snapshot([LISTED], [], FACTS))


def test_same_store_compares_everything_a_plan_uses():
    shown = Snapshot([IMAGE], [CONTAINER], FACTS)
    assert shown.same_store(Snapshot([IMAGE], [CONTAINER], FACTS, taken_at=5.0))
    assert not shown.same_store(Snapshot([LISTED], [CONTAINER], FACTS))  # layers not read
    assert not shown.same_store(Snapshot([IMAGE], [replace(CONTAINER, size_root_fs=49152)], FACTS))
    assert not shown.same_store(Snapshot([replace(IMAGE, labels={"a": "b"})], [CONTAINER], FACTS))
    assert not shown.same_store(Snapshot([IMAGE], [CONTAINER], replace(FACTS, version="26.1.5")))
