"""Multi-platform images on the containerd store, loaded from an OCI image layout: platforms are
read, and removal and prune plans (lines, content and snapshot bytes) match the engine.

Both engines load an index whose other platform lacks its content (on Docker 26.1.5 too, which
DOMAIN.md said refuses it).
"""

from __future__ import annotations

import time

import pytest

from tests.ctrdcase import ctrd_fixture, disk_drop, layers_size, major  # noqa: F401 (fixture ctrd)
from tests.enginecase import BUSYBOX, NOW, SLEEP, data_layer, native_rm
from tests.native import engine_prune
from tests.wipe import wipe
from tui.core.filters import parse_filters
from tui.core.plan import plan_prune, plan_remove
from tui.engine.client import Engine as SweepEngine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import imagegen as gen

pytestmark = pytest.mark.engine

AMD = gen.ImageSpec((), (BUSYBOX, data_layer("mp-amd", 200_000)), NOW, cmd=SLEEP)
AMD2 = gen.ImageSpec((), (BUSYBOX, data_layer("mp-amd2", 120_000)), NOW, cmd=SLEEP)
ARM = gen.ImageSpec((), (data_layer("mp-arm", 150_000),), NOW, cmd=SLEEP)
ARM2 = gen.ImageSpec((), (data_layer("mp-arm2", 90_000),), NOW, cmd=SLEEP)
BOTH = gen.IndexSpec(
    ("multi:1", "multi:latest"), (gen.PlatformSpec(AMD, "amd64"), gen.PlatformSpec(ARM, "arm64"))
)
PARTIAL = gen.IndexSpec(
    ("partial:1",), (gen.PlatformSpec(AMD2, "amd64"), gen.PlatformSpec(ARM2, "arm64", present=False))
)
SINGLE = gen.ImageSpec(("single:1",), (BUSYBOX, data_layer("mp-single", 100_000)), NOW, cmd=SLEEP)


def _load(ctrd):
    wipe(ctrd.api)
    list(ctrd.api.load_image(gen.build_oci_layout([BOTH, SINGLE, PARTIAL])))
    return read_snapshot(SweepEngine(ctrd.url))


def _unsized_on_26(ctrd, plan) -> bool:
    """Docker 26 unpacks every platform of a loaded index, and its API (1.45) gives snapshot
    sizes for the host platform only: a plan deleting ``BOTH`` there frees the arm64 snapshot
    too, of a size no engine number gives, and says "at least" (one unknown layer) instead of a
    wrong exact figure."""
    if major(ctrd.api) < 28 and gen.oci_image_id(BOTH) in plan.delete:
        assert plan.unknown_layers == 1 and not plan.exact
        assert any("non-host platforms" in w for w in plan.warnings)
        return True
    assert plan.exact
    return False


def _check_drop(ctrd, plan, before: int) -> None:
    drop = before - layers_size(ctrd.api)
    if _unsized_on_26(ctrd, plan):
        assert drop > disk_drop(plan, ctrd.api)  # at least: the arm64 snapshot went too
    else:
        assert drop == disk_drop(plan, ctrd.api)


def test_platforms_are_read(ctrd):
    snap = _load(ctrd)
    both = snap.images[gen.oci_image_id(BOTH)]
    assert sorted(both.tags) == ["multi:1", "multi:latest"]
    assert sorted(both.platforms) == ["linux/amd64", "linux/arm64"]
    assert both.content is not None and len(both.content) == 8  # index, 2 manifests, 2 configs, 3 layers
    partial = snap.images[gen.oci_image_id(PARTIAL)]
    assert [(p, available) for _, p, _, available in partial.manifests] == [
        ("linux/amd64", True),
        ("linux/arm64", False),
    ]


@pytest.mark.parametrize(
    "refs",
    [
        ["multi:1"],
        ["multi:1", "multi:latest"],
        ["single:1"],
        ["partial:1"],
        ["multi:1", "multi:latest", "partial:1"],
    ],
)
def test_removing_multi_platform_images_matches_the_engine(ctrd, refs):
    snap = _load(ctrd)
    plan = plan_remove(snap, refs)
    before = layers_size(ctrd.api)
    lines, errors = native_rm(ctrd.api, refs)
    assert not errors
    expected = [str(r) for step in plan.steps for r in step.expect]
    assert sorted(lines) == sorted(expected)
    _check_drop(ctrd, plan, before)


@pytest.mark.parametrize("all_images", [False, True])
def test_pruning_multi_platform_images_matches_the_engine(ctrd, all_images):
    _load(ctrd)
    ctrd.api.remove_image("single:1")
    ctrd.api.tag(gen.oci_image_id(BOTH), "keep", "1")
    ctrd.api.remove_image("multi:1")
    ctrd.api.remove_image("multi:latest")
    snap = read_snapshot(SweepEngine(ctrd.url))
    filters = parse_filters([], all_images=all_images, now=time.time())
    plan = plan_prune(snap, filters, engine_semantics=True)
    before = layers_size(ctrd.api)
    response = engine_prune(SweepEngine(ctrd.url), filters.engine_filters())
    lines = response.get("ImagesDeleted") or []
    gone = {d["Deleted"] for d in lines if d.get("Deleted")}
    assert gone == {r.value for step in plan.steps for r in step.expect if r.kind == "Deleted"}
    assert sorted(d["Untagged"] for d in lines if d.get("Untagged")) == sorted(plan.untag)
    assert response["SpaceReclaimed"] == plan.engine_reported_bytes
    _check_drop(ctrd, plan, before)
    if all_images:
        assert ctrd.api.images(all=True) == []
