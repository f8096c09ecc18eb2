"""Legacy-builder images on the containerd store: step images are parents (a label), removing
the child prunes them, and a dangling prune takes them even while the child exists."""

from __future__ import annotations

import io
import tarfile
import time

import pytest

from tests.ctrdcase import ctrd_fixture, disk_drop, layers_size  # noqa: F401 (fixture ctrd)
from tests.enginecase import BUSYBOX, NOW, SLEEP
from tests.native import engine_prune
from tests.wipe import wipe
from tui.core.containerd import ContainerdStore
from tui.core.filters import parse_filters
from tui.core.plan import plan_prune, plan_remove
from tui.engine.actions import PlanExecutor
from tui.engine.client import Engine as SweepEngine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

pytestmark = pytest.mark.engine
DOCKERFILE = "FROM base:1\nCOPY a /a\nCOPY b /b\nLABEL x=1\n"


def _context() -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", DOCKERFILE.encode()), ("a", b"a" * 100_000), ("b", b"b" * 50_000)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _build(ctrd):
    wipe(ctrd.api)
    fixtures.load_tarball(
        ctrd.api, gen.build_tarball([gen.ImageSpec(("base:1",), (BUSYBOX,), NOW, cmd=SLEEP)])
    )
    list(ctrd.api.build(fileobj=_context(), custom_context=True, tag="legacy:1", rm=True, decode=True))
    snap = read_snapshot(SweepEngine(ctrd.url))
    assert len(snap.images) == 4  # base, two step images, legacy:1
    return snap


def test_removing_the_child_prunes_its_step_images(ctrd):
    snap = _build(ctrd)
    predicted = [str(r) for r in ContainerdStore(snap).delete("legacy:1", explicit_parents=False)]
    lines = [
        f"{k}: {v}" for item in ctrd.api.remove_image("legacy:1", noprune=False) for k, v in item.items()
    ]
    assert sorted(lines) == sorted(predicted)
    assert sum(line.startswith("Deleted") for line in lines) == 3


def test_the_executor_deletes_the_step_images_as_planned(ctrd):
    snap = _build(ctrd)
    plan = plan_remove(snap, ["legacy:1"])
    assert len(plan.delete) == 3 and len(plan.steps) == 3  # the child, then each parent by ID
    before = layers_size(ctrd.api)
    result = PlanExecutor(SweepEngine(ctrd.url), plan, snap).run_all()
    assert not result.errors and not result.unexpected
    assert sorted(result.deleted) == sorted(plan.delete)
    assert [row["RepoTags"] for row in ctrd.api.images(all=True)] == [["base:1"]]
    assert before - layers_size(ctrd.api) == disk_drop(plan, ctrd.api)


def test_a_dangling_prune_takes_the_step_images(ctrd):
    snap = _build(ctrd)
    filters = parse_filters([], now=time.time())
    plan = plan_prune(snap, filters, engine_semantics=True)
    before = layers_size(ctrd.api)
    response = engine_prune(SweepEngine(ctrd.url), filters.engine_filters())
    gone = {d["Deleted"] for d in response.get("ImagesDeleted") or [] if d.get("Deleted")}
    assert gone == {r.value for s in plan.steps for r in s.expect if r.kind == "Deleted"}
    assert len(gone & set(snap.images)) == 2
    assert response["SpaceReclaimed"] == plan.engine_reported_bytes
    assert before - layers_size(ctrd.api) == disk_drop(plan, ctrd.api)
