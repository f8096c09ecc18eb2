"""The chart numbers (pure core): space by repository, before/after, age buckets. Each number is
checked against the planner, which the engine tests check against real engines."""

from __future__ import annotations

import random

from tests.frozen import DAY, NOW, frozen_snapshot
from tests.storegen import container, make_image, snapshot
from tui.core.charts import (
    age_buckets,
    before_after,
    images_disk_use,
    repository,
    space_by_repository,
)
from tui.core.filters import PruneFilters, parse_until
from tui.core.marking import plan_images
from tui.core.plan import plan_prune
from tui.core.protect import Protection


def images_of_repository(snap, repo):
    """Ids of the (non-intermediate) images counted under ``repo``."""
    return sorted(i.id for i in snap.top_images() if repository(i) == repo)


def _removable(snap, repo, protection=None):
    return [
        i
        for i in images_of_repository(snap, repo)
        if not snap.containers_of(i) and not (protection and protection.reason(snap.images[i]))
    ]


def test_frozen_store_by_repository():
    snap = frozen_snapshot()
    rows = {r.repository: r for r in space_by_repository(snap)}
    assert set(rows) == {"myapp", "web/nginx", "postgres", "<none>"}
    assert rows["myapp"].images == 2 and rows["myapp"].unique == 30_000_000 + 4_000_000 + 5_500_000
    assert rows["myapp"].shared == 1_982_263  # busybox: also web, postgres and the dangling image
    assert rows["myapp"].reclaimable == 5_500_000  # 1.5.0 is kept by its stopped container
    assert rows["postgres"].reclaimable == 0  # its container runs
    order = [r.repository for r in space_by_repository(snap)]
    assert order == ["web/nginx", "<none>", "myapp", "postgres"]  # by what removal frees


def test_reclaimable_is_what_removing_the_repository_frees():
    rng = random.Random(7)
    for _ in range(40):
        bases = [(f"b{i}", rng.randrange(1, 10**6)) for i in range(3)]
        images = []
        for n in range(rng.randrange(2, 9)):
            layers = bases[: rng.randrange(0, 4)] + [(f"own{n}", rng.randrange(1, 10**6))]
            repo = rng.choice(["a", "b", "c/d"])
            tags = [f"{repo}:{n}"] if rng.random() < 0.8 else []
            images.append(make_image(f"i{n}", layers, tags=tags))
        containers = [
            container(f"c{k}", rng.choice(images), rng.choice(["exited", "running"]))
            for k in range(rng.randrange(0, 3))
        ]
        snap = snapshot(images, containers)
        protection = Protection(images=("b:*",)) if rng.random() < 0.3 else None
        for row in space_by_repository(snap, protection):
            removable = _removable(snap, row.repository, protection)
            plan = plan_images(snap, removable, protection=protection)
            assert row.reclaimable == plan.reclaim_bytes, row
            chains = {c for i in images_of_repository(snap, row.repository) for c in snap.images[i].chain_ids}
            assert row.total == snap.bytes_of(chains)


def test_repository_names():
    assert repository(make_image("x", [("l", 1)], tags=["localhost:5000/app:1"])) == "localhost:5000/app"
    assert repository(make_image("y", [("l", 1)], digests=["reg/app@sha256:" + "a" * 64])) == "reg/app"
    assert repository(make_image("z", [("l", 1)])) == "<none>"


def test_before_after_is_the_plan():
    snap = frozen_snapshot()
    plan = plan_prune(snap, PruneFilters(dangling=False))
    numbers = before_after(snap, plan)
    assert numbers.before == images_disk_use(snap) == snap.bytes_of(snap.live_chains())
    assert numbers.freed == plan.reclaim_bytes and numbers.after == numbers.before - plan.reclaim_bytes


def test_age_buckets():
    snap = frozen_snapshot()  # ages: 3, 10, 20, 60, 90 days
    buckets = age_buckets(snap, NOW)
    assert [b.images for b in buckets] == [0, 1, 2, 2]
    assert [b.prune_until for b in buckets] == ["", "24h", "168h", "720h"]
    for bucket in buckets[1:]:
        filters = PruneFilters(dangling=False, until=parse_until(bucket.prune_until, NOW))
        assert bucket.prune_all_frees == plan_prune(snap, filters).reclaim_bytes
    assert buckets[3].prune_all_frees == 7_000_000  # the dangling image; 1.5.0 has a container
    assert (
        buckets[0].bytes == 0
        and buckets[1].bytes
        == snap.images[next(i.id for i in snap.images.values() if i.created == NOW - 3 * DAY)].size
    )
