"""Images whose config has no history (ko, Bazel/rules_oci, crane): read, planned and pruned
without a crash, on whichever store the session engine has (issue 7: ``prune -a`` exited 70)."""

from __future__ import annotations

import time

from tests.enginecase import BUSYBOX, NOW, SLEEP, data_layer
from tests.native import engine_prune
from tui.core.filters import parse_filters
from tui.core.plan import plan_prune
from tui.engine.client import Engine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

KO = gen.ImageSpec(("ko:1",), (BUSYBOX, data_layer("ko", 5_000)), NOW, cmd=SLEEP, history=())
KO_DANGLING = gen.ImageSpec((), (BUSYBOX, data_layer("ko2", 6_000)), NOW, cmd=SLEEP, history=())


def test_history_less_images_are_read_and_pruned(clean_engine):
    fixtures.load_tarball(clean_engine.api, gen.build_tarball([KO, KO_DANGLING]))
    for ref in ("ko:1",):
        assert not clean_engine.api.history(ref)  # the engine really reports no history
    snap = read_snapshot(Engine(clean_engine.url))
    assert len(snap.images) == 2
    assert all(image.layers is not None for image in snap.images.values())
    filters = parse_filters([], all_images=True, now=time.time())
    plan = plan_prune(snap, filters, engine_semantics=True)
    response = engine_prune(Engine(clean_engine.url), filters.engine_filters())
    gone = {d["Deleted"] for d in response.get("ImagesDeleted") or [] if d.get("Deleted")}
    assert set(plan.delete) == set(snap.images)
    assert gone & set(snap.images) == set(plan.delete)
    assert clean_engine.api.images(all=True) == []
