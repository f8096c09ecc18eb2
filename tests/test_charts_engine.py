"""The charts' numbers on a real engine, on every store: the space-by-repository bar of a
repository frees what removing its images frees on the engine, the before/after bar's "after" is
what the store holds after the plan ran, and the age buckets go by the time the store's ``until``
compares (the config's Created on the classic store, the load time on the containerd store)."""

from __future__ import annotations

import time

from tests.enginecase import STANDARD, disk_drop, engine_major, layers_size, seed
from tui.core.charts import age_buckets, before_after, images_disk_use, repository, space_by_repository
from tui.core.filters import parse_filters
from tui.core.marking import plan_images
from tui.core.plan import plan_prune
from tui.engine.actions import PlanExecutor


def test_repository_bar_frees_what_the_engine_frees(engine):
    store = seed(engine.api, engine.url, STANDARD, (("db-run", "db:16", True),))
    snap = store.snapshot()
    rows = {r.repository: r for r in space_by_repository(snap)}
    assert rows["db"].reclaimable == 0  # its container runs
    mine = sorted(i.id for i in snap.top_images() if repository(i) == "myapp")
    plan = plan_images(snap, mine)
    assert rows["myapp"].reclaimable == plan.reclaim_bytes > 0
    if snap.containerd and engine_major(engine.api) >= 28:  # LayersSize: content + snapshots
        assert images_disk_use(snap) == layers_size(engine.api)
    before = layers_size(engine.api)
    result = PlanExecutor(store.engine, plan, snap).run_all()
    assert not result.errors and sorted(result.deleted) == sorted(mine)
    assert result.reclaimed_bytes == rows["myapp"].reclaimable
    assert before - layers_size(engine.api) == disk_drop(plan, engine.api)


def test_before_after_bar_is_what_the_store_holds_after_the_plan(engine):
    store = seed(engine.api, engine.url, STANDARD, (("db-run", "db:16", True),))
    snap = store.snapshot()
    plan = plan_prune(snap, parse_filters([], all_images=True, now=time.time()))
    numbers = before_after(snap, plan)
    result = PlanExecutor(store.engine, plan, snap).run_all()
    assert not result.errors and result.deleted
    after = store.snapshot()
    assert images_disk_use(after) == numbers.after < numbers.before
    if snap.containerd and engine_major(engine.api) >= 28:
        assert images_disk_use(after) == layers_size(engine.api)


def test_age_buckets_go_by_what_until_compares(engine):
    store = seed(engine.api, engine.url, STANDARD)
    snap = store.snapshot()
    buckets = age_buckets(snap, time.time())
    tops = len(snap.top_images())
    if snap.containerd:  # loaded just now: a day old at most to the store's prune, whatever Created says
        assert [b.images for b in buckets] == [tops, 0, 0, 0]
        assert [b.prune_all_frees for b in buckets] == [0, 0, 0, 0]
        assert buckets[0].bytes == images_disk_use(snap)  # no container: every byte is an image's
    else:  # Created 40, 30, 20, 10 and 2 days before the spec's fixed date: none within a day
        assert buckets[0].images == 0 and sum(b.images for b in buckets) == tops
        assert buckets[-1].prune_all_frees > 0
