"""The containerd-store model on hand-made snapshots (pure, no engine): rules the differential
tests check on real engines, pinned here with readable cases."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from tests.storegen import container, digest, make_image
from tui.core.classic import PredictedRefusal
from tui.core.containerd import ContainerdStore, config_labels_match
from tui.core.containerd_bytes import snapshot_holders
from tui.core.filters import PruneFilters
from tui.core.model import EngineFacts, Snapshot
from tui.core.plan import plan_prune, plan_remove

FACTS = EngineFacts(version="28.5.2", image_store="containerd")


def ctrd_image(name, diffs, *, tags=(), stored_at=1.0, content=None, parent=""):
    image = make_image(name, diffs, tags=tags, parent=parent)
    blobs = (
        content
        if content is not None
        else {image.id: 500, digest("cfg:" + name): 300, **{digest("blob:" + d): s for d, s in diffs}}
    )
    return replace(
        image,
        stored_at=stored_at,
        content=MappingProxyType(blobs),
        manifests=((image.id, "linux/amd64", "image", True),),
    )


def snap(images, containers=()):
    return Snapshot(images, containers, FACTS)


BASE = [("busybox", 2_000)]
A = ctrd_image("a", BASE + [("a", 100)], tags=("app:1", "app:2"), stored_at=1)
B = ctrd_image("b", BASE + [("b", 50)], tags=("db:1",), stored_at=2)


def test_short_hex_is_a_name_and_four_digits_an_id_prefix():
    store = ContainerdStore(snap([A, B]))
    with pytest.raises(PredictedRefusal) as err:
        store.resolve(B.id[7:10])
    assert err.value.message == f"No such image: {B.id[7:10]}:latest"
    assert store.resolve(B.id[7:11]) == B.id


def test_untag_then_delete_never_reports_digest_refs():
    plan = plan_remove(snap([A, B]), ["app:1", "app:2"])
    lines = [str(r) for s in plan.steps for r in s.expect]
    assert lines == ["Untagged: app:1", "Untagged: app:2", f"Deleted: {A.id}"]
    # content: the manifest, config and the own layer blob; the shared busybox blob stays
    assert plan.content_bytes == 500 + 300 + 100
    assert plan.snapshot_bytes == 100  # the top snapshot; the base chain is B's too


def test_force_tag_on_a_used_image_only_untags_and_keeps_it_dangling():
    stopped = container("old", B)
    store = ContainerdStore(snap([A, B], [stopped]))
    with pytest.raises(PredictedRefusal) as err:
        store.delete("db:1")
    assert err.value.message.startswith("conflict: unable to delete db:1 (must be forced)")
    assert [str(r) for r in store.delete("db:1", force=True)] == ["Untagged: db:1"]
    assert store.names_for(B.id) == [f"moby-dangling@{B.id}"]


def test_force_id_on_a_stopped_containers_image_frees_content_not_snapshots():
    plan = plan_remove(snap([A, B], [container("old", B)]), [B.id], force=True)
    assert plan.delete == (B.id,) and plan.snapshot_bytes == 0 and plan.content_bytes == 850


def test_removing_a_container_frees_its_own_snapshots():
    """Its SizeRootFs less its image's snapshots is its own (init + RW; 28.5 and 26.1: SizeRootFs
    2,134,016 = 2,101,248 of the image + 28,672 init + 4,096 RW); unread sizes leave it open."""
    stopped = replace(container("old", B), size_rw=4_096, size_root_fs=2_050 + 32_768)
    plan = plan_remove(snap([A, B], [stopped]), ["db:1"], with_stopped_containers=True)
    assert plan.remove_containers == (stopped,) and plan.exact
    assert plan.snapshot_bytes == 50 + 32_768 and plan.reclaim_bytes == plan.content_bytes + 50 + 32_768
    unread = container("old", B)  # size_root_fs -1: the sizes were not read
    plan = plan_remove(snap([A, B], [unread]), ["db:1"], with_stopped_containers=True)
    assert not plan.exact and plan.snapshot_bytes == 50
    assert any("own snapshots' size was not read" in w for w in plan.warnings)


def test_an_image_loaded_after_its_layers_were_unpacked_holds_no_snapshot():
    x = ctrd_image("x", BASE + [("l", 300)], tags=("x:1",), stored_at=1)
    y = ctrd_image("y", BASE, tags=("y:1",), stored_at=2)
    assert snapshot_holders(snap([x, y])) == {x.id: True, y.id: False}
    plan = plan_remove(snap([x, y]), ["x:1"])
    assert plan.snapshot_bytes == 2_300  # y does not keep the busybox snapshot
    earlier_y = replace(y, stored_at=0.5)
    assert plan_remove(snap([x, earlier_y]), ["x:1"]).snapshot_bytes == 300


def test_label_filters_of_the_containerd_store():
    labels = {"env": "dev"}
    assert config_labels_match(PruneFilters(labels=("env",)), labels)
    assert not config_labels_match(PruneFilters(not_labels=("env",)), labels)
    assert not config_labels_match(PruneFilters(not_labels=("env=dev",)), labels)
    assert config_labels_match(PruneFilters(not_labels=("env=prod",)), labels)
    # label!=k=v: an image without k does not match (classic: it does)
    assert not config_labels_match(PruneFilters(not_labels=("keep=1",)), {})


def test_prune_dangling_lists_the_id_as_untagged():
    dangling = ctrd_image("d", BASE + [("d", 10)], stored_at=3)
    plan = plan_prune(snap([A, dangling]), PruneFilters(dangling=True), engine_semantics=True)
    assert plan.untag == (dangling.id,) and plan.delete == (dangling.id,)
    assert plan.engine_reported_bytes == plan.content_bytes == 810


def test_without_the_content_store_shared_content_is_approximate():
    no_content = replace(B, content=None, content_size=2_400)
    plan = plan_remove(snap([A, no_content]), ["db:1"])
    assert plan.content_bytes == 2_400
    assert any("not readable" in w for w in plan.warnings)


def test_layer_sizes_are_the_growth_of_the_unpacked_totals():
    """A legacy-builder RUN layer sits on its build container's ``-init`` snapshot (28 bytes
    here): the unpacked totals count it and it goes with the layer; the history does not.
    A history-less image's top layer is its total minus what is below it."""
    base = replace(ctrd_image("base", BASE, tags=("base:1",)), unpacked_size=2_000)
    step = replace(
        ctrd_image("step", BASE + [("run", 300)], tags=("child:1",), parent=base.id),
        unpacked_size=2_328,
    )
    bare = ctrd_image("bare", BASE + [("nohist", 0)], tags=("bare:1",))
    bare = replace(
        bare,
        unpacked_size=2_500,
        layers=tuple(replace(x, size=None) for x in bare.layers or ()),
    )
    s = snap([base, step, bare])
    assert s.layer_size(step.chain_ids[-1]) == 328
    assert s.layer_size(bare.chain_ids[-1]) == 500 and s.layer_size(bare.chain_ids[0]) == 2_000
    plan = plan_remove(s, ["child:1"])
    assert plan.exact and plan.snapshot_bytes == 328
